// Child process for concurrency.test.ts (a real, separate process on the same SQLite file):
//   tsx lib/test-support/claim-loop.fixture.ts <database url> <worker id>
// Connects, prints "ready", waits for a line on stdin (so that all children start together),
// then claims (and finishes) jobs until the queue is empty and prints the claimed ids as JSON.
import { once } from "node:events";
import { createInterface } from "node:readline";
import { createDb } from "@/lib/db";
import { claimJob } from "@/lib/queue/claim";
import { finishJob } from "@/lib/queue/finish";

const [url, workerId] = process.argv.slice(2);
const client = createDb(url);
await client.$queryRawUnsafe("SELECT 1"); // connect before the race starts
const go = once(createInterface({ input: process.stdin }), "line");
console.log("ready");
await go;

const claimed: number[] = [];
for (;;) {
  const job = await claimJob(workerId, { leaseMs: 10 * 60_000 }, client);
  if (!job) break;
  claimed.push(job.id);
  if (!(await finishJob(job.id, workerId, { status: "succeeded" }, client))) throw new Error(`lost job ${job.id}`);
}
await client.$disconnect();
console.log(JSON.stringify({ workerId, claimed }));
