"""Exact causal attention with soft-capped scores and an optional sliding window, over packed sequences.

Gemma 2 caps its attention scores (cap * tanh(s / cap)); neither aten's FlashAttention-2 ops nor SDPA's cuDNN /
flash backends take a soft-cap on torch 2.11, so the capped layers run this Function: per sequence and per
chunk of queries, the scores as one batched GEMM per K/V group (grouped K/V as they are, no repeated copies),
the cap, mask and softmax in fp32, and the output as a second GEMM. Like FlashAttention it keeps only q, k, v,
the output and the fp32 logsumexp for backward and recomputes the probabilities there, so a layer's saved
activations do not grow with the square of the sequence length. A chunk holds at most CHUNK_SCORES scores.

The sequences come either as host offsets (chunks per sequence) or, inside a CUDA graph, as sequence ids on
the device (softcap_attention_on_device: chunks over the packed tokens, masked by sequence id).

The elementwise parts are plain functions (`_probs`, `_score_grad`); compile_softcap() swaps in torch.compile'd
ones (one fused kernel each instead of a pass over the score tensor per op).
"""

from __future__ import annotations

from typing import Optional

import torch

# Scores per chunk (fp32): 2^26 = 256 MiB, one (16 heads, 2048, 2048) block, a few times more while the
# gradient of a chunk is formed.
CHUNK_SCORES = 1 << 26


