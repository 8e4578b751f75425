"""Next-token cross-entropy over labelled positions without building the (rows, vocabulary) logits.

`lm_loss` is the reference path's loss; `_LinearCrossEntropy` (also used by the fast path) projects a chunk of
rows through lm_head at a time and computes the gradient during the forward pass, so at most (chunk, V) logits
exist at once. Compiled (compile_ce), each chunk's softmax, cross-entropy and gradient are one fused kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch

if TYPE_CHECKING:
    from .model import Transformer


def _ce_chunk(logits: torch.Tensor, y: torch.Tensor, w: Optional[torch.Tensor], need_grad: bool):
    """The elementwise part of one chunk of _LinearCrossEntropy, written for torch.compile: compile_ce() swaps
    in a compiled version, which inductor fuses into one kernel (the logits read once, the gradient written
    once, no fp32 (n, V) tensor in memory). Eager it would be ~3x slower than _ce_chunk_eager (every op a pass
    over a fresh (n, V) fp32 tensor), which is why that one stays the default.

    logits: (n, V) = hc @ W.T in the activation dtype; y: (n,) targets; w: optional (n, 1) fp32 row weights.
    Returns (ce, g): ce (n,) fp32 = w * (logsumexp(logits) - logits[y]) (in fp32), and, if need_grad,
    g (n, V) in logits.dtype = w * (softmax(logits) - onehot(y)) = d(ce)/d(logits); else None.
    Functional on purpose: in-place ops inside code torch.compile traces once gave us wrong gradients. The
    one-hot is a comparison against an arange (a scatter would split the kernel in three).
    """
    lf = logits.float()  # (n, V); compiled, only a register-level cast
    lse = torch.logsumexp(lf, dim=-1, keepdim=True)  # (n, 1)
    ce = lse - lf.gather(1, y[:, None])  # (n, 1): CE = logsumexp - target logit
    if w is not None:
        ce = ce * w
    if not need_grad:
        return ce.squeeze(1), None
    hit = torch.arange(lf.shape[1], device=lf.device) == y[:, None]  # (n, V) one-hot as a comparison
    g = torch.exp(lf - lse) - hit.to(lf.dtype)  # softmax - onehot
    if w is not None:
        g = g * w
    return ce.squeeze(1), g.to(logits.dtype)


def _ce_chunk_eager(logits: torch.Tensor, y: torch.Tensor, w: Optional[torch.Tensor], need_grad: bool):
    """_ce_chunk's math for eager mode, in place: one fp32 (n, V) buffer instead of a new one per op (the
    (n, V) passes dominate CPU time after the matmuls, and a GPU without compile keeps its memory use).
    Never traced by torch.compile. Consumes `logits`: fp32 logits are overwritten (the caller's temporary)."""
    rows = torch.arange(len(y), device=logits.device)
    lf = logits.float()  # (n, V): a new fp32 buffer, or the fp32 logits themselves
    target = lf[rows, y]  # (n,)
    mx = lf.amax(dim=-1, keepdim=True)  # (n, 1)
    probs = lf.sub_(mx).exp_()  # (n, V), unnormalised
    denom = probs.sum(dim=-1, keepdim=True)  # (n, 1)
    ce = denom.log() + mx - target[:, None]  # (n, 1): CE = logsumexp - target logit
    if w is not None:
        ce = ce * w
    if not need_grad:
        return ce.squeeze(1), None
    g = probs.div_(denom)  # d(CE)/d(logits) = softmax - onehot
    g[rows, y] -= 1.0
    if w is not None:
        g.mul_(w)
    return ce.squeeze(1), g.to(logits.dtype)


class _CEKernels:
    """The chunk function _LinearCrossEntropy calls: eager (in place) by default, so CPU runs and tests pay no
    compile time and importing the model does not load torch._dynamo; compile_ce() swaps in compiled _ce_chunk."""

    chunk = staticmethod(_ce_chunk_eager)
    compiled = False


def compile_ce() -> None:
    """Use a torch.compile'd _ce_chunk from now on (idempotent). dynamic=True: one compile for every chunk
    size (the last chunk of a batch is usually shorter). Meant for CUDA (fast/'s compile_pointwise calls it)."""
    if _CEKernels.compiled:
        return
    _CEKernels.chunk = staticmethod(torch.compile(_ce_chunk, dynamic=True))
    _CEKernels.compiled = True


def _ce_run(logits: torch.Tensor, y: torch.Tensor, w: Optional[torch.Tensor], need_grad: bool):
    """One chunk through _CEKernels.chunk. A 1-row chunk runs eager: dynamic shapes specialise size 1, so
    compiled it would compile again (possibly while a CUDA graph records). A compile failure must not stop
    training (as fast/'s regions): warn and use the eager chunk from then on."""
    if not _CEKernels.compiled:
        return _CEKernels.chunk(logits, y, w, need_grad)
    if len(y) < 2:
        return _ce_chunk_eager(logits, y, w, need_grad)
    try:
        return _CEKernels.chunk(logits, y, w, need_grad)  # functional: logits are intact if it raises
    except torch.OutOfMemoryError:
        raise
    except Exception as e:
        if logits.is_cuda and torch.cuda.is_current_stream_capturing():
            raise  # the capture is broken anyway; fast/graph.py handles its own failures
        import sys

        print(f"compiled cross-entropy failed ({type(e).__name__}: {e}); using the eager one", file=sys.stderr)
        _CEKernels.chunk, _CEKernels.compiled = staticmethod(_ce_chunk_eager), False
        return _ce_chunk_eager(logits, y, w, need_grad)


class _LinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(h_i @ W.T, y_i), computed in vocabulary-sized chunks of rows.

    The gradient is computed during the forward pass chunk by chunk, so at most
    (chunk, V) logits exist at a time instead of autograd keeping every chunk.
    The GEMMs stay here (cuBLAS); the elementwise softmax/CE/gradient of a chunk is _CEKernels.chunk.
    """

    @staticmethod
    def forward(ctx, h, W, y, chunk: int, row_weight=None, softcap=None):
        # h: (N, D) hidden states at labelled positions; W: (V, D); y: (N,)
        # row_weight: optional (N,) fp32 per-row weights (0 = a padding row of a fixed-shape CUDA graph).
        # softcap: logits = cap * tanh(h W^T / cap) (Gemma 2's final_logit_softcapping); None = plain logits.
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros(W.shape, dtype=torch.float32, device=W.device) if need_w else None
        for s in range(0, h.shape[0], chunk):
            hc, yc = h[s : s + chunk], y[s : s + chunk]
            wc = None if row_weight is None else row_weight[s : s + chunk, None]  # (n, 1)
            z = hc @ W.T  # (n, V)
            if softcap is None:
                ce, g = _ce_run(z, yc, wc, need_h or need_w)  # (n,), (n, V) in the logits' dtype or None
            else:
                t = torch.tanh(z.float() / softcap)  # (n, V) fp32
                ce, g = _ce_run((t * softcap).to(z.dtype), yc, wc, need_h or need_w)
                if g is not None:  # d(cap * tanh(z / cap)) / dz = 1 - tanh^2
                    g = (g.float() * (1 - t * t)).to(z.dtype)
                del t
            total += ce.sum()
            if need_h:
                grad_h[s : s + chunk] = g @ W
            if need_w:
                grad_w += (g.T @ hc).float()
            del g  # one chunk's logits and gradient alive at a time
        ctx.w_dtype = W.dtype
        ctx.save_for_backward(grad_h, grad_w)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        gh = grad_h * grad_out.to(grad_h.dtype) if grad_h is not None else None
        gw = (grad_w * grad_out).to(ctx.w_dtype) if grad_w is not None else None
        return gh, gw, None, None, None, None


def lm_loss(
    model: Transformer,
    hidden: torch.Tensor,  # (B, T, D) from model.forward
    labels: torch.Tensor,  # (B, T) token ids aligned with input_ids, -100 = ignore
    chunk: int = 512,
) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over labelled positions, and their count.

    Only positions whose (shifted) label != -100 are projected through lm_head;
    the (B, T, V) logits tensor is never built. The caller divides by the count
    (over a whole gradient-accumulation window, so micro-batches weigh by tokens).
    """
    h = hidden[:, :-1]  # (B, T-1, D): position t predicts token t+1
    y = labels[:, 1:]  # (B, T-1)
    keep = y != -100
    n = int(keep.sum())
    if n == 0:
        return hidden.sum() * 0.0, 0
    hs = h[keep]  # (N, D)
    W = model.lm_head.weight
    loss = _LinearCrossEntropy.apply(hs, W, y[keep], chunk, None, getattr(model.config, "final_logit_softcapping", None))
    return loss, n
