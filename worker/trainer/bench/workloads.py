"""Benchmark workloads, built as tuneboard_trainer.data Examples and collated by data.collate.

fixed     batch 2 x 1024 tokens, no padding.
variable  instruction-like sample lengths: lognormal with median 350 tokens and sigma 1.0
          (mean before clipping 350 * e^0.5 = 577), clipped to [32, cutoff 2048]; batch 2 in the
          drawn (random) order, right-padded per batch to its longest sample -- LLaMA-Factory's
          per-batch padding. The empirical mean / median / padding share are reported with the results.
          `variable` with packing (ours only): the same samples packed by data.pack_examples into rows
          of at most 2048 tokens (block-diagonal mask, positions restart), batch 2 rows.

Every sample is random token ids; the first 30 % of each sample (at least 1 token) is the "prompt"
(label -100), the rest is the labelled reply, as in supervised fine-tuning with train_on_prompt off.
"""

from __future__ import annotations

import math

import torch

from tuneboard_trainer.data import Example, collate, pack_examples
from tuneboard_trainer.templates import IGNORE_INDEX

PROMPT_FRACTION = 0.3
VAR_MEDIAN, VAR_SIGMA, VAR_MIN = 350, 1.0, 32
PAD_ID = 0


def make_example(n: int, vocab: int, g: torch.Generator) -> Example:
    ids = torch.randint(1, vocab, (n,), generator=g).tolist()
    p = max(1, int(round(PROMPT_FRACTION * n)))
    return Example(ids, [IGNORE_INDEX] * p + ids[p:])


def variable_lengths(count: int, cutoff: int, g: torch.Generator, median: float = VAR_MEDIAN,
                     sigma: float = VAR_SIGMA, lo: int = VAR_MIN) -> list[int]:
    z = torch.randn(count, generator=g, dtype=torch.float64)
    lens = torch.exp(math.log(median) + sigma * z).round().clamp(lo, cutoff)
    return [int(x) for x in lens]


def fixed_batches(n_batches: int, seq: int, vocab: int, seed: int, batch: int = 2) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [collate([make_example(seq, vocab, g) for _ in range(batch)], PAD_ID) for _ in range(n_batches)]


def variable_examples(n_samples: int, cutoff: int, vocab: int, seed: int, median: float = VAR_MEDIAN) -> list[Example]:
    g = torch.Generator().manual_seed(seed)
    return [make_example(n, vocab, g) for n in variable_lengths(n_samples, cutoff, g, median=median)]


def pad_to_multiple(b: dict, multiple: int) -> dict:
    """Right-pad a collated (unpacked) batch to a multiple of `multiple` tokens (LLaMA-Factory's collator: 8)."""
    T = b["input_ids"].shape[1]
    extra = (-T) % multiple
    if multiple <= 1 or extra == 0 or "position_ids" in b:
        return b
    B = b["input_ids"].shape[0]
    cat = lambda t, v: torch.cat([t, torch.full((B, extra), v, dtype=t.dtype)], dim=1)  # noqa: E731
    return {"input_ids": cat(b["input_ids"], PAD_ID), "labels": cat(b["labels"], IGNORE_INDEX),
            "attention_mask": cat(b["attention_mask"], 0)}


def padded_batches(examples: list[Example], batch: int = 2, pad_multiple: int = 1) -> list[dict]:
    return [pad_to_multiple(collate(examples[s : s + batch], PAD_ID), pad_multiple)
            for s in range(0, len(examples), batch)]


def packed_batches(examples: list[Example], cutoff: int, batch: int = 2) -> list[dict]:
    return padded_batches(pack_examples(examples, cutoff), batch)


def length_stats(examples: list[Example]) -> dict:
    lens = sorted(len(e.input_ids) for e in examples)
    n = len(lens)
    med = lens[n // 2] if n % 2 else (lens[n // 2 - 1] + lens[n // 2]) / 2
    return {"samples": n, "mean": round(sum(lens) / n, 1), "median": med, "min": lens[0], "max": lens[-1],
            "p90": lens[min(n - 1, int(0.9 * n))]}


def batch_stats(batches: list[dict]) -> dict:
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    slots = sum(b["input_ids"].numel() for b in batches)
    return {"batches": len(batches), "real_tokens": real, "padded_slots": slots,
            "padding_share": round(1 - real / slots, 4)}
