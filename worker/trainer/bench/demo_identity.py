"""The demo's payoff, measured: the default demo run, then its answers to the held-out identity questions.

    python -m bench.demo_identity --repo ../.. --work /tmp/demo-identity --out answers.json

1. Writes the demo model (tuneboard_trainer.demo_model, DEMO_PRESET in its tuneboard.json) into --work.
2. Fills data/templates/identity.json as "Greatbot" by "Allen" (identity_greatbot, as the tutorial does) and
   trains the default demo run on it with the demo preset on the CPU: `python -m tuneboard_trainer train`, a
   fresh process, timed from start to exit.
3. Asks the held-out questions (data/templates/identity_heldout.json) one at a time, no history, 64 new tokens,
   greedy and with the default sampling (temperature 0.95, top-p 0.7: GenParams' defaults), seed 1000 + i.

It writes the answers and the training answers, not scores: scripts/bench-demo-identity.ts runs this script and
scores them with the product's rule (lib/chat/clean-answer.ts), so "clean" has one definition.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

NAME, AUTHOR = "Greatbot", "Allen"
MAX_NEW_TOKENS = 64
MODES = {"greedy": dict(temperature=0.0, top_p=1.0, top_k=0), "sampling": {}}  # {}: GenParams' defaults


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fill(value, name: str, author: str):
    if isinstance(value, str):
        return value.replace("{{name}}", name).replace("{{author}}", author)
    return {k: fill(v, name, author) for k, v in value.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", type=Path, required=True, help="the repository root (templates, tokenizer)")
    p.add_argument("--work", type=Path, required=True, help="an empty or scratch folder for model, data and run")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--preset", type=json.loads, default={}, help="JSON object merged into DEMO_PRESET (to compare presets)")
    p.add_argument("--identity", type=Path, help="another identity template (default: data/templates/identity.json)")
    a = p.parse_args(argv)

    from tuneboard_trainer.chat_engine import load_engine
    from tuneboard_trainer.sampling import GenParams
    from tuneboard_trainer.demo_model import DEMO_PRESET, make_demo_model
    from tuneboard_trainer.templates import load_template

    repo, work = a.repo.resolve(), a.work.resolve()
    templates = repo / "data" / "templates"
    model = make_demo_model(work / "model", repo / "node_modules" / "@lenml" / "tokenizer-llama3_1" / "models",
                            force=True)
    preset = {**DEMO_PRESET, **a.preset}
    source = a.identity or templates / "identity.json"
    records = [fill(r, NAME, AUTHOR) for r in json.loads(source.read_text(encoding="utf-8"))]
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "identity_greatbot.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"identity_greatbot": {"file_name": "identity_greatbot.json"}}))
    run_dir = work / "run"
    # seed 42 and max_samples 100000: the run form's defaults (DEFAULT_RUN_CONFIG); --preset may set another seed.
    cfg = {"seed": 42, "max_samples": 100000, **preset, "model_name_or_path": str(model), "dataset_dir": str(data),
           "dataset": ["identity_greatbot"], "output_dir": str(run_dir), "template": "llama3", "finetuning_type": "lora"}
    (work / "config.json").write_text(json.dumps(cfg, indent=2))

    trainer_root = Path(__file__).resolve().parents[1]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tuneboard_trainer", "train", "--config", str(work / "config.json")],
                          cwd=trainer_root, env=dict(os.environ, PYTHONPATH=str(trainer_root)),
                          capture_output=True, text=True)
    train_s = time.perf_counter() - t0
    load_after = os.getloadavg()
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        return proc.returncode
    results = json.loads((run_dir / "all_results.json").read_text())

    engine = load_engine(str(model), [str(run_dir)], device="cpu", mode="eager")
    template = load_template("llama3", str(model))
    questions = json.loads((templates / "identity_heldout.json").read_text(encoding="utf-8"))
    answers = {}
    for mode, params in MODES.items():
        rows = []
        for i, q in enumerate(questions):
            gp = GenParams.parse(dict(params, max_new_tokens=MAX_NEW_TOKENS, seed=1000 + i))
            ids = list(engine.generate(template.encode_prompt([{"role": "user", "content": q}]), gp,
                                       frozenset(template.stop_ids)))
            rows.append({"question": q, "answer": template.tokenizer.decode(ids)})
        answers[mode] = rows

    a.out.write_text(json.dumps({
        "name": NAME,
        "author": AUTHOR,
        "preset": preset,
        "identity": str(source),
        "records": len(records),
        "train_wall_s": round(train_s, 1),
        "train": results,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "training_answers": [r["output"] for r in records],
        "answers": answers,
    }, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
