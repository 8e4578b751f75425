/**
 * Tuneboard's migration command, offline: Prisma's own schema engine (the WASM build,
 * @prisma/schema-engine-wasm) driven through the app's driver adapter, so no
 * schema-engine binary has to be downloaded. Same migrations folder, same
 * `_prisma_migrations` table and checksums as the official CLI (see prisma/README.md).
 *
 *   tsx prisma/migrate.ts deploy                 apply pending committed migrations (npm run migrate)
 *   tsx prisma/migrate.ts dev --name add_x       diff schema.prisma against the migrations, write and apply a new one
 *                            [--create-only]     write it without applying
 *   tsx prisma/migrate.ts status                 show applied / pending migrations (exit 1 if not up to date)
 *
 *   tsx prisma/migrate.ts pg-schema              rewrite prisma/schema.postgresql.prisma from schema.prisma
 *
 * DATABASE_URL picks the database (default file:./data/tuneboard.db, relative to the repo root).
 * The provider picks the schema and the migration history (one history per provider, since a
 * migration_lock.toml and the SQL are per provider):
 *   SQLite      prisma/schema.prisma             prisma/migrations/
 *   PostgreSQL  prisma/schema.postgresql.prisma  prisma/migrations-postgresql/
 * schema.prisma is the one to edit; the PostgreSQL schema is derived from it (provider and
 * client output differ, nothing else; `pg-schema` writes it, a test checks it is in sync).
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import * as glue from "@prisma/schema-engine-wasm/schema_engine_bg";
import type {
  MigrationList,
  SchemaEngine,
  SchemaFilter,
} from "@prisma/schema-engine-wasm/schema_engine_bg";
import { env } from "../lib/env";
import { createAdapterFactory, databaseUrl, providerOf, repoRoot, sqliteFilePath, type DatabaseProvider } from "./adapter";

const LOCKFILE = "migration_lock.toml";
const NO_FILTER: SchemaFilter = { externalTables: [], externalEnums: [] };

export interface MigrateOptions {
  /** Folder of migrations (default prisma/migrations under the repo root). */
  migrationsDir?: string;
  /** Prisma schema file (default prisma/schema.prisma under the repo root). */
  schemaPath?: string;
  /** Progress lines (default: none; the CLI prints them). */
  log?: (line: string) => void;
}

/** Schema and migrations folder of a provider (see the header). */
export function providerPaths(provider: DatabaseProvider) {
  const root = repoRoot();
  return provider === "postgresql"
    ? {
        migrationsDir: path.join(root, "prisma", "migrations-postgresql"),
        schemaPath: path.join(root, "prisma", "schema.postgresql.prisma"),
      }
    : { migrationsDir: path.join(root, "prisma", "migrations"), schemaPath: path.join(root, "prisma", "schema.prisma") };
}

function paths(opts: MigrateOptions = {}, url: string = databaseUrl()) {
  const p = providerPaths(providerOf(url));
  return { migrationsDir: opts.migrationsDir ?? p.migrationsDir, schemaPath: opts.schemaPath ?? p.schemaPath };
}

/**
 * The PostgreSQL schema text derived from the SQLite one: same models, provider "postgresql",
 * client generated into lib/generated/prisma-pg. Everything else is kept byte for byte.
 */
export function postgresSchemaText(sqliteSchema: string): string {
  const out = sqliteSchema
    .replace(/(datasource\s+db\s*\{[^}]*provider\s*=\s*)"sqlite"/, '$1"postgresql"')
    .replace(/(output\s*=\s*)"\.\.\/lib\/generated\/prisma"/, '$1"../lib/generated/prisma-pg"');
  if (out === sqliteSchema) throw new Error("schema.prisma: no sqlite datasource/output to rewrite");
  return (
    "// GENERATED from prisma/schema.prisma by `npx tsx prisma/migrate.ts pg-schema`: edit schema.prisma, not this file.\n" +
    out
  );
}

