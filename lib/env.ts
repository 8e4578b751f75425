// Validated environment, read once per process. Every setting has a safe default so
// `npm start` works on a fresh clone; anything invalid stops start-up with a clear message.
import path from "node:path";
import net from "node:net";
import { z } from "zod";
import { isLoopbackAddress, isLoopbackHostName } from "./security/loopback";
import { TOKEN_ADVICE, tokenWeakness } from "./security/token-strength";

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

const envSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    HOST: z.string().min(1).default("127.0.0.1"),
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    TUNEBOARD_ROOT: z.string().optional(),
    DATABASE_URL: z.string().default("file:./data/tuneboard.db"),
    TUNEBOARD_DATA_DIR: z.string().default("data"),
    TUNEBOARD_MODEL_ROOTS: z.string().default("data/models"),
    TUNEBOARD_RUNS_DIR: z.string().default("data/runs"),
    TUNEBOARD_TOKEN: z.string().min(16, "TUNEBOARD_TOKEN must be at least 16 characters").optional(),
    /** comma-separated origins the browser reaches the server at through a proxy (Host/Origin allow-list, Secure cookie) */
    TUNEBOARD_PUBLIC_ORIGIN: z
      .string()
      .default("")
      .transform((s) => s.split(",").map((o) => o.trim().replace(/\/$/, "")).filter(Boolean))
      .pipe(z.array(publicOrigin)),
    /** queued jobs at most; a new run beyond it is refused until some start */
    TUNEBOARD_MAX_QUEUED_JOBS: z.coerce.number().int().min(1).default(100),
    TUNEBOARD_WORKER_TOKEN: z.string().min(16).optional(),
    TUNEBOARD_SERVER_URL: z.string().url().optional(),
    TUNEBOARD_PYTHON: z.string().optional(),
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
    python: e.TUNEBOARD_PYTHON ? abs(e.TUNEBOARD_PYTHON) : abs(".venv/bin/python"),
    serverUrl: e.TUNEBOARD_SERVER_URL ?? `http://${connectHost}:${e.PORT}`,
  };
}

/** The process-wide environment, validated on first use. */
export function env(): Env {
  cached ??= loadEnv();
  return cached;
}
