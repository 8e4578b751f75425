"""Memory of the fast path: recompute with the block input offloaded to host memory, the headroom a run keeps."""

from __future__ import annotations

import torch

from ..model import Transformer


class _OffloadedCheckpoint(torch.autograd.Function):
    """A recomputed block whose input is parked in pinned host memory until backward (long contexts).

    Forward runs the block without a graph and copies its input x (N, D) to the host; backward copies it back,
    recomputes the block with a graph and backpropagates through it, which also accumulates the adapters'
    gradients (as reentrant checkpointing does). GPU memory per block: nothing between forward and backward.
    """

    @staticmethod
    def forward(ctx, x, run, blk, cos, sin, cu, max_len):
        with torch.no_grad():
            out = run(blk, x, cos, sin, cu, max_len)
        ctx.x_host = torch.empty(x.shape, dtype=x.dtype, pin_memory=x.is_cuda)
        ctx.x_host.copy_(x, non_blocking=True)
        ctx.args = (run, blk, cos, sin, cu, max_len)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        run, blk, cos, sin, cu, max_len = ctx.args
        x = ctx.x_host.to(grad_out.device, non_blocking=True).requires_grad_(True)
        with torch.enable_grad():
            out = run(blk, x, cos, sin, cu, max_len)
        torch.autograd.backward(out, grad_out)
        return x.grad, None, None, None, None, None, None


def free_memory_bytes(device) -> int:
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)


def transient_bytes(model: Transformer, max_tokens: int, loss_chunk: int = 256) -> int:
    """What a step needs outside the blocks' activations: the loss chunk's logits (fp32 + bf16) and the
    hidden-state and gradient copies around the blocks."""
    c = model.config
    return int(loss_chunk * c.vocab_size * 6 + 8 * c.hidden_size * max_tokens * 2)


def reserve_bytes(model: Transformer, max_tokens: int, loss_chunk: int = 256) -> int:
    """Headroom outside block activations: transient_bytes and 1.5 GiB of allocator slack."""
    return int(transient_bytes(model, max_tokens, loss_chunk) + 1.5 * 1024**3)


CAP_SLACK_BYTES = 256 * 1024**2  # allocator rounding and small tensors under a peak cap


def budget_under_cap(model: Transformer, max_tokens: int, cap_bytes: int, allocated_bytes: int,
                     pending_bytes: int, loss_chunk: int = 256) -> int:
    """Bytes left for the blocks' activations when a step's peak must stay at `cap_bytes` (a benchmark's cap:
    the baseline's measured peak): the cap less what is allocated now (weights, adapters), what the step will
    allocate for good (`pending_bytes`: gradients, optimizer state not yet created), its transients and
    CAP_SLACK_BYTES. Never negative."""
    left = (cap_bytes - allocated_bytes - pending_bytes - transient_bytes(model, max_tokens, loss_chunk)
            - CAP_SLACK_BYTES)
    return max(0, int(left))
