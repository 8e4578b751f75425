"""Evaluate & Predict: eval loss / perplexity against a direct computation, batched generation equal to
one-at-a-time generation, the files written, the adapter applied, and the CLI's event stream."""

import io
import json
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import IDENTITY, TRAINER_DIR
from tuneboard_trainer.generate import generate_ids
from tuneboard_trainer.config import ConfigError
from tuneboard_trainer.data import load_examples
from tuneboard_trainer.evaluate import EvalConfig, evaluate, generate_batch, load_prediction_samples
from tuneboard_trainer.events import EventSink, Progress, Result, parse_event
from tuneboard_trainer.lora import save_adapter
from tuneboard_trainer.methods import LoraSettings, prepare_model
from tuneboard_trainer.hf_weights import load_pretrained
from tuneboard_trainer.templates import load_template
from tuneboard_trainer.text_metrics import sample_scores


def config(tiny_model_dir, dataset_dir, tmp_path, **kw):
    return EvalConfig.from_dict({"model_name_or_path": str(tiny_model_dir), "dataset": ["identity"],
                                 "dataset_dir": str(dataset_dir), "output_dir": str(tmp_path / "out"),
                                 "max_new_tokens": 6, "batch_size": 4, **kw})


def direct_loss(model, examples) -> float:
    """Mean cross-entropy over labelled tokens, one example at a time through full logits."""
    total, n = 0.0, 0
    with torch.no_grad():
        for e in examples:
            logits = model.logits(torch.tensor([e.input_ids]))[0, :-1]
            labels = torch.tensor(e.labels[1:])
            keep = labels != -100
            total += F.cross_entropy(logits[keep], labels[keep], reduction="sum").item()
            n += int(keep.sum())
    return total / n


def test_batched_generation_equals_one_at_a_time(tiny_model_dir):
    model = load_pretrained(tiny_model_dir)
    template = load_template("llama3", tiny_model_dir)
    prompts = [template.encode_prompt([{"role": "user", "content": q}])
               for q in ("Who are you?", "Tell me something much longer about yourself, please.", "你好")]
    assert len({len(p) for p in prompts}) == 3  # different lengths: left padding is exercised
    batched = generate_batch(model, prompts, 12, template.stop_ids, template.pad)
    single = [list(generate_ids(model, p, 12, template.stop_ids, temperature=0)) for p in prompts]
    assert batched == single and all(batched)