/** Write prisma/schema.postgresql.prisma; returns true when it changed. */
export function writePostgresSchema(): boolean {
  const { schemaPath } = providerPaths("postgresql");
  const text = postgresSchemaText(fs.readFileSync(providerPaths("sqlite").schemaPath, "utf8"));
  if (fs.existsSync(schemaPath) && fs.readFileSync(schemaPath, "utf8") === text) return false;
  fs.writeFileSync(schemaPath, text);
  return true;
}

// ---------------------------------------------------------------- PostgreSQL through the WASM engine

/** System catalog types adapter-pg refuses to deserialize; pg already returns them as strings. */
const PG_SYSTEM_TYPE_OIDS = new Set([18, 19, 22, 24, 28, 29, 30, 194, 2205, 2206]);
const PG_TEXT_OID = 25;

/**
 * The engine reads PostgreSQL's catalogs, whose columns have types ("char", name, oidvector, …)
 * adapter-pg does not map ("Column type 'char' could not be deserialized"): report them as text.
 */
function pgForEngine(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const a = adapter as SqlDriverAdapter & {
    performIO?: (q: unknown) => Promise<{ fields: { dataTypeID: number }[] }>;
    client?: { query: (sql: string) => Promise<unknown> };
    onError?: (e: unknown) => never;
  };
  const performIO = a.performIO?.bind(adapter);
  if (performIO) {
    a.performIO = async (q) => {
      const r = await performIO(q);
      for (const f of r.fields) if (PG_SYSTEM_TYPE_OIDS.has(f.dataTypeID)) f.dataTypeID = PG_TEXT_OID;
      return r;
    };
  }
  // adapter-pg's executeScript splits the script on every ";" (comments and $$ function bodies
  // included); PostgreSQL's simple query protocol takes the whole script as it is.
  const client = a.client;
  if (client && typeof client.query === "function") {
    a.executeScript = async (script: string) => {
      try {
        await client.query(script);
      } catch (e) {
        if (a.onError) a.onError(e);
        throw e;
      }
    };
  }
  return adapter;
}

/**
 * A throwaway shadow database for `migrate dev` on PostgreSQL: PrismaPg's own
 * connectToShadowDb reuses the main database when given a URL (pg lets the URL's database
 * win), so create `prisma_migrate_shadow_db_<uuid>` here and drop it (WITH (FORCE)) afterwards.
 * The role needs CREATEDB.
 */
function pgShadowFactory(url: string, main: SqlMigrationAwareDriverAdapterFactory): () => Promise<SqlDriverAdapter> {
  return async () => {
    const name = `prisma_migrate_shadow_db_${randomUUID().replace(/-/g, "")}`;
    const admin = await main.connect();
    await admin.executeScript(`CREATE DATABASE "${name}"`);
    const u = new URL(url);
    u.pathname = `/${name}`;
    const shadow = await createAdapterFactory(u.toString()).connect();
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await dispose().catch(() => {});
      await admin.executeScript(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
      await admin.dispose().catch(() => {});
    };
    return shadow;
  };
}

// ---------------------------------------------------------------- the WASM engine

let wasmReady = false;

/** Instantiate the wasm-bindgen "bundler" build by hand (Node cannot import .wasm). Once per process. */
function initWasm(): void {
  if (wasmReady) return;
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve("@prisma/schema-engine-wasm/schema_engine_bg"));
  const bytes = fs.readFileSync(path.join(pkgDir, "schema_engine_bg.wasm"));
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    "./schema_engine_bg.js": glue as unknown as WebAssembly.ModuleImports,
  });
  const exports = instance.exports as WebAssembly.Exports & { __wbindgen_start: () => void };
  glue.__wbg_set_wasm(exports);
  exports.__wbindgen_start();
  wasmReady = true;
}

