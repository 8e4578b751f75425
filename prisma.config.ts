// Prisma CLI configuration (Prisma 7: the database URL lives here, not in schema.prisma).
// `prisma generate` needs no database. `prisma migrate …` of the official CLI needs the
// schema-engine binary, which cannot be downloaded everywhere: the project's own
// `npm run migrate` (prisma/migrate.ts) does the same job offline. See prisma/README.md.
import fs from "node:fs";
import path from "node:path";
import { defineConfig } from "prisma/config";
import { absoluteUrl, databaseUrl, providerOf, repoRoot } from "./prisma/database-url";

// Without a schema-engine binary the CLI tries to download one, even for `prisma generate`,
// which never runs it. Where none is installed, point it at a stub that explains what to use.
// (The CLI looks for `schema-engine-<platform>` in node_modules/@prisma/engines, then node_modules/prisma.)
const hasEngine = ["@prisma/engines", "prisma"].some((pkg) => {
  const dir = path.join(repoRoot(), "node_modules", pkg);
  return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.startsWith("schema-engine-"));
});
if (!process.env.PRISMA_SCHEMA_ENGINE_BINARY && !hasEngine) {
  process.env.PRISMA_SCHEMA_ENGINE_BINARY = path.join(repoRoot(), "prisma", "schema-engine-stub.sh");
}

const url = absoluteUrl(databaseUrl());
// One schema + migration history per provider (prisma/README.md, "PostgreSQL"): the URL picks.
const pg = providerOf(url) === "postgresql";

export default defineConfig({
  schema: pg ? "prisma/schema.postgresql.prisma" : "prisma/schema.prisma",
  migrations: { path: pg ? "prisma/migrations-postgresql" : "prisma/migrations" },
  // Relative SQLite paths are resolved against the repository root, as the app does.
  datasource: { url },
});
