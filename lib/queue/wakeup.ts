// How an idle worker waits for work. SQLite: it sleeps for the poll interval. PostgreSQL: it
// LISTENs on the channel `tuneboard_jobs`, which a trigger on "Job" notifies whenever a job
// becomes queued (prisma/migrations-postgresql/*_init), so a new job is picked up at once and
// idle workers do not hammer the database; it still wakes after `idleMs` on its own, because an
// expired lease (a dead worker's job) is announced by nobody.
import pg from "pg";
import { providerOf } from "../../prisma/database-url";

export const JOB_CHANNEL = "tuneboard_jobs";

export interface Wakeup {
  /** Resolves "notified" when a job was queued since the last wait (or during it), else "timeout" after ms. */
  wait(ms: number): Promise<"notified" | "timeout">;
  close(): Promise<void>;
  /** true while a LISTEN connection is up (PostgreSQL). */
  readonly listening: boolean;
}

const sleep = (ms: number) => new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms));

export function createWakeup(url: string, log: (msg: string) => void = () => {}): Wakeup {
  if (providerOf(url) !== "postgresql") return { wait: sleep, close: async () => {}, listening: false };

  let client: pg.Client | null = null;
  let connecting: Promise<void> | null = null;
  let closed = false;
  let pending = false; // a notification arrived while nobody waited
  let wake: (() => void) | null = null;

  const connect = () => {
    if (client || connecting || closed) return;
    const c = new pg.Client({ connectionString: url });
    connecting = c
      .connect()
      .then(() => c.query(`LISTEN ${JOB_CHANNEL}`))
      .then(() => {
        client = c;
        c.on("notification", () => {
          pending = true;
          wake?.();
        });
        c.on("error", (err) => {
          log(`LISTEN connection lost (${err.message}); polling until it is back`);
          client = null;
          c.end().catch(() => {});
        });
        // Anything queued while we were not listening is found by the next claim anyway.
        pending = true;
        wake?.();
      })
      .catch((err: Error) => {
        log(`cannot LISTEN on ${JOB_CHANNEL} (${err.message}); polling`);
        c.end().catch(() => {});
      })
      .finally(() => (connecting = null));
  };
  connect();

  return {
    get listening() {
      return client !== null;
    },
    async wait(ms) {
      connect(); // reconnect after a lost connection
      if (pending) {
        pending = false;
        return "notified";
      }
      const result = await new Promise<"notified" | "timeout">((resolve) => {
        const timer = setTimeout(() => {
          wake = null;
          resolve("timeout");
        }, ms);
        wake = () => {
          clearTimeout(timer);
          wake = null;
          resolve("notified");
        };
      });
      pending = false;
      return result;
    },
    async close() {
      closed = true;
      wake?.();
      await connecting;
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
