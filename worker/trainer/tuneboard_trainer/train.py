"""Fine-tuning loop: setup -> train -> save -> cleanup. Reads top to bottom.

Precision: compute_type bf16/fp16 use autocast on CUDA (fp16 with a GradScaler); on CPU
they fall back to fp32 with a `log` warning (a config written for a GPU still runs).
Trainable parameters are always fp32 master weights.

Checkpoints (every save_steps, and the final save): checkpoint-N/ holds what `save_trained`
writes (PEFT adapter for lora, HF model for freeze/full) plus `trainer_state.pt`: trainable
weights, optimizer, scheduler, grad scaler, torch/python/numpy RNG states, global step, and the
epoch and optimizer-step position within that epoch's (seeded) batch order. Resuming from it
continues bit-identically on the same device and config.
"""

from __future__ import annotations

import contextlib
import json
import os
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from .config import ConfigError, TrainConfig
from . import distributed, fast_graph
from .data import epoch_batches, load_examples, ordered_batches, pack_examples, split_examples
from .events import Checkpoint, Done, Eval, EventSink, Started, Step
from .fast import for_training
from .methods import LoraSettings, prepare_model, save_trained
from .model import load_config, load_pretrained, lm_loss
from .templates import IGNORE_INDEX, TemplateError, load_template

STATE_FILE = "trainer_state.pt"


def resolve_device(cfg: TrainConfig) -> tuple[torch.device, torch.dtype, list[str]]:
    """(device, compute dtype, warnings)."""
    name = cfg.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    compute, warnings = cfg.compute_type, []
    if compute == "auto":
        compute = "bf16" if name.startswith("cuda") else "fp32"
    if compute in ("bf16", "fp16") and not name.startswith("cuda"):
        warnings.append(f"compute_type {compute} needs a CUDA device; training in fp32 on {name}")
        compute = "fp32"
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    return torch.device(name), dtypes[compute], warnings


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


def warmup_steps(cfg: TrainConfig, total_steps: int) -> int:
    return cfg.warmup_steps if cfg.warmup_steps > 0 else math.ceil(cfg.warmup_ratio * total_steps)


