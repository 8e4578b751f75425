// Validated environment, read once per process. Every setting has a safe default so
// `npm start` works on a fresh clone; anything invalid stops start-up with a clear message.
import path from "node:path";
import net from "node:net";
import { z } from "zod";
import { isLoopbackAddress, isLoopbackHostName } from "./security/loopback";
import { TOKEN_ADVICE, tokenWeakness } from "./security/token-strength";
import { DEFAULT_LEASE_MS } from "./queue/types";

/** "localhost" or a loopback address literal (a text test; server.ts also resolves HOST at start-up). */
export function isLoopback(host: string): boolean {
  return isLoopbackHostName(host);
}

const publicOrigin = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.origin === s.replace(/\/$/, "");
  } catch {
    return false;
  }
}, "each entry must be an origin such as https://tuneboard.example.com (scheme, host, optional port; no path)");

// Every deploy variable any TypeScript process reads, each with the one-line description the
// README's configuration table is generated from (npm run gen:env-docs).
const optionalText = z.string().trim().min(1).optional();
const positiveMs = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Live events a worker keeps for the server while it is unreachable. */
export const DEFAULT_MAX_BUFFERED_EVENTS = 1000;

export const envSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development").describe("Node's mode; `npm start` runs production"),
    HOST: z.string().min(1).default("127.0.0.1").describe("address to listen on; anything that does not resolve to loopback only requires `TUNEBOARD_TOKEN`"),
    PORT: z.coerce.number().int().min(1).max(65535).default(3000).describe("port for the web app and socket.io"),
    TUNEBOARD_ROOT: z.string().optional().describe("repository root that relative paths resolve against (default: the working directory)"),
    DATABASE_URL: z
      .string()
      .default("file:./data/tuneboard.db")
      .describe("SQLite file (relative to the repository) or `postgresql://…` for several machines"),
    TUNEBOARD_DATA_DIR: z.string().default("data").describe("your datasets and `dataset_info.json`, seeded from `data/templates/`"),
    TUNEBOARD_MODEL_ROOTS: z.string().default("data/models").describe("where model directories may live (`:`-separated list)"),
    TUNEBOARD_RUNS_DIR: z.string().default("data/runs").describe("run outputs (adapters, logs)"),
    TUNEBOARD_TOKEN: z
      .string()
      .min(16, "TUNEBOARD_TOKEN must be at least 16 characters")
      .optional()
      .describe("access token (16+ characters, about 80 bits: see `docs/security.md`); when set, every page, API route and socket needs a login at `/login`"),
    TUNEBOARD_PUBLIC_ORIGIN: z
      .string()
      .default("")
      .transform((s) => s.split(",").map((o) => o.trim().replace(/\/$/, "")).filter(Boolean))
      .pipe(z.array(publicOrigin))
      .describe("comma-separated origins the browser reaches the server at through a proxy (Host/Origin allow-list, `Secure` cookie)"),
    TUNEBOARD_MAX_QUEUED_JOBS: z.coerce.number().int().min(1).default(100).describe("queued jobs at most; a new job beyond it is refused until some start"),
    TUNEBOARD_WORKER_TOKEN: z.string().min(16).optional().describe("token workers present to the server (default: generated into `data/.secrets/worker-token`)"),
    TUNEBOARD_SERVER_URL: z.string().url().optional().describe("where a worker finds the server (default: `http://127.0.0.1:$PORT`)"),
    TUNEBOARD_PYTHON: z.string().optional().describe("Python that runs the trainer (default: `.venv/bin/python`)"),
    TUNEBOARD_EXPORTS_DIR: z
      .string()
      .trim()
      .min(1, "TUNEBOARD_EXPORTS_DIR must not be empty")
      .default("data/exports")
      .describe("where Export writes merged model folders"),
    TUNEBOARD_PG_POOL_MAX: z.coerce.number().int().positive().default(5).describe("PostgreSQL connections per process"),
    TUNEBOARD_MIGRATE_DEBUG: z.enum(["0", "1"]).default("0").describe("`1`: print the schema engine's log while migrating"),
    OMP_NUM_THREADS: optionalText.describe("CPU threads per trainer process (default: 1 on hosts with 2 cores or fewer, else torch's choice)"),
    TUNEBOARD_GPUS: optionalText.describe(
      "GPUs a worker advertises and claims jobs by: `none`, `0,1`, or a fixed JSON list (default: all that `nvidia-smi` lists)",
    ),
    TUNEBOARD_REMOTE: z.enum(["0", "1"]).default("0").describe("`1`: a worker without the server's disk (datasets over HTTP, adapters uploaded)"),
    TUNEBOARD_DIST_STRATEGY: z
      .enum(["auto", "ddp", "fsdp"])
      .default("auto")
      .describe("multi-GPU jobs: `ddp`, `fsdp`, or `auto` (FSDP2 when the weights need more than half of one GPU)"),
    TUNEBOARD_CHAT_DECODE: z
      .enum(["compile", "graph", "eager"])
      .default("compile")
      .describe("chat decoding on CUDA: `compile` (fastest after a one-time compile), `graph` (CUDA graph of eager kernels) or `eager`"),
    TUNEBOARD_CHAT_MAX_SEQ: z.coerce.number().int().min(256).max(1_048_576).default(4096).describe("chat: tokens of KV cache (prompt and answer together)"),
    TUNEBOARD_WORKER_ID: optionalText.describe("a stable worker name for the Workers page (default: `host-pid-random`)"),
    TUNEBOARD_LEASE_MS: positiveMs(DEFAULT_LEASE_MS).describe("a worker silent this long loses its job to another worker (which resumes it)"),
    TUNEBOARD_POLL_MS: positiveMs(1000).describe("how often an idle worker on SQLite looks for queued jobs"),
    TUNEBOARD_PG_IDLE_MS: positiveMs(5000).describe("PostgreSQL: idle workers wake on NOTIFY; this is how often they look for expired leases"),
    TUNEBOARD_MAX_BUFFERED_EVENTS: z.coerce
      .number()
      .int()
      .positive()
      .default(DEFAULT_MAX_BUFFERED_EVENTS)
      .describe("live events a worker keeps while the server is unreachable (oldest dropped first)"),
  })
  .superRefine((env, ctx) => {
    // Secure by default: beyond loopback, nobody gets in without the access token. An address literal
    // is decided here; a name is resolved at start-up (server.ts), where "127.x.example" is caught.
    const bareHost = env.HOST.replace(/^\[(.*)\]$/, "$1");
    if (net.isIP(bareHost) && !isLoopbackAddress(bareHost) && !env.TUNEBOARD_TOKEN) {
      ctx.addIssue({
        code: "custom",
        path: ["TUNEBOARD_TOKEN"],
        message: `HOST=${env.HOST} is not a loopback address: set TUNEBOARD_TOKEN (16+ characters) to allow remote access`,
      });
    }
    const weakness = env.TUNEBOARD_TOKEN && env.TUNEBOARD_TOKEN.length >= 16 ? tokenWeakness(env.TUNEBOARD_TOKEN) : null;
    if (weakness) {
      ctx.addIssue({ code: "custom", path: ["TUNEBOARD_TOKEN"], message: `TUNEBOARD_TOKEN ${weakness}; ${TOKEN_ADVICE}` });
    }
  });

