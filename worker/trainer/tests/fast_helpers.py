"""Shared by test_fast.py (CPU) and test_gpu_fast.py (CUDA): a random LoRA model and the two paths' losses."""

import contextlib

import torch

from tuneboard_trainer.data import Example, collate, pack_examples
from tuneboard_trainer.fast import FastPath
from tuneboard_trainer.lora import apply_lora
from tuneboard_trainer.model import ModelConfig, Transformer, rope_inv_freq
from tuneboard_trainer.loss import lm_loss
from tuneboard_trainer.train import forward_batch
from tuneboard_trainer.templates import IGNORE_INDEX

SMALL = dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, rope_theta=500000.0,
             rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 8192})


def random_model(shape: dict, device="cpu", dtype=torch.float32, seed=0, layers=None) -> Transformer:
    """Random weights (std 0.02, norms 1), no adapter yet."""
    cfg = ModelConfig(**{**shape, **({"num_hidden_layers": layers} if layers else {})})
    torch.manual_seed(seed)
    with torch.device(device):
        model = Transformer(cfg)
        for name, p in model.named_parameters():
            if "norm" in name:
                p.data.fill_(1.0)
            else:
                p.data.normal_(0.0, 0.02)
        model.to(dtype)
        model.inv_freq = rope_inv_freq(cfg).to(device)
    return model


def with_random_lora(model: Transformer, device=None) -> Transformer:
    """LoRA r8 on all 7 projections (created under `device` when given), fp32 adapters with a random (non-zero)
    B; in training mode."""
    with torch.device(device) if device is not None else contextlib.nullcontext():
        apply_lora(model, "all", r=8, alpha=16)
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()
            if "lora_B" in name:
                p.data.normal_(0.0, 0.02)  # B = 0 would make every A gradient zero
    return model.train()


def lora_model(shape: dict, device="cpu", dtype=torch.float32, seed=0, layers=None) -> Transformer:
    """Random weights (std 0.02), LoRA r8 on all 7 projections with a random (non-zero) B, fp32 adapters."""
    return with_random_lora(random_model(shape, device, dtype, seed, layers), device)


def examples(lengths, vocab, seed=0, prompt=0.3):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(1, vocab, (n,), generator=g).tolist()
        p = max(1, int(prompt * n))
        out.append(Example(ids, [IGNORE_INDEX] * p + ids[p:]))
    return out


def padded_window(exs, batch=2):
    return [collate(exs[s : s + batch], 0) for s in range(0, len(exs), batch)]


def packed_rows_window(exs, cutoff, batch=2):
    return padded_window(pack_examples(exs, cutoff), batch)


def grads(model):
    return {n: p.grad.detach().float().clone() for n, p in model.named_parameters() if p.grad is not None}


def reference_loss(model, window, device, autocast):
    """Summed loss / labelled count over the window through the reference path, and adapter gradients."""
    model.zero_grad(set_to_none=True)
    total, n_all = 0.0, 0
    n_window = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
    for b in window:
        with autocast:
            loss, n = lm_loss(model, forward_batch(model, b, device), b["labels"].to(device))
        (loss / n_window).backward()
        total += float(loss)
        n_all += n
    return total / n_all, n_all, grads(model)


def fast_loss(model, window, device, autocast, **kw):
    model.zero_grad(set_to_none=True)
    fp = FastPath(model, **{"max_tokens": 4096, **kw})
    n_window = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
    total, n_all = 0.0, 0
    for mb in fp.pack(window):
        with autocast:
            loss, n = fp.loss(mb, device)
        (loss / n_window).backward()
        total += float(loss)
        n_all += n
    return total / n_all, n_all, grads(model)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def graph_loss(model, window, device, dtype, sg=None, **kw):
    """As fast_loss, through fast.graph.StepGraphs: CUDA graph replays on a GPU; on the CPU (no graphs) the same
    recorded body on the same static, padded buffers, run eagerly. Returns (loss, count, grads, StepGraphs).
    Gradients are zeroed in place (the graphs keep their .grad tensors)."""
    from tuneboard_trainer.fast.graph import StepGraphs, _Slot

    if sg is None:
        model.zero_grad(set_to_none=True)
        fp = FastPath(model, **{"max_tokens": 4096, **kw})
        sg = StepGraphs(fp, [p for p in model.parameters() if p.requires_grad], device, dtype)
    else:
        for p in sg.params:
            if p.grad is not None:
                p.grad.zero_()
    n_window = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
    total = 0.0
    for mb in sg.fast.pack(window):
        if device.type == "cuda":
            loss = sg.run(mb, 1.0 / n_window)
        else:
            key, host = sg.layout(mb, 1.0 / n_window)
            sg._ensure_grads()
            slot = _Slot(key, device)
            slot.fill(host)
            sg._body(slot)
            loss = slot.loss
        total += float(loss)
    return total / n_window, n_window, grads(model), sg