def _allowed(q0: int, c: int, k0: int, kl: int, window: Optional[int], device,
             seq: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(c, kl) bool: query q0 + i may see key k0 + j (causal; within `window` positions when set; in the same
    sequence when `seq`, the (N,) sequence id of every packed token, is given)."""
    qp = torch.arange(q0, q0 + c, device=device)[:, None]
    kp = torch.arange(k0, k0 + kl, device=device)[None, :]
    ok = kp <= qp
    if window is not None:
        ok = ok & (qp - kp < window)
    if seq is not None:
        ok = ok & (seq[q0 : q0 + c, None] == seq[None, k0 : k0 + kl])
    return ok


def _capped(s: torch.Tensor, scale: float, cap: Optional[float]):
    """(z, t): the scaled, capped scores in fp32 and tanh(scaled / cap) (None without a cap)."""
    sf = s.float() * scale
    if cap is None:
        return sf, None
    t = torch.tanh(sf / cap)
    return t * cap, t


def _probs(s: torch.Tensor, allowed: torch.Tensor, scale: float, cap: Optional[float]):
    """Forward of one chunk: s (G, R, c, kl) raw scores in the activation dtype, allowed (c, kl). Returns the
    probabilities (in s's dtype, for the second GEMM) and the fp32 logsumexp (G, R, c)."""
    z, _ = _capped(s, scale, cap)
    z = z.masked_fill(~allowed, float("-inf"))
    lse = torch.logsumexp(z, dim=-1)  # (G, R, c): every row sees at least its own key
    return torch.exp(z - lse[..., None]).to(s.dtype), lse


def _score_grad(s, dp, delta, lse, allowed, scale: float, cap: Optional[float]):
    """Backward of one chunk: the probabilities recomputed from s and lse, then d(raw scores) =
    p * (dp - delta) * d(cap)/d(s) * scale (delta = rowsum(dO * O)). Returns (ds, p), both in s's dtype."""
    z, t = _capped(s, scale, cap)
    p = torch.exp(z - lse[..., None]).masked_fill(~allowed, 0.0)  # (G, R, c, kl) fp32
    dz = p * (dp.float() - delta[..., None])
    if t is not None:
        dz = dz * (1.0 - t * t)
    return (dz * scale).to(s.dtype), p.to(s.dtype)


class _Kernels:
    probs = staticmethod(_probs)
    score_grad = staticmethod(_score_grad)
    compiled = False


def compile_softcap() -> None:
    """Fused elementwise kernels for the chunks (CUDA runs with compile on); idempotent."""
    if _Kernels.compiled:
        return
    _Kernels.probs = staticmethod(torch.compile(_probs, dynamic=True))
    _Kernels.score_grad = staticmethod(torch.compile(_score_grad, dynamic=True))
    _Kernels.compiled = True


def _chunks(bounds: list[int], H: int, window: Optional[int]):
    """(sequence start, query start, query end, key start) of every chunk, offsets into the packed tokens."""
    for s, e in zip(bounds, bounds[1:]):
        L = e - s
        if L <= 0:
            continue
        # Keys a chunk reads: the whole sequence, or its queries' windows (c + window - 1 <= 2 x window).
        span = L if window is None else min(L, 2 * window)
        c = max(1, min(L, CHUNK_SCORES // (H * span)))
        if window is not None:
            c = min(c, window)
        for a in range(0, L, c):
            b = min(L, a + c)
            k0 = 0 if window is None else max(0, a - window + 1)
            yield s, a, b, k0


def _device_chunks(N: int, H: int, reach: int):
    """Chunks over all N packed tokens when the sequence boundaries are on the device (CUDA graphs: shapes and
    loop bounds must not depend on them): a query reads at most `reach` keys (the longest sequence the layout
    allows, or the window), so a chunk of c queries reads the c + reach - 1 keys before its end, and a mask by
    sequence id keeps each query inside its own sequence. Same tuples as _chunks (sequence start 0). The chunks
    are as large as CHUNK_SCORES allows: each costs a dozen kernels, and a graph of 42 layers with chunks of a
    quarter of the reach ran 25 % slower (two 1,024-token Gemma-2-9B rows, H200) than with one chunk, although
    it computed 38 % fewer masked scores."""
    c = N
    while c > 1 and H * c * min(N, c + reach - 1) > CHUNK_SCORES:
        c = (c + 1) // 2
    for a in range(0, N, c):
        yield 0, a, min(N, a + c), max(0, a - reach + 1)


def _group(t: torch.Tensor, G: int) -> torch.Tensor:
    """(n, H, hd) -> (G, R, n, hd): query heads grouped by the K/V head they read (head h reads h // R)."""
    n, H, hd = t.shape
    return t.view(n, G, H // G, hd).permute(1, 2, 0, 3)


class _SoftcapAttention(torch.autograd.Function):
    """q: (N, H, hd); k, v: (N, KV, hd) -> (N, H, hd). The packed sequences are either `bounds` (host offsets)
    or `seq` ((N,) sequence ids on the device) with `reach` (keys a query may read at most)."""

    @staticmethod
    def forward(ctx, q, k, v, bounds, scale, cap, window, seq, reach):
        N, H, hd = q.shape
        G = k.shape[1]
        chunks = _chunks(bounds, H, window) if seq is None else _device_chunks(N, H, reach)
        out = torch.empty_like(q)
        lse = torch.empty((G, H // G, N), dtype=torch.float32, device=q.device)
        og = _group(out, G)  # views into out / lse, written chunk by chunk
        for s, a, b, k0 in chunks:
            qc = _group(q[s + a : s + b], G)  # (G, R, c, hd)
            kc, vc = k[s + k0 : s + b].transpose(0, 1), v[s + k0 : s + b].transpose(0, 1)  # (G, kl, hd)
            sc = torch.matmul(qc, kc[:, None].transpose(-1, -2))  # (G, R, c, kl)
            allowed = _allowed(a, b - a, k0, b - k0, window, q.device, seq)
            p, lc = _Kernels.probs(sc, allowed, scale, cap)
            og[:, :, s + a : s + b] = torch.matmul(p, vc[:, None])  # (G, R, c, hd)
            lse[:, :, s + a : s + b] = lc
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.bounds, ctx.scale, ctx.cap, ctx.window, ctx.seq, ctx.reach = bounds, scale, cap, window, seq, reach
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, out, lse = ctx.saved_tensors
        N, H, hd = q.shape
        G = k.shape[1]
        grad = grad.contiguous()
        dq = torch.empty_like(q)
        dk = torch.zeros(k.shape, dtype=torch.float32, device=k.device)
        dv = torch.zeros(v.shape, dtype=torch.float32, device=v.device)
        dqg = _group(dq, G)
        delta = (grad.float() * out.float()).sum(-1)  # (N, H)
        delta = delta.view(N, G, H // G).permute(1, 2, 0)  # (G, R, N)
        chunks = _chunks(ctx.bounds, H, ctx.window) if ctx.seq is None else _device_chunks(N, H, ctx.reach)
        for s, a, b, k0 in chunks:
            qc, gc = _group(q[s + a : s + b], G), _group(grad[s + a : s + b], G)  # (G, R, c, hd)
            kc, vc = k[s + k0 : s + b].transpose(0, 1), v[s + k0 : s + b].transpose(0, 1)  # (G, kl, hd)
            sc = torch.matmul(qc, kc[:, None].transpose(-1, -2))  # (G, R, c, kl)
            dp = torch.matmul(gc, vc[:, None].transpose(-1, -2))  # (G, R, c, kl)
            allowed = _allowed(a, b - a, k0, b - k0, ctx.window, q.device, ctx.seq)
            ds, p = _Kernels.score_grad(sc, dp, delta[:, :, s + a : s + b], lse[:, :, s + a : s + b], allowed,
                                        ctx.scale, ctx.cap)
            dqg[:, :, s + a : s + b] = torch.matmul(ds, kc[:, None])  # (G, R, c, hd)
            # dK, dV: summed over the R query heads of a group and the chunk's queries, one GEMM each.
            kl = b - k0
            dk[s + k0 : s + b] += torch.bmm(ds.reshape(G, -1, kl).transpose(1, 2),
                                            qc.reshape(G, -1, hd)).transpose(0, 1).float()
            dv[s + k0 : s + b] += torch.bmm(p.reshape(G, -1, kl).transpose(1, 2),
                                            gc.reshape(G, -1, hd)).transpose(0, 1).float()
        return dq, dk.to(k.dtype), dv.to(v.dtype), None, None, None, None, None, None


def softcap_attention(q, k, v, bounds: list[int], scale: float, cap: Optional[float],
                      window: Optional[int]) -> torch.Tensor:
    """Causal attention within each packed sequence (offsets `bounds`, on the host), scores scaled by `scale`,
    soft-capped by `cap` (None = no cap) and limited to the last `window` keys (None = all)."""
    return _SoftcapAttention.apply(q, k, v, bounds, float(scale), cap, window, None, None)


def sequence_ids(cu: torch.Tensor, N: int) -> torch.Tensor:
    """(N,) the index of the packed sequence each token belongs to, from the (S + 1,) offsets on their device
    (zero-length sequences, repeated offsets, own no token)."""
    return torch.searchsorted(cu, torch.arange(N, dtype=cu.dtype, device=cu.device), right=True) - 1


def softcap_attention_on_device(q, k, v, seq: torch.Tensor, longest: int, scale: float, cap: Optional[float],
                                window: Optional[int]) -> torch.Tensor:
    """softcap_attention with the sequences given on the device: `seq` from sequence_ids(), `longest` an upper
    bound of their lengths (a CUDA graph's bucket). Nothing is read back to the host, so it can be recorded;
    chunks span sequences (masked), which costs more FLOPs than per-sequence chunks when sequences are short."""
    reach = min(int(longest), window) if window is not None else int(longest)
    return _SoftcapAttention.apply(q, k, v, None, float(scale), cap, window, seq, max(1, reach))
