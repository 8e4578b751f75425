"""Evaluate & Predict (LlamaBoard's Evaluate tab) for a base model plus an optional LoRA adapter.

On the chosen datasets: the mean next-token loss over the labelled (reply) tokens and its
perplexity; then, per sample, a generated reply to the conversation without its last answer,
scored against that answer with BLEU-4 and ROUGE-1/2/L (text_metrics.py, LlamaBoard's numbers).

`python -m tuneboard_trainer evaluate --config FILE` (cli.py). Writes into `output_dir`:
generated_predictions.jsonl (one {prompt, predict, label, scores} per sample, LLaMA-Factory's file
name), metrics.json, and eval_result.json (metrics + a preview of the predictions) whose path the
final `result` event names. Events: log, progress, result (error from cli.py).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .config import ConfigError
from .validation import validate
from .events import EventSink, Progress, Result

RESULT_FILE = "eval_result.json"
PREDICTIONS_FILE = "generated_predictions.jsonl"
METRICS_FILE = "metrics.json"
PROGRESS_STAGE = "evaluate"
PREVIEW_ROWS = 100  # predictions kept in the result for the page; the JSONL file has them all
PREVIEW_CHARS = 2000


@dataclass
class EvalConfig:
    model_name_or_path: str
    dataset: list
    dataset_dir: str
    output_dir: str
    adapter_path: Optional[str] = None
    template: str = "llama3"
    cutoff_len: int = 1024  # LlamaBoard's Evaluate tab defaults from here on
    max_samples: int = 100000
    batch_size: int = 2
    predict: bool = True
    max_new_tokens: int = 512
    do_sample: bool = False  # greedy unless asked: scores are then reproducible
    temperature: float = 0.95
    top_p: float = 0.7
    seed: int = 42

    @classmethod
    def from_dict(cls, d: dict) -> "EvalConfig":
        """Validated against the task's contract (lib/schemas/eval-config.ts: evalTaskFileSchema)."""
        return cls(**validate("eval_task", d))

    @classmethod
    def from_file(cls, path) -> "EvalConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"config: cannot read {path} ({e})") from None


# ---------------------------------------------------------------- samples


def load_prediction_samples(dataset_dir, names: list[str], max_samples: int) -> list[dict]:
    """Per record: the conversation up to its last user turn, and the last reply (the reference)."""
    from .data import alpaca_to_messages, check_columns, read_records, resolve_dataset, sharegpt_to_messages

    samples = []
    for name in names:
        entry = resolve_dataset(dataset_dir, name)
        records = read_records(entry.path)
        check_columns(entry, records)
        for i, rec in enumerate(records[:max_samples]):
            where = f"dataset {name!r} record {i}"
            if entry.formatting == "alpaca":
                messages = alpaca_to_messages(rec, entry.columns, where)
            else:
                messages = sharegpt_to_messages(rec, entry.columns, entry.tags, where)
            if len(messages) < 2 or messages[-1]["role"] != "assistant":
                continue  # nothing to predict
            samples.append({"messages": messages[:-1], "label": messages[-1]["content"],
                            "prompt": messages[-2]["content"]})
    return samples


# ---------------------------------------------------------------- loss


def eval_loss(model, examples, batch_size: int, pad_id: int, device, on_batch=None) -> tuple[float, int]:
    """(mean next-token loss over every labelled token, number of labelled tokens)."""
    import torch

    from .data import ordered_batches
    from .loss import lm_loss

    total, n = 0.0, 0
    with torch.inference_mode():
        for i, b in enumerate(ordered_batches(examples, batch_size, pad_id)):
            # Right padding sits behind real tokens: the causal mask alone keeps it out.
            loss, k = lm_loss(model, model(b["input_ids"].to(device)), b["labels"].to(device))
            total += float(loss)
            n += k
            if on_batch:
                on_batch(i + 1)
    return (total / n if n else float("nan")), n


# ---------------------------------------------------------------- batched generation


