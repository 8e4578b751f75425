"""CUDA graphs of a dpo micro-batch on the fast path: reference pass, policy pass, pair loss and backward recorded
as one graph per bucketed layout, replayed with one launch (graph.py's StepGraphs, for stages.PreferenceStep).

Why: compiled, a Llama-3.1-8B DPO step of 2 pairs x 2 x 512 tokens runs 165 ms of kernels in a 193 ms step on
an H200; the rest is the host queueing ~10,000 kernels (two passes of 32 blocks, the backward, the loss).

The layout is StepGraphs' (tokens, sequences, longest sequence and labelled rows rounded up to buckets, the
padding tokens one extra document), plus what the pair loss reads: the number of pairs P (part of the key:
documents 0 .. P-1 are the chosen rows, P .. 2P-1 the rejected ones, as stages.pair_batch orders them), the
document of every labelled row (padding rows add into a spare slot no loss reads) and each document's labelled
token count. Inside the graph (fast/preference.py's steps on static buffers):

  reference  no_grad, adapters zeroed (or the frozen SFT adapter swapped in): summed log-probs per document,
             kept in the step's ReferenceCache; a layout whose pairs are all cached reads them instead;
  policy     the same with gradients; pair_loss (preference.py) over chosen / rejected; backward of
             loss x scale into the adapters' .grad tensors, which stay allocated (zero_grad(set_to_none=False)).

The loss and the per-pair metrics are copied into buffers the first (eager) pass of a layout allocates, so every
layout is warmed up before recording. Not for kto (its KL rows) or rm (its value head): those run eagerly.
"""

from __future__ import annotations

import torch

from ..preference import pair_loss
from ..templates import IGNORE_INDEX
from .graph import StepGraphs, _pow2, _round_up, _Slot
from .preference import _hidden, _LinearLogProbs, adapters_zeroed, pack_rows
from .shared_prompt import labelled_rows, pack_pairs
from .weights import HostEmbedding


class _PairSlot(_Slot):
    """_Slot's buffers plus each labelled row's document, each document's labelled count and the pairs'
    reference log-probs: read by a layout whose pairs are all in the step's ReferenceCache (`known`), written by
    the reference pass otherwise. A layout with shared prompts (NE > 0 expanded tokens) adds the gather and pick
    indices of shared_prompt.py."""

    FIELDS = _Slot.FIELDS + ("doc", "counts")

    def __init__(self, key: tuple, device):
        N, S, L, M, P, known, NE = key
        super().__init__((N, S, L, M), device)
        self.key, self.pairs, self.known = key, P, known
        self.doc = torch.zeros((M,), dtype=torch.long, device=device)  # (M,) document of each labelled row
        self.counts = torch.zeros((S,), dtype=torch.long, device=device)  # (S,) labelled tokens per document
        self.ref = torch.zeros((2 * P,), dtype=torch.float32, device=device)  # (2P,) chosen, then rejected
        self.expand = torch.zeros((NE,), dtype=torch.long, device=device) if NE else None  # (NE,) unique index
        self.pick = torch.zeros((N,), dtype=torch.long, device=device) if NE else None  # (N,) expanded index
        self.metrics: dict[str, torch.Tensor] = {}  # outputs: (P,) per-pair metrics, allocated by the warm-up

    def fill(self, host: dict) -> None:
        super().fill(host)
        if self.expand is not None:
            self.expand.copy_(host["expand"], non_blocking=True)
            self.pick.copy_(host["pick"], non_blocking=True)
        if self.known:  # already on the device (the cache's table): an ordered device copy
            self.ref.copy_(host["ref"])