def count_params(model) -> tuple[int, int]:
    # Tied embeddings appear once in parameters(), so nothing is double-counted.
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def build_optimizer(model, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms, biases and other 1-D parameters (HF Trainer's rule)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    # One fused kernel for all adapter tensors on the GPU (the CPU has no fused AdamW).
    fused = all(p.is_cuda for g in groups for p in g["params"]) or None
    return torch.optim.AdamW(groups, lr=lr, fused=fused)


def enable_gradient_checkpointing(model) -> None:
    """Recompute each decoder block in backward (torch.utils.checkpoint, non-reentrant, RNG preserved)."""
    for block in model.model.layers:
        inner = block.forward

        def forward(*args, _inner=inner, _block=block):
            if _block.training and torch.is_grad_enabled():
                return checkpoint(_inner, *args, use_reentrant=False)
            return _inner(*args)

        block.forward = forward


def forward_batch(model, b: dict, device) -> torch.Tensor:
    ids = b["input_ids"].to(device)
    if "packed_mask" in b:  # packed rows: positions restart per sample, block-diagonal causal mask
        return model(ids, position_ids=b["position_ids"].to(device), attention_mask=b["packed_mask"].to(device))
    # Right padding only follows real tokens, so the causal mask alone keeps padding out of
    # every labelled position: no dense mask needed.
    return model(ids)


@torch.no_grad()
def evaluate(model, examples, batch_size: int, pad_id: int, device, autocast) -> float:
    """Mean next-token loss over all labelled tokens of `examples` (dropout off)."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for b in ordered_batches(examples, batch_size, pad_id):
        with autocast:
            loss, k = lm_loss(model, forward_batch(model, b, device), b["labels"].to(device))
        total += float(loss)
        n += k
    model.train(was_training)
    return total / max(n, 1)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def smooth(values: list[float]) -> list[float]:
    """LLaMA-Factory's EMA for loss curves (weight grows with the number of points)."""
    if not values:
        return []
    weight = 1.8 * (1 / (1 + math.exp(-0.05 * len(values))) - 0.5)
    out, last = [], values[0]
    for v in values:
        last = last * weight + (1 - weight) * v
        out.append(last)
    return out


def plot_loss(path: Path, losses: list[float], evals: list[tuple[int, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = list(range(1, len(losses) + 1))
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    ax.plot(steps, losses, color="#1f77b4", alpha=0.35, linewidth=1, label="train loss")
    ax.plot(steps, smooth(losses), color="#1f77b4", linewidth=2, label="train loss (smoothed)")
    if evals:
        ax.plot([s for s, _ in evals], [v for _, v in evals], "o-", color="#d62728", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"training loss of {path.parent.name}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def load_resume_state(cfg: TrainConfig) -> dict:
    """trainer_state.pt of `resume_from_checkpoint`, checked before anything heavy loads."""
    ckpt = Path(cfg.resume_from_checkpoint)
    if not (ckpt / STATE_FILE).is_file():
        raise ConfigError(f"resume_from_checkpoint: {ckpt} has no {STATE_FILE} (not a checkpoint directory)")
    # Our own file: it holds python/numpy RNG states, which the weights-only loader refuses.
    state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=False)
    for key in ("finetuning_type", "per_device_train_batch_size", "gradient_accumulation_steps", "seed",
                "packing", "val_size"):
        if state["config"].get(key) != getattr(cfg, key):
            raise ConfigError(f"resume_from_checkpoint: the checkpoint was trained with {key}="
                              f"{state['config'].get(key)!r}, this config has {getattr(cfg, key)!r}")
    return state


# Steps between reads of the losses when nothing else (a log line, eval, a checkpoint) reads them sooner: a
# non-finite loss stops the run at most this many steps late.
SETTLE_EVERY = 16


def train(cfg: TrainConfig, sink: EventSink) -> dict:
    # ---------------------------------------------------------------- setup
    t_setup = time.time()
    dist = distributed.setup()  # under torchrun: DDP/FSDP2 (distributed.py); else a no-op
    sink = dist.quiet(sink)
    device, dtype, warnings = resolve_device(cfg)
    device = dist.device(device)
    model_dir = Path(cfg.model_name_or_path)
    if not model_dir.is_dir():
        raise ConfigError(f"model_name_or_path: directory {model_dir} not found")
    load_config(model_dir)  # unsupported architectures fail here, before tokenizing or loading weights
    resume = load_resume_state(cfg) if cfg.resume_from_checkpoint else None
    torch.manual_seed(cfg.seed)

    try:
        template = load_template(cfg.template, model_dir)
    except (TemplateError, ValueError) as e:
        raise ConfigError(f"template: {e}") from None
    examples, stats = load_examples(cfg.dataset_dir, cfg.dataset, template, cfg.cutoff_len, cfg.max_samples,
                                    cfg.train_on_prompt, cfg.mask_history)
    train_set, val_set = split_examples(examples, cfg.val_size, cfg.seed)
    stats.num_samples, stats.num_eval_samples = len(train_set), len(val_set)
    rows = pack_examples(train_set, cfg.cutoff_len) if cfg.packing else train_set
    stats.num_rows = len(rows)

    phases = {"data": time.time() - t_setup}  # seconds per setup phase, for the log
    t_phase = time.time()
    model = load_pretrained(model_dir, dtype=dtype, device=device)
    phases["weights"], t_phase = time.time() - t_phase, time.time()
    torch.manual_seed(cfg.seed)  # LoRA init depends only on the seed, not on what ran before
    lora = LoraSettings(targets=cfg.lora_target, r=cfg.lora_rank, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout,
                        use_rslora=cfg.use_rslora, use_dora=cfg.use_dora)
    try:
        trainable, total = prepare_model(model, cfg.finetuning_type, lora=lora,
                                         freeze_trainable_layers=cfg.freeze_trainable_layers,
                                         freeze_trainable_modules=cfg.freeze_trainable_modules)
    except ValueError as e:  # a setting that does not fit this model (e.g. more freeze layers than it has)
        msg = str(e)
        field = next((f for f in ("freeze_trainable_layers", "freeze_trainable_modules", "lora_target")
                      if msg.startswith(f)), "finetuning_type")
        raise ConfigError(msg if msg.startswith(field + ":") else f"{field}: {msg}") from None
    phases["adapters"], t_phase = time.time() - t_phase, time.time()
    # GPU fast path (fast.py): packed varlen micro-batches, same loss; None = the reference path below.
    fast, fast_msg = for_training(cfg, model, device, sum(len(r.input_ids) for r in rows) * cfg.num_train_epochs,
                                  dist)
    if cfg.gradient_checkpointing and fast is None:
        enable_gradient_checkpointing(model)
    model.train()
    # What forward passes go through (DDP/FSDP2 or the model). The fast path runs the blocks itself, so
    # under DDP it gets no wrapper and gradients are averaged by dist.sync_grads after each window.
    fwd_model = dist.wrap(model, device, manual_grads=fast is not None)
    params = [p for p in model.parameters() if p.requires_grad]
    # CUDA graphs of the fast path's forward + backward (fast_graph.py); None = run it eagerly.
    graphs, graphs_msg = fast_graph.for_training(fast, params, device, dtype)
    phases["training setup"] = time.time() - t_phase

    optimizer = build_optimizer(model, cfg.learning_rate, cfg.weight_decay)
    micro_per_epoch = math.ceil(len(rows) / cfg.per_device_train_batch_size)
    accum = cfg.gradient_accumulation_steps * dist.world  # micro-batches per optimizer step, all ranks
    steps_per_epoch = math.ceil(micro_per_epoch / accum)
    total_steps = cfg.max_steps or math.ceil(cfg.num_train_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(cfg.lr_scheduler_type, warmup_steps(cfg, total_steps), total_steps))
    autocast = (torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext())
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None

    step, epoch, step_in_epoch, tokens, losses, evals = 0, 0, 0, 0, [], []
    if resume is not None:
        named = dict(model.named_parameters())
        if set(resume["trainable"]) != {n for n, p in named.items() if p.requires_grad}:
            raise ConfigError("resume_from_checkpoint: its trainable parameters do not match this model/config")
        with torch.no_grad():
            for n, t in resume["trainable"].items():
                named[n].copy_(t)
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        if scaler is not None and resume.get("scaler"):
            scaler.load_state_dict(resume["scaler"])
        step, epoch, step_in_epoch = resume["global_step"], resume["epoch"], resume["step_in_epoch"]
        tokens, losses, evals = resume["tokens"], list(resume["losses"]), [tuple(e) for e in resume["evals"]]
        set_rng_state(resume["rng"])  # last: everything above may have drawn random numbers

    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "trainer_log.jsonl" if dist.is_main else Path(os.devnull)
    kept = []
    if resume is not None and log_path.exists():  # keep the history up to the checkpoint
        kept = [line for line in log_path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
    log_file = open(log_path, "w", encoding="utf-8")
    log_file.writelines(line + "\n" for line in kept)

    def record(event) -> dict:
        d = sink.emit(event)
        log_file.write(json.dumps(d) + "\n")
        log_file.flush()
        return d

    sink.emit(Started(
        total_steps=total_steps, num_samples=len(train_set), num_epochs=round(total_steps / steps_per_epoch, 4),
        trainable_params=trainable, total_params=total, device=str(device),
        dtype=str(dtype).removeprefix("torch."), output_dir=str(out_dir), num_eval_samples=len(val_set) or None,
    ))
    sink.log(
        f"loaded {len(examples)} samples from {', '.join(cfg.dataset)} "
        f"({stats.truncated} truncated, {stats.dropped} dropped)",
        level="warning" if stats.truncated or stats.dropped else "info",
    )
    for w in warnings:
        sink.log(w, level="warning")
    if val_set:
        sink.log(f"held out {len(val_set)} samples for eval loss every {cfg.eval_steps} steps")
    if cfg.packing:
        sink.log(f"packed {len(train_set)} samples into {len(rows)} rows of at most {cfg.cutoff_len} tokens")
    if fast_msg:
        sink.log(fast_msg)
    if graphs_msg:
        sink.log(graphs_msg)
    if resume is not None:
        sink.log(f"resumed from {cfg.resume_from_checkpoint} at step {step} (epoch {epoch}, "
                 f"step {step_in_epoch} of that epoch)")
    sink.log(f"setup took {time.time() - t_setup:.1f}s ("
             + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items())
             + f"); {total_steps} steps, {steps_per_epoch} per epoch")

    def save_checkpoint(path: Path, windows_in_epoch: int) -> Path:
        save_trained(model, path, cfg.finetuning_type, model_dir)
        done_epoch = windows_in_epoch and step_in_epoch >= windows_in_epoch
        e, s = (epoch + 1, 0) if done_epoch else (epoch, step_in_epoch)
        # trainer_state.pt is written last and atomically (temp file + rename): a checkpoint
        # that has it is complete, which is what the worker checks before resuming from it.
        tmp_state = path / (STATE_FILE + ".tmp")
        torch.save({
            "global_step": step, "epoch": e, "step_in_epoch": s, "tokens": tokens, "losses": losses,
            "evals": evals, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None, "rng": rng_state(),
            "trainable": {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad},
            "config": {k: getattr(cfg, k) for k in ("finetuning_type", "per_device_train_batch_size",
                                                    "gradient_accumulation_steps", "seed", "packing", "val_size")},
        }, tmp_state)
        os.replace(tmp_state, path / STATE_FILE)
        return path
    save_checkpoint = dist.saving(save_checkpoint, model)  # rank 0 writes (fsdp: all ranks gather first)

    # ---------------------------------------------------------------- train
    window_losses, windows, t0 = [], [], time.time()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # step events report training peaks, not loading's
    tokens_at_start = tokens
    pending: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (step, loss, grad norm) not yet read back

    def settle() -> float:
        """Read the pending steps' losses back (one wait for the GPU), append them to the history, stop on a
        non-finite loss; returns the last step's gradient norm."""
        grad_norm = float("nan")
        for s, loss_t, norm_t in pending:
            step_loss, grad_norm = float(loss_t), float(norm_t)
            if not math.isfinite(step_loss):
                raise FloatingPointError(f"loss became {step_loss} at step {s}")
            losses.append(step_loss)
            window_losses.append(step_loss)
        pending.clear()
        return grad_norm

    try:
        while step < total_steps:
            batches = list(epoch_batches(rows, cfg.per_device_train_batch_size, cfg.seed, epoch, template.pad))
            windows = [batches[w : w + accum]
                       for w in range(0, len(batches), accum)]
            for window in windows[step_in_epoch:]:
                # Normalise by the labelled tokens of the whole window, so every token weighs
                # the same regardless of how it was split into micro-batches.
                n_window = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
                # The loss stays on the device: reading it here would make the host wait for every step, and
                # the GPU then idles while the host prepares the next one (settle() reads a batch of them).
                loss_sum, tokens_before = torch.zeros((), device=device), tokens
                # (batch, weight) pairs this rank runs: the fast path packs this rank's micro-batches
                # (all of the window in a single process); otherwise each rank takes its padded share.
                mine = ([(b, 1) for b in fast.pack(dist.share_batches(window))] if fast is not None
                        else dist.share(window))
                for i, (b, weight) in enumerate(mine):
                    scale = weight * dist.world / max(1, n_window)  # ranks' gradients are averaged
                    if graphs is not None:  # forward + backward: one CUDA graph replay
                        loss = graphs.run(b, scale)
                    else:
                        with autocast, dist.accumulating(fwd_model, last=i == len(mine) - 1):
                            if fast is not None:
                                loss, _ = fast.loss(b, device)
                            else:
                                loss, _ = lm_loss(model, forward_batch(fwd_model, b, device), b["labels"].to(device))
                        scaled = loss * scale
                        (scaler.scale(scaled) if scaler is not None else scaled).backward()
                    loss_sum += loss.detach().float() * weight
                    tokens += int(b["attention_mask"].sum()) * int(weight)
                dist.sync_grads(params)  # fast path under DDP: the ranks' gradients averaged here
                if dist.enabled:  # summed over ranks (a host value: the all-reduce syncs anyway)
                    loss_sum, tokens = dist.step_totals(float(loss_sum), tokens, tokens_before)
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if cfg.max_grad_norm > 0:
                    grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                else:
                    grads = [p.grad.norm() for p in params if p.grad is not None]
                    grad_norm = torch.linalg.vector_norm(torch.stack(grads)) if grads else torch.zeros(())
                lr = scheduler.get_last_lr()[0]
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                scheduler.step()
                # CUDA graphs accumulate into the same .grad tensors every step: zero them, keep them.
                optimizer.zero_grad(set_to_none=graphs is None)
                step += 1
                step_in_epoch += 1
                pending.append((step, loss_sum / max(1, n_window), grad_norm))
                epoch_now = round(step / steps_per_epoch, 2)
                log_now = step == 1 or step % cfg.logging_steps == 0 or step == total_steps
                eval_now = bool(val_set) and (step % cfg.eval_steps == 0 or step == total_steps)
                save_now = bool(cfg.save_steps) and step % cfg.save_steps == 0 and step < total_steps
                if log_now or eval_now or save_now or step >= total_steps or len(pending) >= SETTLE_EVERY:
                    grad_norm = settle()

                if log_now:
                    elapsed = time.time() - t0
                    gpu_mem = None
                    if device.type == "cuda":  # peak allocated since the previous step event
                        gpu_mem = round(torch.cuda.max_memory_allocated(device) / 1024**3, 2)
                        torch.cuda.reset_peak_memory_stats(device)
                    event = record(Step(
                        step=step, total_steps=total_steps, epoch=epoch_now,
                        loss=round(sum(window_losses) / len(window_losses), 4), lr=lr,
                        grad_norm=round(grad_norm, 4) if math.isfinite(grad_norm) else None,
                        tokens=tokens, tokens_per_sec=round((tokens - tokens_at_start) / max(elapsed, 1e-9), 1),
                        elapsed_s=round(elapsed, 2), gpu_mem_gib=gpu_mem,
                    ))
                    window_losses = []
                    print(f"step {step}/{total_steps} loss {event['loss']:.4f} lr {lr:.2e} "
                          f"grad_norm {grad_norm:.3f} {event['tokens_per_sec']:.0f} tok/s",
                          file=sys.stderr, flush=True)
                if eval_now:
                    eval_loss = evaluate(model, val_set, cfg.per_device_train_batch_size, template.pad, device,
                                         autocast)
                    evals.append((step, eval_loss))
                    record(Eval(step=step, epoch=epoch_now, eval_loss=round(eval_loss, 4)))
                if save_now:
                    ckpt = save_checkpoint(out_dir / f"checkpoint-{step}", len(windows))
                    sink.emit(Checkpoint(step=step, path=str(ckpt)))
                if step >= total_steps:
                    break
            else:
                epoch, step_in_epoch = epoch + 1, 0
        runtime = time.time() - t0
        if graphs is not None:
            sink.log(f"CUDA graphs: {graphs.captures} recorded" + (
                f"; turned off after a failed capture ({graphs.disabled}): the rest ran eagerly"
                if graphs.disabled else ""), level="warning" if graphs.disabled else "info")

        # ------------------------------------------------------------ save
        # The final result goes to output_dir itself, with its trainer_state.pt: resumable too.
        save_checkpoint(out_dir, len(windows))
    finally:
        log_file.close()
    eval_loss = round(evals[-1][1], 4) if evals else None
    train_loss = round(sum(losses) / len(losses), 4)
    results = {"train_loss": train_loss, "eval_loss": eval_loss, "tokens_seen": tokens,
               "runtime_s": round(runtime, 2), "num_samples": len(train_set),
               "num_eval_samples": len(val_set), "truncated": stats.truncated, "dropped": stats.dropped,
               "global_step": step, "epoch": round(step / steps_per_epoch, 4)}
    if dist.is_main:
        (out_dir / "all_results.json").write_text(json.dumps(results, indent=2) + "\n")
    done = sink.emit(Done(
        step=step, train_loss=train_loss, runtime_s=round(runtime, 2), tokens_seen=tokens,
        adapter_path=str(out_dir), eval_loss=eval_loss,
    ))
    # The PNG is a keepsake (the dashboard draws its own charts), so "done" does not wait for matplotlib's
    # import and rendering (about a second); the process still exits only after it is written.
    try:
        if dist.is_main:
            plot_loss(out_dir / "training_loss.png", losses, evals)
    except ImportError:
        sink.log("matplotlib is not installed; training_loss.png was not written", level="warning")

    # ------------------------------------------------------------ cleanup
    dist.close()
    del model, fwd_model, optimizer, graphs
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {**done, "losses": losses, "evals": evals}
