// Starts the real server (server.ts, built Next app) as a child process and resolves once it
// listens. Shared by the integration tests that need a server and by scripts/bench-fanout.ts.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface StartedServer {
  child: ChildProcess;
  output: () => string;
}

/** The server serves the production build: without one it cannot start, so say what to run. */
export function requireBuild(): void {
  if (!fs.existsSync(path.join(ROOT, ".next", "BUILD_ID"))) {
    throw new Error("this test starts the real server, which needs the production build: run `npx next build` first (`npm test` does)");
  }
}

export function startServer(env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<StartedServer> {
  requireBuild();
  const child = spawn(path.join(ROOT, "node_modules", ".bin", "tsx"), ["server.ts"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes("Tuneboard ready")) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${code}:\n${out}`));
    });
  });
}
