// Shared helpers for the set-up scripts. Plain Node (no dependencies): these scripts run
// before `npm install` has happened.
import { spawnSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const VENV = path.join(ROOT, ".venv");
export const PYTHON = path.join(VENV, "bin", "python");
export const BIN = (name) => path.join(ROOT, "node_modules", ".bin", name);

export function log(msg) {
  console.log(`\x1b[36m[tuneboard]\x1b[0m ${msg}`);
}

/** Run a command (argument array, never a shell string); throw if it fails. */
export function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit", ...opts, env: { ...process.env, ...opts.env } });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${res.status ?? res.signal}`);
}

export function runStatus(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit", ...opts, env: { ...process.env, ...opts.env } });
  return res.status ?? 1;
}

/** sha256 over files and directories (recursively, sorted), for "has this changed" stamps. */
export function hashPaths(paths, skip = () => false) {
  const h = createHash("sha256");
  const visit = (p) => {
    if (!fs.existsSync(p) || skip(p)) return;
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) visit(path.join(p, e));
    } else {
      h.update(path.relative(ROOT, p));
      h.update(fs.readFileSync(p));
    }
  };
  for (const p of paths) visit(path.join(ROOT, p));
  return h.digest("hex");
}

export function readStamp(file) {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : null;
}

export function writeStamp(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, value + "\n");
}

export function spawnChild(cmd, args, opts = {}) {
  return spawn(cmd, args, { cwd: ROOT, stdio: "inherit", ...opts, env: { ...process.env, ...opts.env } });
}

/** True when `child` is `parent` or below it (absolute paths; whole segments compared). */
export function isInside(parent, child) {
  const rel = path.relative(parent, child);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Debian's chromium for the browser tests (installed when missing, as root). */
export function ensureChromium() {
  const chromium = process.env.TUNEBOARD_CHROMIUM ?? "/usr/bin/chromium";
  if (fs.existsSync(chromium)) return;
  log("installing Debian's chromium for the browser tests…");
  if (process.getuid?.() !== 0) throw new Error(`${chromium} is missing: install it with 'sudo apt-get install -y chromium'`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", "chromium"], { env: { DEBIAN_FRONTEND: "noninteractive" } });
}