def generate_batch(model, prompts: list[list[int]], max_new_tokens: int, stop_ids: set, pad_id: int,
                   do_sample: bool = False, temperature: float = 0.95, top_p: float = 0.7,
                   generator=None) -> list[list[int]]:
    """New token ids per prompt (stop token excluded), decoding all prompts together.

    Prompts are left-padded to one length; a (B, S) padding mask hides the pads and positions
    count real tokens only, so each row decodes exactly as it would alone.
    """
    import torch

    from .generate import sample_next
    from .model import KVCache

    device = model.lm_head.weight.device
    B, L = len(prompts), max(len(p) for p in prompts)
    max_new = min(max_new_tokens, model.config.max_position_embeddings - L)
    if max_new <= 0:
        return [[] for _ in prompts]
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros((B, L + max_new), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, L - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, L - len(p):L] = 1
    pos = (mask[:, :L].cumsum(-1) - 1).clamp(min=0)
    cache = KVCache(model.config, B, L + max_new, device, model.lm_head.weight.dtype)
    out: list[list[int]] = [[] for _ in prompts]
    finished = [False] * B
    start, cur = 0, ids
    with torch.inference_mode():
        for _ in range(max_new):
            S = start + cur.shape[1]
            hidden = model(cur.to(device), position_ids=pos.to(device), attention_mask=mask[:, :S].to(device),
                           cache=cache, start_pos=start)
            logits = model.lm_head(hidden[:, -1]).float().cpu()  # (B, V)
            nxt = []
            for i in range(B):
                t = int(logits[i].argmax()) if not do_sample else sample_next(logits[i], temperature, 0, top_p, generator)
                if not finished[i]:
                    if t in stop_ids:
                        finished[i] = True
                    else:
                        out[i].append(t)
                nxt.append(t)
            if all(finished) or S >= L + max_new:
                break
            mask[:, S] = 1
            pos = mask[:, :S].sum(-1, keepdim=True)  # the new token's position: real tokens before it
            start, cur = S, torch.tensor(nxt, dtype=torch.long)[:, None]
    return out


# ---------------------------------------------------------------- the job


def _device():
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


