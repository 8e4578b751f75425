// Test support: a PostgreSQL server for the tests that run the queue on PostgreSQL.
// TUNEBOARD_TEST_PG_URL (set by .ci/run, which starts one) wins; otherwise a throwaway cluster is
// started once per test file by the CLI scripts/pg-test-server.mjs (Debian's postgresql package;
// run as a process, so lib/ imports nothing from scripts/) and stopped by `stopTestPostgres()`.
// Without PostgreSQL installed the PostgreSQL tests are skipped, unless TUNEBOARD_REQUIRE_PG=1
// (CI), where a missing server is a failure.
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const PG_SERVER_CLI = fileURLToPath(new URL("../../scripts/pg-test-server.mjs", import.meta.url));

function pgServer(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [PG_SERVER_CLI, ...args], { encoding: "utf8", cwd: path.dirname(PG_SERVER_CLI) });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

let started: { url: string; dir: string } | null = null;

const pgInstalled = (): boolean => pgServer(["bin"]).status === 0;

export const postgresAvailable: boolean =
  Boolean(process.env.TUNEBOARD_TEST_PG_URL) || process.env.TUNEBOARD_REQUIRE_PG === "1" || pgInstalled();

/** URL of the server's maintenance database (postgres). */
export async function testPostgresUrl(): Promise<string> {
  if (process.env.TUNEBOARD_TEST_PG_URL) return process.env.TUNEBOARD_TEST_PG_URL;
  if (!started) {
    const r = pgServer(["start"]);
    if (r.status !== 0) throw new Error(`could not start a test PostgreSQL server: ${r.stderr || r.stdout}`);
    const [url, dir] = r.stdout.trim().split("\n").pop()!.split(" ");
    started = { url, dir };
  }
  return started.url;
}

export function stopTestPostgres(): void {
  if (started) execFileSync(process.execPath, [PG_SERVER_CLI, "stop", started.dir], { stdio: "ignore" });
  started = null;
}

/** A fresh, empty database on the test server; `drop()` removes it (FORCE: open connections too). */
export async function createTestDatabase(prefix = "tuneboard_test"): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = await testPostgresUrl();
  const name = `${prefix}_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const exec = async (sql: string) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await exec(`CREATE DATABASE "${name}"`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}