class PairGraphs(StepGraphs):
    """A PreferenceStep's dpo micro-batches through CUDA graphs: run(batch, scale) -> (summed loss, metrics)."""

    warm_up_always = True

    def __init__(self, step, fast, params: list[torch.nn.Parameter], device, dtype: torch.dtype, **kw):
        if step.cfg.stage != "dpo":
            raise ValueError(f"PairGraphs records dpo micro-batches, not stage {step.cfg.stage}")
        super().__init__(fast, params, device, dtype, **kw)
        self.step = step

    def _new_slot(self, key) -> _PairSlot:
        return _PairSlot(key, self.device)

    def layout(self, batch: dict, scale: float) -> tuple[tuple, dict]:
        """The key (N, S, L, M, P, known, NE) of a collated pair batch (chosen rows, then rejected rows; known: its
        reference log-probs are cached, so the graph has no reference pass; NE: expanded tokens when the pairs'
        prompts are shared, else 0) and its static-buffer contents (pinned on CUDA)."""
        if self.fast.shares_prompts:
            mb = pack_pairs(batch["input_ids"], batch["labels"], batch["attention_mask"])
            (N, S, L, M, NE), host = self._shared_layout(mb, scale)
        else:
            mb = pack_rows(batch["input_ids"], batch["labels"], batch["attention_mask"])
            (N, S, L, M), host = super().layout(mb, scale)
            NE = 0
        P = (len(mb["cu_seqlens"]) - 1) // 2
        _, _, real = labelled_rows(mb)  # (m,) the labelled rows' documents
        doc = torch.full((M,), S, dtype=torch.long)  # padding rows: the spare slot S
        doc[: len(real)] = real
        host["doc"] = doc
        host["counts"] = torch.bincount(real, minlength=S)[:S]
        if self.device.type == "cuda":
            host = {k: v if v.is_pinned() else v.pin_memory() for k, v in host.items()}
        ref = self.step.known_reference(batch) if self.step.reference else None
        if ref is not None:
            host["ref"] = ref
        return (N, S, L, M, P, ref is not None, NE), host

    def _shared_layout(self, mb: dict, scale: float) -> tuple[tuple, dict]:
        """StepGraphs.layout's buckets for shared_prompt.pack_pairs' layout: N unique and NE expanded tokens
        (multiples of the bucket; the expanded padding is one more document, made of the unique padding tokens),
        S documents, L the longest, M labelled rows; plus the gather (expand) and pick indices."""
        n, n_e = mb["input_ids"].shape[1], mb["expand"].shape[0]
        N, NE = _round_up(n, self.bucket), _round_up(n_e, self.bucket)
        pad, pad_e = N - n, NE - n_e
        cu = mb["cu_seqlens"].tolist() + ([NE] if pad_e else [])
        S = _pow2(len(cu) - 1)
        L = min(NE, max(128, _pow2(max(mb["max_len"], pad_e))))
        rows, targets, _ = labelled_rows(mb)
        m = len(rows)
        M = _round_up(max(m, 1), 2 * self.bucket)
        ids = torch.zeros((1, N), dtype=torch.long)
        ids[0, :n] = mb["input_ids"][0]
        # Padding: expanded tokens read unique padding tokens (or token 0 when there are none), unique padding
        # tokens pick from the expanded padding (or position 0): outputs no loss reads.
        expand_pad = n + torch.arange(pad_e) % pad if pad else torch.zeros(pad_e, dtype=torch.long)
        pick_pad = n_e + torch.arange(pad) % pad_e if pad_e else torch.zeros(pad, dtype=torch.long)
        idx, y, w = torch.zeros(M, dtype=torch.long), torch.zeros(M, dtype=torch.long), torch.zeros(M)
        idx[:m], y[:m], w[:m] = rows, targets, 1.0
        host = {"ids": ids, "pos": torch.cat([mb["position_ids"], torch.arange(pad, dtype=torch.long)]),
                "cu": torch.tensor(cu + [NE] * (S + 1 - len(cu)), dtype=torch.int32), "idx": idx, "y": y, "w": w,
                "scale": torch.tensor(float(scale), dtype=torch.float32),
                "expand": torch.cat([mb["expand"], expand_pad]), "pick": torch.cat([mb["pick"], pick_pad])}
        emb = self.fast.model.model.embed_tokens
        if isinstance(emb, HostEmbedding):
            host["x0"] = emb.lookup(ids[0])  # (N, D)
        return (N, S, L, M, NE), host

    def static_mb(self, slot: _PairSlot) -> dict:
        mb = StepGraphs.static_mb(slot)
        if slot.expand is not None:
            mb["expand"], mb["pick"] = slot.expand, slot.pick
        return mb

    def _sums(self, mb: dict, slot: _PairSlot) -> torch.Tensor:
        """(S,) summed log-probs of each document's labelled tokens (document_logps on static buffers)."""
        model = self.fast.model
        h = _hidden(self.fast, mb, self.device)  # (N, D)
        logp = _LinearLogProbs.apply(h.index_select(0, slot.idx), model.lm_head.weight, slot.y, self.fast.loss_chunk,
                                     self.fast.logit_softcap)  # (M,)
        S = slot.counts.shape[0]
        return torch.zeros(S + 1, dtype=torch.float32, device=h.device).index_add(0, slot.doc, logp)[:S]

    def _reference(self):
        step = self.step
        if step.reference_weights is not None:
            from ..stages import weights_swapped

            return weights_swapped(self.fast.model, step.reference_weights)
        return adapters_zeroed(self.fast.model)

    def _body(self, slot: _PairSlot) -> None:
        cfg, P = self.step.cfg, slot.pairs
        mb = self.static_mb(slot)
        with self.cast(recording=True):
            ref_c = ref_r = None
            if self.step.reference:
                if not slot.known:
                    with torch.no_grad(), self._reference():
                        slot.ref.copy_(self._sums(mb, slot)[: 2 * P])
                ref_c, ref_r = slot.ref.chunk(2)
            c, r = self._sums(mb, slot)[: 2 * P].chunk(2)
            nc, nr = slot.counts[: 2 * P].chunk(2)
            losses, metrics = pair_loss(cfg.pref_loss, cfg.pref_beta, c, r, nc, nr, ref_c, ref_r, ftx=cfg.pref_ftx,
                                        simpo_gamma=cfg.simpo_gamma)
            loss = losses.sum()
        (loss * slot.scale).backward()
        slot.loss.copy_(loss.detach())
        for k, v in metrics.items():
            if k not in slot.metrics:  # the warm-up pass, outside the graph
                slot.metrics[k] = torch.empty_like(v, memory_format=torch.contiguous_format)
            slot.metrics[k].copy_(v.detach())

    def eager_pair(self, batch: dict, scale: float) -> tuple[torch.Tensor, dict]:
        with self.cast(recording=False):
            loss, metrics = self.step(self.fast.model, batch, self.device)
        (loss * scale).backward()
        return loss.detach(), metrics

    def run(self, batch: dict, scale: float) -> tuple[torch.Tensor, dict]:
        """Forward + backward of one collated pair batch, its loss multiplied by `scale` for backward; returns the
        summed (unscaled) loss (0-d) and the per-pair metrics, as PreferenceStep would."""
        if self.disabled is not None or not (batch["labels"][:, 1:] != IGNORE_INDEX).any():
            return self.eager_pair(batch, scale)
        slot = self.replayed(batch, scale)
        if slot is None:
            return self.eager_pair(batch, scale)
        if self.step.reference and not slot.known:
            self.step.remember_reference(batch, slot.ref)
        return slot.loss.clone(), {k: v.clone() for k, v in slot.metrics.items()}


__all__ = ["PairGraphs"]
