// Paths named by the browser must stay inside their roots: each attempt below is listed with
// the place it targets, and every one must be refused. The same roots, a real temp folder with
// real symlinks; no mocks of the file system.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelPathError, resolveModelPath } from "@/lib/models";
import { DatasetError } from "@/lib/datasets/errors";
import { resolveInside } from "@/lib/datasets/roots";
import { loadDataset, registerDataset } from "@/lib/datasets/registry";
import type { Env } from "@/lib/env";
import type { ChatState } from "@/lib/schemas/socket";
import { ChatBridge } from "./chat-bridge";

let base: string; // temp folder: <base>/models, <base>/data, <base>/runs, <base>/outside
let modelsRoot: string;
let dataDir: string;
let runsDir: string;
let outside: string;

beforeAll(() => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-paths-")));
  modelsRoot = path.join(base, "models");
  dataDir = path.join(base, "data");
  runsDir = path.join(base, "runs");
  outside = path.join(base, "outside");
  for (const d of [modelsRoot, dataDir, runsDir, outside, path.join(base, "models-evil")]) fs.mkdirSync(d);
  // A legitimate model and adapter, so refusals are not just "does not exist".
  fs.mkdirSync(path.join(modelsRoot, "good"));
  fs.writeFileSync(path.join(modelsRoot, "good", "config.json"), "{}");
  fs.mkdirSync(path.join(runsDir, "run-1"));
  fs.writeFileSync(path.join(runsDir, "run-1", "adapter_config.json"), "{}");
  // Things a crafted path could try to reach.
  fs.writeFileSync(path.join(outside, "secret.json"), '[{"instruction":"secret","output":"secret"}]');
  fs.writeFileSync(path.join(outside, "adapter_config.json"), "{}");
  fs.writeFileSync(path.join(outside, "config.json"), "{}");
  // Symlinks inside each root pointing outside it.
  fs.symlinkSync(outside, path.join(modelsRoot, "escape"));
  fs.symlinkSync("/etc", path.join(modelsRoot, "etc-link"));
  fs.symlinkSync(outside, path.join(runsDir, "run-escape"));
  fs.symlinkSync(path.join(outside, "secret.json"), path.join(dataDir, "leak.json"));
  // A directory whose literal name is URL-encoding: it is a name, never decoded into "../".
  fs.mkdirSync(path.join(modelsRoot, "..%2foutside"));
  fs.writeFileSync(
    path.join(dataDir, "dataset_info.json"),
    JSON.stringify({
      ok: { file_name: "ok.json" },
      up: { file_name: "../outside/secret.json" },
      absolute: { file_name: path.join(outside, "secret.json") },
      etc: { file_name: "/etc/passwd" },
      symlinked: { file_name: "leak.json" },
      encoded: { file_name: "..%2foutside%2fsecret.json" },
      nul: { file_name: "ok.json\u0000.txt" },
    }),
  );
  fs.writeFileSync(path.join(dataDir, "ok.json"), '[{"instruction":"hi","output":"hello"}]');
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe("model paths (lib/models.ts resolveModelPath)", () => {
  const attempts: [string, () => string][] = [
    ["../outside (parent escape)", () => "../outside"],
    ["../../etc (deeper escape)", () => "../../etc"],
    ["../../../../../../etc/passwd", () => "../../../../../../etc/passwd"],
    ["good/../../outside (escape through a real dir)", () => "good/../../outside"],
    ["/etc (absolute outside)", () => "/etc"],
    ["/etc/passwd", () => "/etc/passwd"],
    ["<outside> absolute", () => outside],
    ["<root>/../outside absolute", () => `${modelsRoot}/../outside`],
    ["../models-evil (sibling sharing the root's prefix)", () => "../models-evil"],
    ["escape (symlink inside the root -> outside)", () => "escape"],
    ["etc-link (symlink inside the root -> /etc)", () => "etc-link"],
    ["etc-link/passwd (through the symlink)", () => "etc-link/passwd"],
    ["..%2f..%2fetc (URL-encoded, taken literally)", () => "..%2f..%2fetc"],
    ["..%2Foutside%2Fsecret.json", () => "..%2Foutside%2Fsecret.json"],
    ["..\\..\\etc (backslashes are a literal name on POSIX)", () => "..\\..\\etc"],
    ["good\\0 (NUL byte)", () => "good\u0000/../../outside"],
  ];
  it.each(attempts)("refuses %s", (_what, named) => {
    const n = named();
    let result: unknown;
    try {
      result = resolveModelPath([modelsRoot], n);
    } catch (err) {
      result = err;
    }
    expect(result, `resolved to ${String(result)}`).toBeInstanceOf(ModelPathError);
  });

  it("still resolves real paths inside the root (relative, absolute, and a literal '..%2f' name)", () => {
    expect(resolveModelPath([modelsRoot], "good")).toBe(path.join(modelsRoot, "good"));
    expect(resolveModelPath([modelsRoot], path.join(modelsRoot, "good"))).toBe(path.join(modelsRoot, "good"));
    // The literal directory stays what it is: a folder inside the root, not a way out.
    expect(resolveModelPath([modelsRoot], "..%2foutside")).toBe(path.join(modelsRoot, "..%2foutside"));
  });
});

describe("dataset files and names (lib/datasets)", () => {
  const fileAttempts = ["../outside/secret.json", "../../etc/passwd", "/etc/passwd", "<OUTSIDE>/secret.json", "leak.json", "a/../../outside/secret.json", "ok.json\u0000.txt", "C:\\Windows\\win.ini"];
  it.each(fileAttempts)("resolveInside refuses %j", async (relative) => {
    const err = await resolveInside(dataDir, relative.replace("<OUTSIDE>", outside), "fileName").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe("outside_root");
  });

  it("takes a URL-encoded name literally (a missing file inside the root, not a way out)", async () => {
    expect(await resolveInside(dataDir, "..%2foutside%2fsecret.json")).toBe(path.join(dataDir, "..%2foutside%2fsecret.json"));
  });

  it.each(["up", "absolute", "etc", "symlinked", "nul"])("loadDataset refuses registry entry %s pointing outside", async (name) => {
    const err = await loadDataset(dataDir, name, "dataset").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe("outside_root");
    expect((err as DatasetError).field).toBe("dataset");
  });

  it("loadDataset on the URL-encoded entry reads nothing outside (not found inside the root)", async () => {
    const err = await loadDataset(dataDir, "encoded", "dataset").catch((e: unknown) => e);
    expect((err as DatasetError).code).toBe("not_found");
  });

  it.each(["../identity", "../../outside/secret", "/etc/passwd", "..%2fsecret"])("dataset name %j is only a registry key", async (name) => {
    const err = await loadDataset(dataDir, name, "dataset").catch((e: unknown) => e);
    expect((err as DatasetError).code).toBe("not_found");
  });

  it.each([
    ["new", "../outside/secret.json"],
    ["new", "/etc/passwd"],
    ["new", "leak.json"],
    ["../evil", "ok.json"],
  ])("registerDataset(%j, %j) is refused", async (name, file) => {
    const err = await registerDataset(dataDir, name, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(["outside_root", "invalid_input"]).toContain((err as DatasetError).code);
  });
});

describe("chat paths (worker/chat-bridge.ts: models under the model roots, adapters under the runs folder)", () => {
  // The bridge with a stand-in socket: it records what the worker would tell the server.
  function bridge() {
    const handlers = new Map<string, (raw: unknown) => void>();
    const states: ChatState[] = [];
    const socket = {
      on: (ev: string, fn: (raw: unknown) => void) => handlers.set(ev, fn),
      emit: (ev: string, msg: ChatState) => ev === "chat:state" && states.push(msg),
    };
    const env = { python: "/nonexistent/python", root: base, modelRoots: [modelsRoot], runsDir } as unknown as Env;
    const b = new ChatBridge(env, socket as never, () => {});
    const load = async (modelPath: string, adapterPath: string | null) => {
      handlers.get("chat:load")!({ modelPath, adapterPaths: adapterPath ? [adapterPath] : [] });
      await new Promise((r) => setTimeout(r, 0));
      return states.at(-1)!;
    };
    return { b, load };
  }

  const attempts: [string, string, string | null][] = [
    ["model ../outside", "../outside", null],
    ["model /etc", "/etc", null],
    ["model symlink escape", "escape", null],
    ["model ..%2f..%2fetc", "..%2f..%2fetc", null],
    ["adapter ../outside", "good", "../outside"],
    ["adapter ../../etc", "good", "../../etc"],
    ["adapter absolute outside", "good", "<OUTSIDE>"],
    ["adapter in the model root (not a run output)", "good", "<MODELS>/good"],
    ["adapter symlink run-escape -> outside", "good", "run-escape"],
    ["adapter ..%2foutside", "good", "..%2foutside"],
  ];
  it.each(attempts)("refuses %s", async (_what, modelPath, adapterPath) => {
    const { b, load } = bridge();
    try {
      const state = await load(modelPath, adapterPath?.replace("<OUTSIDE>", outside).replace("<MODELS>", modelsRoot) ?? null);
      expect(state.state).toBe("error");
      expect(state.message).toMatch(/inside|does not exist/);
    } finally {
      b.close();
    }
  });
});
