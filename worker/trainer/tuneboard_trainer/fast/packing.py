"""Padding-free packing: the samples of one optimizer step laid end to end in micro-batches of <= max_tokens.

All samples of one gradient-accumulation window become one (N,) token stream per micro-batch, split only at
sample boundaries and at `max_tokens`. Each sample keeps its own positions (restarting at 0) and attends only
to itself, so no padding is computed. The caller normalises by the window's labelled token count exactly as
the reference path does, so the loss (a per-token mean over the window) is unchanged.
"""

from __future__ import annotations

import torch

from ..templates import IGNORE_INDEX


def _segments(b: dict) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) of every sample in a collated batch (padding dropped; packed rows split)."""
    ids, labels, mask = b["input_ids"], b["labels"], b["attention_mask"]
    out = []
    for r in range(ids.shape[0]):
        n = int(mask[r].sum())
        row_ids, row_labels = ids[r, :n].tolist(), labels[r, :n].tolist()
        if "position_ids" in b:  # a packed row (data.pack_examples): positions restart at 0 per sample
            pos = b["position_ids"][r, :n].tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [n]
            out += [(row_ids[s:e], row_labels[s:e]) for s, e in zip(starts, starts[1:]) if e > s]
        elif n:
            out.append((row_ids, row_labels))
    return out


def _greedy_groups(segs: list, cap: int) -> list[list]:
    """Consecutive samples, a new group whenever the next one would pass `cap` tokens."""
    groups, cur, cur_n = [], [], 0
    for s in segs:
        if cur and cur_n + len(s[0]) > cap:
            groups.append(cur)
            cur, cur_n = [], 0
        cur.append(s)
        cur_n += len(s[0])
    if cur:
        groups.append(cur)
    return groups


def _balanced_groups(segs: list, max_tokens: int) -> list[list]:
    """As few micro-batches as greedy filling to max_tokens gives, but with the tokens spread evenly.

    Greedy filling leaves a short last micro-batch (4,800 tokens at max 4,096: 4,096 + 704), which costs
    nearly a full launch-bound pass; the smallest cap that still needs no more groups (binary search, order
    kept) gives 2,400 + 2,400. Same samples, same loss: only where the splits fall changes.
    """
    groups = _greedy_groups(segs, max_tokens)
    if len(groups) <= 1:
        return groups
    total = sum(len(s[0]) for s in segs)
    lo, hi = max(-(-total // len(groups)), max(len(s[0]) for s in segs)), max_tokens
    while lo < hi:
        mid = (lo + hi) // 2
        if len(_greedy_groups(segs, mid)) <= len(groups):
            hi = mid
        else:
            lo = mid + 1
    return _greedy_groups(segs, lo)


def pack_window(batches: list[dict], max_tokens: int) -> list[dict]:
    """The samples of `batches` (one optimizer step) as padding-free micro-batches of <= max_tokens tokens.

    Target of position t within a sample = its label at t + 1 (the last position: none), which is exactly
    what lm_loss's shift gives on a padded row (padding and the next packed sample's first label are -100).
    A sample longer than max_tokens gets a micro-batch of its own. Micro-batches are balanced in length
    (`_balanced_groups`).
    """
    segs = [s for b in batches for s in _segments(b)]
    groups = _balanced_groups(segs, max_tokens)
    out = []
    for g in groups:
        ids, pos, tgt, cu = [], [], [], [0]
        for s_ids, s_labels in g:
            ids += s_ids
            pos += range(len(s_ids))
            tgt += s_labels[1:] + [IGNORE_INDEX]
            cu.append(cu[-1] + len(s_ids))
        N = len(ids)
        out.append({
            "input_ids": torch.tensor(ids, dtype=torch.long)[None],  # (1, N)
            "position_ids": torch.tensor(pos, dtype=torch.long),  # (N,)
            "targets": torch.tensor(tgt, dtype=torch.long),  # (N,) next-token label, -100 = none
            "cu_seqlens": torch.tensor(cu, dtype=torch.int32),  # (samples + 1,)
            "max_len": max(len(s[0]) for s in g),
            # The train loop counts tokens from these (all real) and labelled positions from "labels".
            "attention_mask": torch.ones((1, N), dtype=torch.long),
            "labels": torch.tensor([IGNORE_INDEX] + tgt[:-1], dtype=torch.long)[None],  # (1, N)
        })
    return out
