"""LoRA fine-tuning loop: setup -> train -> save -> done. Reads top to bottom."""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from pathlib import Path

import torch

from .config import ConfigError, TrainConfig
from .data import epoch_batches, load_examples
from .events import Checkpoint, Done, EventSink, Started, Step
from .lora import apply_lora, save_adapter
from .model import load_config, load_pretrained, lm_loss
from .templates import IGNORE_INDEX, get_template, load_tokenizer


def resolve_device(cfg: TrainConfig) -> tuple[torch.device, torch.dtype]:
    name = cfg.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    compute = cfg.compute_type
    if compute == "auto":
        compute = "bf16" if name.startswith("cuda") else "fp32"
    return torch.device(name), torch.bfloat16 if compute == "bf16" else torch.float32


def lr_lambda(kind: str, warmup: int, total: int):
    """Multiplier on the peak lr at optimizer step `s` (0-based), as in HF's schedulers."""

    def f(s: int) -> float:
        if s < warmup:
            return s / max(1, warmup)
        progress = (s - warmup) / max(1, total - warmup)
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 1.0

    return f


def count_params(model) -> tuple[int, int]:
    # Tied embeddings appear once in parameters(), so nothing is double-counted.
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def train(cfg: TrainConfig, sink: EventSink) -> dict:
    # ---------------------------------------------------------------- setup
    t_setup = time.time()
    device, dtype = resolve_device(cfg)
    model_dir = Path(cfg.model_name_or_path)
    if not model_dir.is_dir():
        raise ConfigError(f"model_name_or_path: directory {model_dir} not found")
    load_config(model_dir)  # unsupported architectures fail here, before tokenizing or loading weights
    torch.manual_seed(cfg.seed)

    template = get_template(cfg.template, load_tokenizer(model_dir))
    examples, stats = load_examples(cfg.dataset_dir, cfg.dataset, template, cfg.cutoff_len, cfg.max_samples)

    model = load_pretrained(model_dir, dtype=dtype, device=device)
    torch.manual_seed(cfg.seed)  # LoRA init depends only on the seed, not on what ran before
    apply_lora(model, cfg.lora_target, cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout)
    for p in model.parameters():  # adapter weights train in fp32 even over a bf16 base
        if p.requires_grad:
            p.data = p.data.float()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable, total = count_params(model)

    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    micro_per_epoch = math.ceil(len(examples) / cfg.per_device_train_batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / cfg.gradient_accumulation_steps)
    total_steps = cfg.max_steps or math.ceil(cfg.num_train_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(cfg.lr_scheduler_type, cfg.warmup_steps, total_steps)
    )
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if dtype == torch.bfloat16 else contextlib.nullcontext()
    )

    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(out_dir / "trainer_log.jsonl", "w", encoding="utf-8")
    sink.emit(Started(
        total_steps=total_steps, num_samples=len(examples), num_epochs=round(total_steps / steps_per_epoch, 4),
        trainable_params=trainable, total_params=total, device=str(device),
        dtype=str(dtype).removeprefix("torch."), output_dir=str(out_dir),
    ))
    sink.log(
        f"loaded {stats.num_samples} samples from {', '.join(cfg.dataset)} "
        f"({stats.truncated} truncated, {stats.dropped} dropped)",
        level="warning" if stats.truncated or stats.dropped else "info",
    )
    sink.log(f"setup took {time.time() - t_setup:.1f}s; {total_steps} steps, {steps_per_epoch} per epoch")

    # ---------------------------------------------------------------- train
    step, epoch, tokens = 0, 0, 0
    losses, window_losses = [], []
    t0 = time.time()
    try:
        while step < total_steps:
            batches = list(epoch_batches(examples, cfg.per_device_train_batch_size, cfg.seed, epoch,
                                         template.pad))
            for w in range(0, len(batches), cfg.gradient_accumulation_steps):
                window = batches[w : w + cfg.gradient_accumulation_steps]
                # Normalise by the labelled tokens of the whole window, so every token weighs
                # the same regardless of how it was split into micro-batches.
                n_window = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
                loss_sum = 0.0
                for b in window:
                    ids, labels = b["input_ids"].to(device), b["labels"].to(device)
                    with autocast:
                        # Right padding only follows real tokens, so the causal mask alone keeps
                        # padding out of every labelled position: no dense mask needed.
                        hidden = model(ids)
                        loss, _ = lm_loss(model, hidden, labels)
                    (loss / n_window).backward()
                    loss_sum += loss.item()
                    tokens += int(b["attention_mask"].sum())
                if cfg.max_grad_norm > 0:
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
                else:
                    grad_norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
                lr = scheduler.get_last_lr()[0]
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                step_loss = loss_sum / max(1, n_window)
                losses.append(step_loss)
                window_losses.append(step_loss)

                if step == 1 or step % cfg.logging_steps == 0 or step == total_steps:
                    elapsed = time.time() - t0
                    event = sink.emit(Step(
                        step=step, total_steps=total_steps, epoch=round(step / steps_per_epoch, 2),
                        loss=round(sum(window_losses) / len(window_losses), 4), lr=lr,
                        grad_norm=round(grad_norm, 4) if math.isfinite(grad_norm) else None,
                        tokens=tokens, tokens_per_sec=round(tokens / max(elapsed, 1e-9), 1),
                        elapsed_s=round(elapsed, 2),
                    ))
                    log_file.write(json.dumps(event) + "\n")
                    log_file.flush()
                    window_losses = []
                    print(f"step {step}/{total_steps} loss {event['loss']:.4f} lr {lr:.2e} "
                          f"grad_norm {grad_norm:.3f} {event['tokens_per_sec']:.0f} tok/s",
                          file=sys.stderr, flush=True)
                if not math.isfinite(step_loss):
                    raise FloatingPointError(f"loss became {step_loss} at step {step}")
                if cfg.save_steps and step % cfg.save_steps == 0 and step < total_steps:
                    ckpt = save_adapter(model, out_dir / f"checkpoint-{step}", cfg.model_name_or_path)
                    sink.emit(Checkpoint(step=step, path=str(ckpt)))
                if step >= total_steps:
                    break
            epoch += 1
        # ------------------------------------------------------------ save
        save_adapter(model, out_dir, cfg.model_name_or_path)
    finally:
        log_file.close()
    runtime = time.time() - t0
    done = sink.emit(Done(
        step=step, train_loss=round(sum(losses) / len(losses), 4), runtime_s=round(runtime, 2),
        tokens_seen=tokens, adapter_path=str(out_dir),
    ))
    # ------------------------------------------------------------ cleanup
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {**done, "losses": losses}