/**
 * The engine replays migrations into the shadow database with `executeRaw(whole script)`,
 * which better-sqlite3 refuses ("The supplied SQL string contains more than one statement").
 * Retry such a parameterless call as a script. (pg accepts multi-statement text as is.)
 */
function runScriptsAsScripts(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const executeRaw = adapter.executeRaw.bind(adapter);
  adapter.executeRaw = async (query) => {
    try {
      return await executeRaw(query);
    } catch (e) {
      if (query.args.length > 0 || !/more than one statement/i.test((e as Error)?.message ?? "")) throw e;
      await adapter.executeScript(query.sql);
      return 0;
    }
  };
  return adapter;
}

/**
 * The adapter factory as the engine gets it. Remembers every connection it hands out:
 * `engine.free()` does not close them, and an open SQLite connection left behind would
 * keep locks (and the file) busy for the rest of the process.
 */
function forSchemaEngine(factory: SqlMigrationAwareDriverAdapterFactory, url: string) {
  const opened: SqlDriverAdapter[] = [];
  const pg = providerOf(url) === "postgresql";
  const track = (a: SqlDriverAdapter) => (opened.push(a), runScriptsAsScripts(pg ? pgForEngine(a) : a));
  const shadow = pg ? pgShadowFactory(url, factory) : () => factory.connectToShadowDb();
  const wrapped: SqlMigrationAwareDriverAdapterFactory = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => track(await factory.connect()),
    connectToShadowDb: async () => track(await shadow()),
  };
  const disposeAll = async () => {
    for (const a of opened.splice(0)) await a.dispose().catch(() => {});
  };
  return { wrapped, disposeAll };
}

/** Run `fn` with a schema engine connected to `url` through the driver adapter; always freed. */
async function withEngine<T>(url: string, opts: MigrateOptions, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  initWasm();
  const { schemaPath } = paths(opts, url);
  const schema = fs.readFileSync(schemaPath, "utf8");
  const { wrapped, disposeAll } = forSchemaEngine(createAdapterFactory(url), url);
  const adapterFactory = bindMigrationAwareSqlAdapterFactory(wrapped);
  const engineLog = (line: string) => {
    if (env().TUNEBOARD_MIGRATE_DEBUG === "1") console.error("[schema-engine]", line);
  };
  const engine = await glue.SchemaEngine.new(
    { datamodels: [[schemaPath, schema]] },
    engineLog,
    adapterFactory,
  );
  try {
    return await fn(engine);
  } finally {
    engine.free();
    await disposeAll();
  }
}

/** The migrations folder in the shape the engine takes (what the official CLI builds). */
function readMigrations(migrationsDir: string): MigrationList {
  const lockPath = path.join(migrationsDir, LOCKFILE);
  const list: MigrationList = {
    baseDir: migrationsDir,
    lockfile: { path: LOCKFILE, content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, "utf8") : null },
    migrationDirectories: [],
    shadowDbInitScript: "",
  };
  if (!fs.existsSync(migrationsDir)) return list;
  list.migrationDirectories = fs
    .readdirSync(migrationsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort((a, b) => a.localeCompare(b))
    .map((name) => {
      const file = path.join(migrationsDir, name, "migration.sql");
      let content: { tag: "ok"; value: string } | { tag: "error"; value: string };
      try {
        content = { tag: "ok", value: fs.readFileSync(file, "utf8") };
      } catch (e) {
        content = { tag: "error", value: (e as Error).message };
      }
      return { path: name, migrationFile: { path: "migration.sql", content } };
    });
  return list;
}

/** Engine errors arrive as objects or JSON strings; make them readable. */
function engineError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === "string") return new Error(e);
  const o = e as { message?: string; error_code?: string; errorCode?: string } | null;
  const code = o?.error_code ?? o?.errorCode;
  return new Error(`${code ? code + ": " : ""}${o?.message ?? JSON.stringify(e)}`);
}

async function call<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw engineError(e);
  }
}

