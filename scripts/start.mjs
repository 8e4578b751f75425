// `npm start`: set up whatever is missing, then run the web server and one worker until Ctrl-C.
import { setup } from "./setup.mjs";
import { BIN, log, spawnChild } from "./lib.mjs";

try {
  setup();
} catch (err) {
  console.error(`\n[tuneboard] set-up failed: ${err.message}`);
  process.exit(1);
}

const env = { NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" };
const server = spawnChild(BIN("tsx"), ["server.ts"], { env });
const worker = spawnChild(BIN("tsx"), ["worker/main.ts"], { env });
const children = [server, worker];

let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 5000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.on("exit", r))))).then(() => process.exit(code));
}
for (const [name, child] of [["server", server], ["worker", worker]]) {
  child.on("exit", (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${code ?? signal}); stopping`);
      stop(code ?? 1);
    }
  });
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
