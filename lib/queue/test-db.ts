// Test helper: a real SQLite file in a fresh temp folder, migrated with the project's own
// migrateDeploy (the committed migrations), and a Prisma client on it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { migrateDeploy } from "../../prisma/migrate";
import { createDb, type Db } from "../db";

export interface TempDb {
  dir: string;
  url: string;
  client: Db;
  cleanup: () => Promise<void>;
}

export async function tempDb(prefix = "tuneboard-queue-"): Promise<TempDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const url = `file:${path.join(dir, "test.db")}`;
  let client: Db;
  try {
    await migrateDeploy(url);
    client = createDb(url);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    url,
    client,
    cleanup: async () => {
      await client.$disconnect();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