// ---------------------------------------------------------------- operations

/**
 * Apply the pending committed migrations (= `prisma migrate deploy`). Creates the SQLite
 * file and its folder if missing. Idempotent: returns the names applied now (none when
 * the database is up to date).
 */
export async function migrateDeploy(url: string = databaseUrl(), opts: MigrateOptions = {}): Promise<string[]> {
  const { migrationsDir } = paths(opts, url);
  return withEngine(url, opts, async (engine) => {
    const out = await call(
      engine.applyMigrations({ migrationsList: readMigrations(migrationsDir), filters: NO_FILTER }),
    );
    return out.appliedMigrationNames;
  });
}

export interface MigrateStatus {
  migrations: string[];
  pending: string[];
  /** In the database but not in the folder. */
  unknown: string[];
  failed: string[];
  edited: string[];
  upToDate: boolean;
}

/** Compare the migrations folder with `_prisma_migrations` (= `prisma migrate status`). */
export async function migrateStatus(url: string = databaseUrl(), opts: MigrateOptions = {}): Promise<MigrateStatus> {
  const { migrationsDir } = paths(opts, url);
  const migrationsList = readMigrations(migrationsDir);
  const migrations = migrationsList.migrationDirectories.map((d) => d.path);
  const nothingApplied = (): MigrateStatus => ({
    migrations,
    pending: migrations,
    unknown: [],
    failed: [],
    edited: [],
    upToDate: migrations.length === 0,
  });
  // Do not create a missing SQLite file just to look at it.
  if (providerOf(url) === "sqlite" && !fs.existsSync(sqliteFilePath(url))) return nothingApplied();
  return withEngine(url, opts, async (engine) => {
    let d;
    try {
      d = await call(
        engine.diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: NO_FILTER }),
      );
    } catch (e) {
      // The WASM engine fails (instead of answering hasMigrationsTable: false) on a database never migrated.
      if (/_prisma_migrations.*does not exist/.test((e as Error).message)) return nothingApplied();
      throw e;
    }
    let pending: string[] = [];
    let unknown: string[] = [];
    if (!d.hasMigrationsTable) pending = migrations;
    else if (d.history?.diagnostic === "databaseIsBehind") pending = d.history.unappliedMigrationNames;
    else if (d.history?.diagnostic === "migrationsDirectoryIsBehind") unknown = d.history.unpersistedMigrationNames;
    else if (d.history?.diagnostic === "historiesDiverge") {
      pending = d.history.unappliedMigrationNames;
      unknown = d.history.unpersistedMigrationNames;
    }
    const failed = d.failedMigrationNames;
    const edited = d.editedMigrationNames;
    return {
      migrations,
      pending,
      unknown,
      failed,
      edited,
      upToDate: pending.length + unknown.length + failed.length + edited.length === 0,
    };
  });
}

/**
 * Developers only (= `prisma migrate dev --name x`): bring the database up to date,
 * diff schema.prisma against the migration history, write
 * prisma/migrations/<timestamp>_<name>/migration.sql (+ migration_lock.toml) and apply it
 * unless `createOnly`. Returns the new folder's name, or null when there is no change.
 */