def evaluate(cfg: EvalConfig, sink: Optional[EventSink] = None) -> dict:
    import torch

    from .data import load_examples
    from .lora import load_adapter, merge_lora
    from .base_quantization import read_base_quantization
    from .hf_weights import load_config, load_pretrained
    from .quant.load import load_quantized
    from .templates import TemplateError, load_template
    from .text_metrics import average_scores, sample_scores

    sink = sink or EventSink()
    t0 = time.time()
    model_dir, out = Path(cfg.model_name_or_path), Path(cfg.output_dir)
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"model_name_or_path: {model_dir} has no config.json")
    if cfg.adapter_path and not (Path(cfg.adapter_path) / "adapter_config.json").is_file():
        raise ConfigError(f"adapter_path: {cfg.adapter_path} has no adapter_config.json")
    load_config(model_dir)  # an unsupported architecture fails before anything is tokenized
    try:
        template = load_template(cfg.template, model_dir)
    except (TemplateError, ValueError) as e:
        raise ConfigError(f"template: {e}") from None
    out.mkdir(parents=True, exist_ok=True)

    examples, stats = load_examples(cfg.dataset_dir, cfg.dataset, template, cfg.cutoff_len, cfg.max_samples)
    samples = load_prediction_samples(cfg.dataset_dir, cfg.dataset, cfg.max_samples) if cfg.predict else []
    loss_batches = math.ceil(len(examples) / cfg.batch_size)
    pred_batches = math.ceil(len(samples) / cfg.batch_size)
    sink.log(f"{len(examples)} samples for the loss ({stats.truncated} truncated to {cfg.cutoff_len} tokens, "
             f"{stats.dropped} without a reply dropped), {len(samples)} to predict")

    # One stage for the whole job, its total known before any work: loading the model counts 1,
    # each loss batch 1, each predicted sample 1. Stage-by-stage totals made the page's
    # "step of total" jump (1, then 1 + loss batches, then + samples) as each stage began.
    total = 1 + loss_batches + len(samples)

    def progress(done: int) -> None:
        sink.emit(Progress(task="eval", stage=PROGRESS_STAGE, current=done, total=total))

    device, dtype = _device()
    progress(0)
    try:
        base_method = read_base_quantization(cfg.adapter_path) if cfg.adapter_path else None
    except ValueError as e:
        raise ConfigError(f"adapter_path: {e}") from None
    if base_method is None:
        model = load_pretrained(model_dir, dtype=dtype, device=device)
    else:  # the base the adapter was trained on: quantized the same way, layer by layer
        model = load_quantized(model_dir, base_method, dtype=dtype, device=device)
        sink.log(f"base quantized with {base_method}, as the adapter's run trained on it")
    if cfg.adapter_path:
        load_adapter(model, cfg.adapter_path)
        merge_lora(model)  # inference only: fold the adapter in once
    model.eval()
    sink.log(f"model loaded on {device} ({str(dtype).replace('torch.', '')})"
             + (f" with adapter {cfg.adapter_path}" if cfg.adapter_path else " (base model, no adapter)"))
    progress(1)

    sink.log(f"loss over {loss_batches} batches")
    loss, n_tokens = eval_loss(model, examples, cfg.batch_size, template.pad, device,
                               on_batch=lambda i: progress(1 + i))
    ppl = math.exp(loss) if math.isfinite(loss) and loss < 700 else None
    sink.log(f"eval loss {loss:.4f} over {n_tokens} reply tokens, perplexity {ppl if ppl is None else round(ppl, 4)}")

    rows = []
    generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
    random.seed(cfg.seed)
    # Sliding-window attention measures its window in cache slots, which left padding would
    # shift: such models decode one prompt at a time.
    per_batch = 1 if any(layer.window for layer in model.model.layers) else cfg.batch_size
    t_pred, n_generated = time.time(), 0
    for b in range(0, len(samples), per_batch):
        chunk = samples[b : b + per_batch]
        prompts = [template.encode_prompt(s["messages"])[: cfg.cutoff_len] for s in chunk]
        outs = generate_batch(model, prompts, cfg.max_new_tokens, template.stop_ids, template.pad,
                              cfg.do_sample, cfg.temperature, cfg.top_p, generator)
        for s, ids in zip(chunk, outs):
            n_generated += len(ids)
            predict = template.tokenizer.decode(ids, skip_special_tokens=True)
            rows.append({"prompt": s["prompt"], "predict": predict, "label": s["label"],
                         **sample_scores(predict, s["label"])})
        progress(1 + loss_batches + min(b + per_batch, len(samples)))
    pred_s = time.time() - t_pred

    metrics = {
        "eval_loss": round(loss, 6) if math.isfinite(loss) else None,
        "perplexity": round(ppl, 4) if ppl is not None else None,
        "eval_tokens": n_tokens,
        "num_samples": len(examples),
        "num_predicted": len(rows),
        **({f"predict_{k}": v for k, v in average_scores(rows).items()} if rows else {}),
        "predict_tokens_per_sec": round(n_generated / pred_s, 2) if rows and pred_s > 0 else None,
        "runtime_s": round(time.time() - t0, 3),
    }
    with open(out / PREDICTIONS_FILE, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    result = {
        "metrics": metrics,
        "predictions": [{k: (v[:PREVIEW_CHARS] if isinstance(v, str) else v) for k, v in r.items()}
                        for r in rows[:PREVIEW_ROWS]],
        "files": {"predictions": str((out / PREDICTIONS_FILE).resolve()), "metrics": str((out / METRICS_FILE).resolve())},
        "adapter_path": cfg.adapter_path,
        "device": str(device),
    }
    result_path = out / RESULT_FILE
    result_path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    sink.log(f"done in {metrics['runtime_s']} s; predictions in {out / PREDICTIONS_FILE}")
    sink.emit(Result(task="eval", output_dir=str(out.resolve()), result_path=str(result_path.resolve())))
    return result
