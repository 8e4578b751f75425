// The "Show command" output: the worker's own argument list, and a config file that the real
// trainer accepts (validated by the Python CLI in a child process, as a user would run it).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { trainerCommand } from "@/lib/trainer/command";
import { configFileText, trainerConfigFile } from "@/lib/trainer/config-file";
import { DEFAULT_RUN_CONFIG, runConfigSchema } from "@/lib/schemas/run-config";
import { commandText, shellQuote } from "./command";

const root = path.resolve(".");

describe("Show command", () => {
  const configPath = path.join(root, "data/runs/manual-x/tuneboard_config.json");
  const args = ["train", "--config", configPath];
  const cmd = trainerCommand(path.join(root, ".venv/bin/python"), root, args);
  const paths = {
    root,
    python: cmd.command,
    args,
    pythonPath: String(cmd.env.PYTHONPATH),
    configPath,
    outputDir: path.join(root, "data/runs/manual-x"),
    dataDir: path.join(root, "data"),
  };

  it("writes the worker's argument list relative to the repository root", () => {
    expect(commandText(paths)).toBe(
      "mkdir -p data/runs/manual-x\n" +
        "PYTHONPATH=worker/trainer .venv/bin/python -m tuneboard_trainer train --config data/runs/manual-x/tuneboard_config.json",
    );
  });

  it("with 2 or more GPUs, runs the trainer under torchrun exactly as the worker launches it", () => {
    const text = commandText(paths, 2);
    expect(text).toBe(
      "mkdir -p data/runs/manual-x\n" +
        "CUDA_VISIBLE_DEVICES=0,1 PYTHONPATH=worker/trainer .venv/bin/python -m torch.distributed.run --standalone --nnodes 1 " +
        "--nproc-per-node 2 -m tuneboard_trainer train --config data/runs/manual-x/tuneboard_config.json",
    );
    expect(text).toContain("torch.distributed.run");
    expect(text).toContain("--nproc-per-node 2");
    // The worker's own command for a job given GPUs 0 and 1: the same arguments and device list.
    const worker = trainerCommand(cmd.command, root, args, [0, 1]);
    expect(text).toContain(worker.args.join(" ").replace(configPath, "data/runs/manual-x/tuneboard_config.json"));
    expect((worker.env as Record<string, string | undefined>).CUDA_VISIBLE_DEVICES).toBe("0,1");
    // One GPU: no launcher, pinned to one device; none (0): the environment is left alone.
    expect(commandText(paths, 1)).toContain("CUDA_VISIBLE_DEVICES=0 PYTHONPATH=worker/trainer .venv/bin/python -m tuneboard_trainer train");
    expect(commandText(paths, 0)).not.toContain("CUDA_VISIBLE_DEVICES");
    expect(commandText(paths, 8)).toContain("CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 ");
  });

  it("quotes what a shell would split", () => {
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("/x/y-1.json")).toBe("/x/y-1.json");
  });

  it("produces a config file the trainer's own validation accepts", () => {
    // num_gpus is the queue's: the trainer refuses unknown fields, so the file must not carry it.
    const config = runConfigSchema.parse({ ...DEFAULT_RUN_CONFIG, name: "my run", num_gpus: 2, model_name_or_path: "x", dataset: ["identity"] });
    const file = trainerConfigFile(config, {
      modelPath: path.join(root, "data/models/tuneboard-demo"),
      dataDir: path.join(root, "data"),
      outputDir: path.join(os.tmpdir(), "tb-cmd-out"),
    });
    expect(file).not.toHaveProperty("name");
    expect(file).not.toHaveProperty("num_gpus");
    const text = configFileText(file);
    expect(text).not.toContain("max_steps"); // undefined: left to the trainer's default
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tb-cmd-"));
    try {
      const f = path.join(dir, "tuneboard_config.json");
      fs.writeFileSync(f, text);
      const v = trainerCommand(path.join(root, ".venv/bin/python"), root, ["validate-config", "--config", f]);
      const r = spawnSync(v.command, v.args, { env: v.env, encoding: "utf8", timeout: 120_000 });
      expect(r.stdout.trim()).toBe("ok");
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