def test_evaluate_writes_metrics_and_predictions(tiny_model_dir, dataset_dir, tmp_path):
    buf = io.StringIO()
    result = evaluate(config(tiny_model_dir, dataset_dir, tmp_path), EventSink(buf))
    m = result["metrics"]

    model = load_pretrained(tiny_model_dir)
    template = load_template("llama3", tiny_model_dir)
    examples, _ = load_examples(dataset_dir, ["identity"], template, 1024, 100000)
    assert m["eval_loss"] == pytest.approx(direct_loss(model, examples), rel=1e-5)
    assert m["perplexity"] == pytest.approx(math.exp(m["eval_loss"]), rel=1e-5)
    assert m["num_samples"] == m["num_predicted"] == len(IDENTITY)

    out = tmp_path / "out"
    rows = [json.loads(line) for line in (out / "generated_predictions.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == [rec["output"] for rec in IDENTITY]
    assert rows[0]["prompt"] == "Who are you?"
    for r in rows:  # each row's scores are LlamaBoard's for its own prediction
        assert {k: r[k] for k in ("bleu-4", "rouge-1", "rouge-2", "rouge-l")} == sample_scores(r["predict"], r["label"])
    for k in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"):
        assert m[f"predict_{k}"] == pytest.approx(sum(r[k] for r in rows) / len(rows), abs=1e-4)
    assert json.loads((out / "metrics.json").read_text()) == m
    assert result["predictions"] == rows  # all 6 fit in the preview

    events = [parse_event(line) for line in buf.getvalue().splitlines()]
    assert isinstance(events[-1], Result) and events[-1].task == "eval"
    # The total is known from the first progress event and never changes (the page's "step of
    # total" neither jumps nor shrinks); the count only grows and ends at the total.
    progress = [e for e in events if isinstance(e, Progress)]
    loss_batches = math.ceil(len(examples) / 4)  # batch_size 4 (config above)
    assert {e.total for e in progress} == {1 + loss_batches + 6}
    assert (progress[0].current, progress[-1].current) == (0, progress[-1].total)
    assert all(a.current <= b.current for a, b in zip(progress, progress[1:]))
    assert len({e.stage for e in progress}) == 1


def test_adapter_changes_the_loss_as_unmerged_lora_computes_it(tiny_model_dir, dataset_dir, tmp_path):
    model = load_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    prepare_model(model, "lora", lora=LoraSettings(r=4, alpha=8))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    save_adapter(model, tmp_path / "adapter", str(tiny_model_dir))
    base = evaluate(config(tiny_model_dir, dataset_dir, tmp_path / "a", predict=False), EventSink(io.StringIO()))
    tuned = evaluate(config(tiny_model_dir, dataset_dir, tmp_path / "b", predict=False,
                            adapter_path=str(tmp_path / "adapter")), EventSink(io.StringIO()))
    examples, _ = load_examples(dataset_dir, ["identity"], load_template("llama3", tiny_model_dir), 1024, 100000)
    assert tuned["metrics"]["eval_loss"] == pytest.approx(direct_loss(model.eval(), examples), rel=1e-4)
    assert abs(tuned["metrics"]["eval_loss"] - base["metrics"]["eval_loss"]) > 1e-3
    assert tuned["predictions"] == [] and "predict_bleu-4" not in tuned["metrics"]


def test_prediction_samples_split_the_last_reply(dataset_dir):
    samples = load_prediction_samples(dataset_dir, ["identity"], 100000)
    with_history = samples[3]  # history [["Hi", "Hello! I am TestBot."]] then "And now?"
    assert [m["role"] for m in with_history["messages"]] == ["user", "assistant", "user"]
    assert with_history["label"] == "Still TestBot." and with_history["prompt"] == "And now?"
    assert len(load_prediction_samples(dataset_dir, ["identity"], 2)) == 2


def test_config_errors_name_the_field(tiny_model_dir, dataset_dir, tmp_path):
    for bad, field in (({"batch_size": 0}, "batch_size"), ({"top_p": 0}, "top_p"), ({"dataset": []}, "dataset"),
                       ({"do_sample": "yes"}, "do_sample"), ({"nope": 1}, "nope")):
        with pytest.raises(ConfigError, match=field):
            config(tiny_model_dir, dataset_dir, tmp_path, **bad)


def test_cli_emits_protocol_events(tiny_model_dir, dataset_dir, tmp_path):
    cfg_file = tmp_path / "eval.json"
    cfg_file.write_text(json.dumps({"model_name_or_path": str(tiny_model_dir), "dataset": ["identity"],
                                    "dataset_dir": str(dataset_dir), "output_dir": str(tmp_path / "out"),
                                    "max_samples": 2, "max_new_tokens": 3}))
    env = {"PYTHONPATH": str(TRAINER_DIR), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-m", "tuneboard_trainer", "evaluate", "--config", str(cfg_file)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    events = [parse_event(line) for line in p.stdout.splitlines()]  # every stdout line is an event
    assert isinstance(events[-1], Result)
    assert json.loads(open(events[-1].result_path).read())["metrics"]["num_predicted"] == 2

    cfg_file.write_text(json.dumps({"model_name_or_path": str(tiny_model_dir), "dataset": ["missing"],
                                    "dataset_dir": str(dataset_dir), "output_dir": str(tmp_path / "out2")}))
    p = subprocess.run([sys.executable, "-m", "tuneboard_trainer", "evaluate", "--config", str(cfg_file)],
                       capture_output=True, text=True, env=env, timeout=300)
    err = parse_event(p.stdout.splitlines()[-1])
    assert p.returncode == 1 and err.kind == "data" and "missing" in err.message
