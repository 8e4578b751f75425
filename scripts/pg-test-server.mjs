// A throwaway PostgreSQL server for tests and CI: Debian's package (apt-get install postgresql),
// a fresh cluster in a temp folder, listening on 127.0.0.1 only, trust auth for local
// connections, stopped and deleted afterwards. Nothing of the system's own cluster is touched.
//
//   node scripts/pg-test-server.mjs start      prints `postgresql://postgres@127.0.0.1:<port>/postgres`
//                                              and the folder (stop it with `stop <folder>`)
//   node scripts/pg-test-server.mjs install    apt-get install -y postgresql when missing (root only)
//   node scripts/pg-test-server.mjs bin        prints PostgreSQL's bin folder (exit 1 when not installed)
//
// Used by .ci/run (which exports TUNEBOARD_TEST_PG_URL for the test run) and, when that variable
// is unset, by the PostgreSQL tests themselves, through lib/test-support/pg-test.ts, which runs this CLI.
// PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user the
// package creates, and every command runs through `runuser -u postgres --` (argument arrays).
import { spawnSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** bin folder of the newest installed PostgreSQL (Debian layout), or null. */
export function findPgBin() {
  if (process.env.TUNEBOARD_PG_BIN) return process.env.TUNEBOARD_PG_BIN;
  const base = "/usr/lib/postgresql";
  if (!fs.existsSync(base)) return null;
  const versions = fs
    .readdirSync(base)
    .filter((v) => fs.existsSync(path.join(base, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(base, versions[0], "bin") : null;
}

export function installPostgres() {
  if (findPgBin()) return;
  if (process.getuid?.() !== 0) throw new Error("PostgreSQL is missing: install it with 'sudo apt-get install -y postgresql'");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", "postgresql"]]) {
    const r = spawnSync("apt-get", args, { stdio: "inherit", env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed`);
  }
}

const asRoot = () => process.getuid?.() === 0;

/** Run a PostgreSQL binary as the cluster's owner. */
function pgCommand(bin, args) {
  return asRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Listening is not ready: during start-up PostgreSQL accepts TCP connections and answers "the
// database system is starting up". pg_isready exits 0 only once it accepts sessions.
async function waitReady(port, timeoutMs) {
  const t0 = Date.now();
  const isready = path.join(findPgBin(), "pg_isready");
  for (;;) {
    const r = spawnSync(isready, ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-q"], { stdio: "ignore" });
    if (r.status === 0) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`PostgreSQL did not accept sessions on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/**
 * Start a fresh cluster. Returns { url, dir, stop() }. The server runs detached (its own
 * process); `stop()` (or `stopPostgres(dir)`) shuts it down fast and deletes the folder.
 */
export async function startPostgres() {
  const bin = findPgBin();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install -y postgresql)");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-pg-"));
  const data = path.join(dir, "data");
  if (asRoot()) spawnSync("chown", ["postgres:postgres", dir]);
  const run = (exe, args) => {
    const [cmd, argv] = pgCommand(path.join(bin, exe), args);
    const r = spawnSync(cmd, argv, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${exe} failed: ${r.stderr || r.stdout}`);
  };
  run("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  const [cmd, argv] = pgCommand(path.join(bin, "postgres"), [
    "-D", data, "-h", "127.0.0.1", "-p", String(port), "-k", dir,
    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
  ]);
  const log = fs.openSync(path.join(dir, "server.log"), "a");
  const child = spawn(cmd, argv, { stdio: ["ignore", log, log], detached: true });
  child.unref();
  fs.writeFileSync(path.join(dir, "port"), String(port));
  await waitReady(port, 30_000);
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  return { url, dir, port, stop: () => stopPostgres(dir) };
}

/** Stop the cluster in `dir` (fast shutdown) and delete the folder. */
export function stopPostgres(dir) {
  const bin = findPgBin();
  const data = path.join(dir, "data");
  if (bin && fs.existsSync(path.join(data, "postmaster.pid"))) {
    const [cmd, argv] = pgCommand(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
    spawnSync(cmd, argv, { stdio: "ignore" });
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const [command, arg] = process.argv.slice(2);
  if (command === "install") installPostgres();
  else if (command === "bin") {
    const bin = findPgBin();
    if (bin) console.log(bin);
    process.exit(bin ? 0 : 1);
  }
  else if (command === "start") {
    const pg = await startPostgres();
    console.log(`${pg.url} ${pg.dir}`);
  } else if (command === "stop" && arg) stopPostgres(arg);
  else {
    console.error("usage: node scripts/pg-test-server.mjs install | bin | start | stop <folder>");
    process.exit(2);
  }
}