export async function migrateDev(
  name: string,
  url: string = databaseUrl(),
  opts: MigrateOptions & { createOnly?: boolean } = {},
): Promise<string | null> {
  const { migrationsDir, schemaPath } = paths(opts, url);
  const log = opts.log ?? (() => {});
  return withEngine(url, opts, async (engine) => {
    // Pitfall: devDiagnostic fails with P1014 on a fresh database; applying first creates _prisma_migrations.
    const applied = await call(
      engine.applyMigrations({ migrationsList: readMigrations(migrationsDir), filters: NO_FILTER }),
    );
    for (const m of applied.appliedMigrationNames) log(`Applied ${m}`);

    // Also builds the shadow schema that createMigration relies on (SQLite: an in-memory database).
    const diag = await call(engine.devDiagnostic({ migrationsList: readMigrations(migrationsDir), filters: NO_FILTER }));
    if (diag.action.tag === "reset") {
      throw new Error(
        `The database does not match the migration history and would need a reset: ${diag.action.reason}\n` +
          `For a development SQLite file, delete it and run again.`,
      );
    }

    const migrationsList = readMigrations(migrationsDir);
    const out = await call(
      engine.createMigration({
        draft: false,
        migrationName: name,
        migrationsList,
        schema: { files: [{ path: schemaPath, content: fs.readFileSync(schemaPath, "utf8") }] },
        filters: NO_FILTER,
      }),
    );
    if (out.migrationScript === null) return null;

    const dir = path.join(migrationsDir, out.generatedMigrationName);
    if (fs.existsSync(dir)) throw new Error(`The migration directory already exists at ${dir}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `migration.${out.extension}`), out.migrationScript, "utf8");
    // Same text as the official CLI writes.
    fs.writeFileSync(
      path.join(migrationsDir, LOCKFILE),
      `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${out.connectorType}"\n`,
      "utf8",
    );
    log(`Created ${path.relative(process.cwd(), dir)}/migration.${out.extension}`);

    if (!opts.createOnly) {
      const again = await call(
        engine.applyMigrations({ migrationsList: readMigrations(migrationsDir), filters: NO_FILTER }),
      );
      for (const m of again.appliedMigrationNames) log(`Applied ${m}`);
    }
    return out.generatedMigrationName;
  });
}

// ---------------------------------------------------------------- command line

function describe(url: string): string {
  return url.replace(/\/\/([^:/@]+):([^@]+)@/, "//$1:***@"); // hide a password
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const url = databaseUrl();
  const flag = (n: string) => rest.includes(n);
  const value = (n: string) => {
    const i = rest.indexOf(n);
    if (i >= 0) return rest[i + 1];
    const eq = rest.find((a) => a.startsWith(n + "="));
    return eq?.slice(n.length + 1);
  };
  const log = (line: string) => console.log(line);

  switch (command) {
    case "deploy": {
      console.log(`Database: ${describe(url)}`);
      const applied = await migrateDeploy(url);
      if (applied.length === 0) console.log("No pending migrations to apply.");
      else {
        for (const m of applied) console.log(`Applied migration ${m}`);
        console.log(`${applied.length} migration(s) applied.`);
      }
      return 0;
    }
    case "dev": {
      const name = value("--name") ?? "migration";
      if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`--name must be letters, digits, _ or - (got "${name}")`);
      console.log(`Database: ${describe(url)}`);
      const created = await migrateDev(name, url, { createOnly: flag("--create-only"), log });
      if (created === null) console.log("Already in sync: the schema has no change that needs a new migration.");
      return 0;
    }
    case "status": {
      console.log(`Database: ${describe(url)}`);
      const s = await migrateStatus(url);
      console.log(`${s.migrations.length} migration(s) found in prisma/migrations`);
      for (const m of s.pending) console.log(`  pending: ${m}`);
      for (const m of s.unknown) console.log(`  in the database but not in prisma/migrations: ${m}`);
      for (const m of s.failed) console.log(`  failed: ${m}`);
      for (const m of s.edited) console.log(`  edited after it was applied: ${m}`);
      console.log(s.upToDate ? "Database schema is up to date!" : "Database schema is NOT up to date.");
      return s.upToDate ? 0 : 1;
    }
    case "pg-schema": {
      console.log(writePostgresSchema() ? "Wrote prisma/schema.postgresql.prisma" : "prisma/schema.postgresql.prisma is up to date");
      return 0;
    }
    default:
      console.error("Usage: tsx prisma/migrate.ts deploy | dev --name <name> [--create-only] | status | pg-schema");
      return 2;
  }
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`Migration failed: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