export type Env = z.infer<typeof envSchema> & {
  root: string;
  dataDir: string;
  modelRoots: string[];
  runsDir: string;
  exportsDir: string;
  python: string;
  serverUrl: string;
};

let cached: Env | undefined;

export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".") || "env"}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const root = path.resolve(/*turbopackIgnore: true*/ e.TUNEBOARD_ROOT ?? process.cwd());
  const abs = (p: string) => path.resolve(/*turbopackIgnore: true*/ root, p);
  const connectHost = isLoopback(e.HOST) || e.HOST === "0.0.0.0" || e.HOST === "::" ? "127.0.0.1" : e.HOST;
  return {
    ...e,
    root,
    dataDir: abs(e.TUNEBOARD_DATA_DIR),
    modelRoots: e.TUNEBOARD_MODEL_ROOTS.split(path.delimiter).filter(Boolean).map(abs),
    runsDir: abs(e.TUNEBOARD_RUNS_DIR),
    exportsDir: abs(e.TUNEBOARD_EXPORTS_DIR),
    python: e.TUNEBOARD_PYTHON ? abs(e.TUNEBOARD_PYTHON) : abs(".venv/bin/python"),
    serverUrl: e.TUNEBOARD_SERVER_URL ?? `http://${connectHost}:${e.PORT}`,
  };
}

/** The process-wide environment, validated on first use. */
export function env(): Env {
  cached ??= loadEnv();
  return cached;
}
