// Test helper: a real database, migrated with the project's own migrateDeploy (the committed
// migrations), and a Prisma client on it. SQLite: a file in a fresh temp folder. PostgreSQL: a
// fresh database on the test server (lib/test-support/pg-test.ts).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { migrateDeploy } from "@/prisma/migrate";
import type { DatabaseProvider } from "@/prisma/database-url";
import { createDb, type Db } from "@/lib/db";

export interface TempDb {
  dir: string;
  url: string;
  client: Db;
  cleanup: () => Promise<void>;
}

export async function tempDb(prefix = "tuneboard-queue-", provider: DatabaseProvider = "sqlite"): Promise<TempDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  let url = `file:${path.join(dir, "test.db")}`;
  let drop = async () => {};
  let client: Db;
  try {
    // Loaded only for PostgreSQL: SQLite tests start no process at all.
    if (provider === "postgresql") ({ url, drop } = await (await import("./pg-test")).createTestDatabase());
    await migrateDeploy(url);
    client = createDb(url);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    await drop().catch(() => {});
    throw e;
  }
  return {
    dir,
    url,
    client,
    cleanup: async () => {
      await client.$disconnect();
      await drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
