// Workers authenticate to the server with their own token. `npm start` writes one to
// data/.secrets/worker-token (git-ignored) when TUNEBOARD_WORKER_TOKEN is not set, and the
// server and the local worker both read it from there.
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Env } from "./env";

export function workerTokenFile(config: Env): string {
  return path.join(config.dataDir, ".secrets", "worker-token");
}

export function readWorkerToken(config: Env, create = true): string {
  if (config.TUNEBOARD_WORKER_TOKEN) return config.TUNEBOARD_WORKER_TOKEN;
  const file = workerTokenFile(config);
  if (fs.existsSync(file)) return fs.readFileSync(file, "utf8").trim();
  if (!create) throw new Error(`no worker token: set TUNEBOARD_WORKER_TOKEN or create ${file}`);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString("hex");
  // "wx": if two processes race, one wins and the other reads the winner's token.
  try {
    fs.writeFileSync(file, token, { mode: 0o600, flag: "wx" });
  } catch {
    return fs.readFileSync(file, "utf8").trim();
  }
  return token;
}
