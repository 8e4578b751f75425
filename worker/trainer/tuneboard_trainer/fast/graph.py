"""CUDA graphs of the fast path's forward + backward: one graph replay per packed micro-batch.

Why: on an H200 an 8B LoRA step of 2,048 tokens runs ~10,000 small kernels (32 blocks x norms, RoPE, LoRA
GEMMs, adds, their backward), and the host cannot queue them as fast as the GPU runs them: eagerly, a packed
step of ~860 tokens takes as long as one of 2,048. A CUDA graph replays the whole
recorded kernel sequence with one launch, so the step costs what its kernels cost.

What a graph needs is fixed shapes and fixed addresses, so each micro-batch is laid into static buffers of a
bucketed shape, the key of its graph:
  N  tokens, rounded up to a multiple of `bucket`; the padding tokens form one extra sequence that attends
     only to itself and carries no loss;
  S  sequences (with that padding sequence), rounded up to a power of two; the unused cu_seqlens entries
     repeat the end, i.e. zero-length sequences, which FlashAttention skips;
  L  the longest sequence, rounded up to a power of two (at least 128, at most N): FlashAttention's grid;
  M  labelled positions, rounded up to a multiple of `bucket`; the padding rows have weight 0 in the loss.
The loss scale (1 / the window's labelled tokens, x world size) is a static scalar too. Gradients accumulate
in place into the adapters' .grad tensors, which are allocated once and must stay (zero_grad(set_to_none=False)).

A graph is recorded the first time its key is seen (one eager warm-up pass, gradients saved and restored
around it, then the capture); all graphs share one memory pool, replayed one at a time. After `max_graphs`
keys, or if capturing fails (the reason is kept in `disabled`), micro-batches run eagerly: same numbers.
Not used with dropout (random masks), fp16 (the GradScaler) or offloaded recompute (host copies): see
`graphs_for_training`.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import torch

from ..loss import _LinearCrossEntropy
from ..templates import IGNORE_INDEX
from .path import FastPath
from .weights import HostEmbedding


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class _Slot:
    """Static buffers and the graph of one key (N, S, L, M)."""

    def __init__(self, key: tuple[int, int, int, int], device):
        N, S, L, M = key
        self.key, self.max_len = key, L
        self.ids = torch.zeros((1, N), dtype=torch.long, device=device)  # (1, N) token ids
        self.x0: Optional[torch.Tensor] = None  # (N, D) input embeddings, when the table is on the host
        self.pos = torch.zeros((N,), dtype=torch.long, device=device)  # (N,) positions, restarting per sequence
        self.cu = torch.zeros((S + 1,), dtype=torch.int32, device=device)  # (S + 1,) sequence boundaries
        self.idx = torch.zeros((M,), dtype=torch.long, device=device)  # (M,) labelled positions (+ padding rows)
        self.y = torch.zeros((M,), dtype=torch.long, device=device)  # (M,) their targets
        self.w = torch.zeros((M,), dtype=torch.float32, device=device)  # (M,) 1 = real row, 0 = padding
        self.scale = torch.zeros((), dtype=torch.float32, device=device)  # loss multiplier for backward
        self.loss = torch.zeros((), dtype=torch.float32, device=device)  # output: summed CE of the real rows
        self.graph: Optional[torch.cuda.CUDAGraph] = None

    FIELDS = ("ids", "pos", "cu", "idx", "y", "w", "scale")  # the buffers fill() copies from the host

    def fill(self, host: dict) -> None:
        # Host tensors are pinned, so these copies are asynchronous and ordered before the replay.
        if "x0" in host:
            if self.x0 is None:
                self.x0 = torch.empty(host["x0"].shape, dtype=host["x0"].dtype, device=self.ids.device)
            self.x0.copy_(host["x0"], non_blocking=True)
        for name in self.FIELDS:
            getattr(self, name).copy_(host[name], non_blocking=True)


class StepGraphs:
    """Forward + backward of FastPath micro-batches through CUDA graphs (see the module docstring)."""

    def __init__(self, fast: FastPath, params: list[torch.nn.Parameter], device, dtype: torch.dtype, *,
                 bucket: int = 128, max_graphs: int = 64):
        self.fast, self.params, self.device, self.dtype = fast, params, device, dtype
        self.bucket, self.max_graphs = bucket, max_graphs
        self.slots: dict[tuple, _Slot] = {}
        self.pool = None
        self.disabled: Optional[str] = None
        self.captures = 0
        self._grads: list[torch.Tensor] = []

    # ------------------------------------------------------------------ shapes

    def layout(self, mb: dict, scale: float) -> tuple[tuple[int, int, int, int], dict]:
        """The key of a packed micro-batch (fast.pack_window's dict) and its static-buffer contents (pinned)."""
        n_real = int(mb["cu_seqlens"][-1])
        N = _round_up(n_real, self.bucket)
        pad = N - n_real
        cu = mb["cu_seqlens"].tolist() + ([N] if pad else [])
        S = _pow2(len(cu) - 1)
        longest = max(mb["max_len"], pad)
        L = min(N, max(128, _pow2(longest)))
        tgt = mb["targets"]
        idx = (tgt != IGNORE_INDEX).nonzero().squeeze(1)  # (m,)
        m = len(idx)
        M = _round_up(max(m, 1), 2 * self.bucket)  # coarser: a padding row costs only its lm_head GEMM row
        ids = torch.zeros((1, N), dtype=torch.long)
        ids[0, :n_real] = mb["input_ids"][0]
        pos = torch.cat([mb["position_ids"], torch.arange(pad, dtype=torch.long)])
        cu_t = torch.tensor(cu + [N] * (S + 1 - len(cu)), dtype=torch.int32)
        idx_t = torch.zeros(M, dtype=torch.long)
        idx_t[:m] = idx
        y = torch.zeros(M, dtype=torch.long)
        y[:m] = tgt[idx]
        w = torch.zeros(M, dtype=torch.float32)
        w[:m] = 1.0
        host = {"ids": ids, "pos": pos, "cu": cu_t, "idx": idx_t, "y": y, "w": w,
                "scale": torch.tensor(float(scale), dtype=torch.float32)}
        emb = self.fast.model.model.embed_tokens
        if isinstance(emb, HostEmbedding):
            host["x0"] = emb.lookup(ids[0])  # (N, D), pinned
        if self.device.type == "cuda":
            host = {k: v.pin_memory() for k, v in host.items()}
        return (N, S, L, M), host

    # ------------------------------------------------------------------ running

    @staticmethod
    def static_mb(slot: _Slot) -> dict:
        """The packed micro-batch a recorded body passes to FastPath.hidden: the slot's buffers. static: the
        offsets live in slot.cu only (a path that would read them on the host must not)."""
        mb = {"input_ids": slot.ids, "position_ids": slot.pos, "cu_seqlens": slot.cu, "max_len": slot.max_len,
              "static": True}
        if slot.x0 is not None:
            mb["inputs_embeds"] = slot.x0
        return mb

    def cast(self, recording: bool):
        """Autocast to the compute dtype (none in fp32). Recording: no weight cache, since cached casts made
        while recording would be freed memory at replay."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype, cache_enabled=False if recording else None)

    def _body(self, slot: _Slot) -> None:
        """What a graph records: forward, loss over the labelled rows, backward into the adapters' .grad."""
        mb = self.static_mb(slot)
        with self.cast(recording=True):
            h = self.fast.hidden(mb, self.device)  # (N, D)
            loss = _LinearCrossEntropy.apply(h.index_select(0, slot.idx), self.fast.model.lm_head.weight,
                                             slot.y, self.fast.loss_chunk, slot.w, self.fast.logit_softcap)
        (loss * slot.scale).backward()
        slot.loss.copy_(loss.detach())

    def _ensure_grads(self) -> None:
        """The .grad tensors graphs accumulate into: allocated once; if someone replaced them (set_to_none),
        every recorded graph points at stale memory and is dropped."""
        if self._grads and all(p.grad is g for p, g in zip(self.params, self._grads)):
            return
        self.slots.clear()
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        self._grads = [p.grad for p in self.params]

    # A warm-up pass before every recording, not only the first (subclasses whose body creates its output buffers).
    warm_up_always = False

    def _new_slot(self, key) -> _Slot:
        return _Slot(key, self.device)

    def _capture(self, key, host: dict) -> _Slot:
        slot = self._new_slot(key)
        slot.fill(host)
        if self.captures == 0 or self.fast.compiled or self.warm_up_always:
            # Warm-up pass outside the graph: lazy initialisation (cuBLAS workspaces, kernels loaded) before the
            # first recording, and with torch.compile each new shape may (re)compile, which cannot happen while
            # recording. Later plain-eager shapes skip it (a run of 60 steps may see 20 shapes).
            saved = [g.clone() for g in self._grads]
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._body(slot)
            torch.cuda.current_stream(self.device).wait_stream(side)
            for g, s in zip(self._grads, saved):  # the warm-up's gradients must not count
                g.copy_(s)
            del saved
            torch.cuda.empty_cache()  # the warm-up's cached blocks, so the graph pool can use that memory
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            self._body(slot)
        if self.pool is None:
            self.pool = graph.pool()
        slot.graph = graph
        self.captures += 1
        return slot

    def eager(self, mb: dict, scale: float) -> torch.Tensor:
        with self.cast(recording=False):
            loss, _ = self.fast.loss(mb, self.device)
        (loss * scale).backward()
        return loss.detach()

    def run(self, mb: dict, scale: float) -> torch.Tensor:
        """Forward + backward of one packed micro-batch with the loss multiplied by `scale` for backward;
        returns the summed (unscaled) loss as a 0-d tensor."""
        if self.disabled is not None or not (mb["targets"] != IGNORE_INDEX).any():
            return self.eager(mb, scale)
        slot = self.replayed(mb, scale)
        return self.eager(mb, scale) if slot is None else slot.loss.clone()

    def replayed(self, mb, scale: float) -> Optional[_Slot]:
        """The slot of mb's layout after replaying its graph (recorded first if new), or None when mb must run
        eagerly instead (too many layouts, or a failed recording, which turns graphs off for the run)."""
        key, host = self.layout(mb, scale)
        self._ensure_grads()
        slot = self.slots.get(key)
        if slot is None:
            if len(self.slots) >= self.max_graphs:
                return None
            try:
                slot = self._capture(key, host)
            except Exception as e:  # noqa: BLE001 -- a capture failure must not stop training
                self.disabled = f"{type(e).__name__}: {e}"
                self.slots.clear()
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                return None
            self.slots[key] = slot
        slot.fill(host)
        slot.graph.replay()
        return slot


def graphs_for_training(fast: Optional[FastPath], params, device, dtype,
                        pref_step=None) -> tuple[Optional[StepGraphs], str]:
    """StepGraphs for a run, or None, and a line for the log. FastPathOptions.cuda_graphs=False turns them off.
    With a stages.PreferenceStep: PairGraphs (pair_graph.py) for dpo; kto and rm run eagerly."""
    if fast is None or device.type != "cuda":
        return None, ""
    if not fast.options.cuda_graphs:
        return None, "CUDA graphs off (fast-path option cuda_graphs=False)"
    why = ("adapter dropout" if fast.uses_rng else "fp16 (GradScaler)" if dtype == torch.float16
           else "fp32 compute" if dtype == torch.float32 else "offloaded recompute" if fast.offload
           else f"{fast.model.config.architecture}'s fast path" if not getattr(fast, "graphs_ok", True) else "")
    if why:
        return None, f"CUDA graphs off: {why}"
    if pref_step is not None:
        if pref_step.cfg.stage != "dpo":
            return None, f"CUDA graphs off: the {pref_step.cfg.stage} stage runs eagerly"
        from .pair_graph import PairGraphs  # it builds on this module

        return (PairGraphs(pref_step, fast, params, device, dtype),
                "CUDA graphs: one replay per packed pair micro-batch shape (reference, policy, loss, backward)")
    return StepGraphs(fast, params, device, dtype), "CUDA graphs: one replay per packed micro-batch shape"
