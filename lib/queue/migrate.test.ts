// The project's offline migration command (prisma/migrate.ts) on real SQLite files.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { migrateDeploy, migrateDev, migrateStatus } from "../../prisma/migrate";
import { repoRoot } from "../../prisma/database-url";

const root = repoRoot();
const committedDir = path.join(root, "prisma", "migrations");
const committed = fs
  .readdirSync(committedDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-migrate-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("prisma/migrate.ts", () => {
  it("deploy creates folder and file, applies the committed migrations once, CLI-compatible history", async () => {
    const file = path.join(tmp(), "nested", "deeper", "t.db");
    const url = `file:${file}`;
    expect(committed.length).toBeGreaterThan(0);
    expect((await migrateStatus(url)).pending).toEqual(committed);

    expect(await migrateDeploy(url)).toEqual(committed);
    expect(fs.existsSync(file)).toBe(true);
    expect(await migrateDeploy(url)).toEqual([]); // idempotent
    expect(await migrateStatus(url)).toMatchObject({ upToDate: true, pending: [], failed: [], edited: [] });

    const db = new Database(file);
    try {
      // the engine's connections are closed: switching the journal mode needs the file to itself
      expect(db.pragma("journal_mode = DELETE", { simple: true })).toBe("delete");
      const rows = db.prepare("SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name").all() as {
        migration_name: string;
        checksum: string;
        finished_at: string | null;
      }[];
      expect(rows.map((r) => r.migration_name)).toEqual(committed);
      for (const r of rows) {
        const sql = fs.readFileSync(path.join(committedDir, r.migration_name, "migration.sql"));
        expect(r.checksum).toBe(crypto.createHash("sha256").update(sql).digest("hex"));
        expect(r.finished_at).not.toBeNull();
      }
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      expect(tables).toEqual(expect.arrayContaining(["Job", "Metric", "Worker", "_prisma_migrations"]));
    } finally {
      db.close();
    }
  });

  it("deploy leaves new databases in WAL mode", async () => {
    const file = path.join(tmp(), "w.db");
    await migrateDeploy(`file:${file}`);
    const db = new Database(file);
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
  });

  it("the committed migrations match schema.prisma (dev finds nothing to add)", async () => {
    const work = tmp();
    const migrationsDir = path.join(work, "migrations");
    fs.cpSync(committedDir, migrationsDir, { recursive: true });
    expect(await migrateDev("drift", `file:${path.join(work, "d.db")}`, { migrationsDir })).toBeNull();
    expect(fs.readdirSync(migrationsDir).sort()).toEqual([...committed, "migration_lock.toml"].sort());
  });

  it("dev writes a new migration from a schema change, applies it, and deploy replays it on a fresh database", async () => {
    const work = tmp();
    const migrationsDir = path.join(work, "migrations");
    fs.cpSync(committedDir, migrationsDir, { recursive: true });
    const schemaPath = path.join(work, "schema.prisma");
    const schema = fs.readFileSync(path.join(root, "prisma", "schema.prisma"), "utf8");
    fs.writeFileSync(schemaPath, schema.replace(/(\n\s*finalLoss\s+Float\?)/, "$1\n  priority Int @default(0)"));

    const devUrl = `file:${path.join(work, "dev.db")}`;
    const name = await migrateDev("add_priority", devUrl, { migrationsDir, schemaPath });
    expect(name).toMatch(/^\d{14}_add_priority$/);
    const sql = fs.readFileSync(path.join(migrationsDir, name!, "migration.sql"), "utf8");
    expect(sql).toMatch(/priority/);
    expect(fs.readFileSync(path.join(migrationsDir, "migration_lock.toml"), "utf8")).toMatch(/provider = "sqlite"/);
    expect(await migrateStatus(devUrl, { migrationsDir, schemaPath })).toMatchObject({ upToDate: true });
    expect(await migrateDev("again", devUrl, { migrationsDir, schemaPath })).toBeNull();

    const freshFile = path.join(work, "fresh.db");
    expect(await migrateDeploy(`file:${freshFile}`, { migrationsDir, schemaPath })).toEqual([...committed, name]);
    const db = new Database(freshFile);
    try {
      const cols = (db.prepare(`PRAGMA table_info("Job")`).all() as { name: string }[]).map((c) => c.name);
      expect(cols).toContain("priority");
    } finally {
      db.close();
    }
  });

  it("status reports an edited migration", async () => {
    const work = tmp();
    const migrationsDir = path.join(work, "migrations");
    fs.cpSync(committedDir, migrationsDir, { recursive: true });
    const url = `file:${path.join(work, "e.db")}`;
    await migrateDeploy(url, { migrationsDir });
    fs.appendFileSync(path.join(migrationsDir, committed[0], "migration.sql"), "\n-- edited\n");
    const s = await migrateStatus(url, { migrationsDir });
    expect(s.upToDate).toBe(false);
    expect(s.edited).toEqual([committed[0]]);
  });
});
