// Child process for sqlite-busy.test.ts (a real, separate process on the same SQLite file):
//   tsx lib/test-support/progress-loop.fixture.ts <database url> <worker id> <job id> <count>
// Connects, prints "ready", waits for a line on stdin (so that all children write at once),
// then records <count> metrics for its job with recordProgress, one after another as the
// worker does, and prints how many were recorded and how long the slowest write took.
import { once } from "node:events";
import { createInterface } from "node:readline";
import { createDb } from "@/lib/db";
import { recordProgress } from "@/lib/queue/progress";

const [url, workerId, jobIdText, countText] = process.argv.slice(2);
const jobId = Number(jobIdText);
const count = Number(countText);
const client = createDb(url);
await client.$queryRawUnsafe("SELECT 1"); // connect before the race starts
const go = once(createInterface({ input: process.stdin }), "line");
console.log("ready");
await go;

let recorded = 0;
let refused = 0;
let slowestMs = 0;
for (let step = 1; step <= count; step++) {
  const t0 = performance.now();
  const ok = await recordProgress(jobId, workerId, {
    metric: { step, epoch: step / count, loss: 1 / step, lr: 1e-4, gradNorm: 0.5, tokens: step * 100, tokensPerSec: 1000, elapsedS: step },
    totalSteps: count,
    logTail: `step ${step}\n`,
  }, client);
  slowestMs = Math.max(slowestMs, performance.now() - t0);
  if (ok) recorded++;
  else refused++;
}
await client.$disconnect();
console.log(JSON.stringify({ workerId, jobId, recorded, refused, slowestMs: Math.round(slowestMs) }));
