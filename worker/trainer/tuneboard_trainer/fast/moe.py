"""The mixture-of-experts MLP of the fast path: moe.SparseMoE's math with the experts as grouped GEMMs.

Per MoE block (moe.py's routing, as transformers computes it): router logits = gate(h) (N, E); softmax in fp32;
the top k experts; their probabilities renormalised when norm_topk_prob; the token's output = sum over its k
experts of weight * expert(h). Here the N * k (token, expert) pairs are sorted by expert, so each expert's rows
are one contiguous group, and every projection is one grouped GEMM over all experts:

    gate/up  (M, D) x (E, D, 2I) -> (M, 2I)    + LoRA: (M, D) x (E, D, 2r) -> (M, 2r) x (E, 2r, 2I)
    down     (M, I) x (E, I, D)  -> (M, D)     + LoRA: (M, I) x (E, I, r)  -> (M, r)  x (E, r, D)

torch._grouped_mm runs them as one grouped GEMM each on CUDA (bf16, compute capability 9.0+; every dimension a
multiple of 8, what its 16-byte row alignment needs); elsewhere (the CPU, fp32, older GPUs) each expert's rows
go through their own matmul, one expert after another, with the same stacked weights (torch 2.13's CPU build
has torch._grouped_mm in bf16 only; the CPU tests run it there). Gradients flow through autograd in both cases.
The router logits stay on the block for the auxiliary load-balancing loss (FastPath.loss adds it).

Weight layout (stack_experts): the experts' frozen weights become views of one (E, 2I, D) gate/up and one
(E, D, I) down tensor (no extra memory), and their LoRA A / B matrices views of stacked fp32 tensors, so the
adapters stay the per-expert parameters the reference path, the optimizer and the saved adapter use. The
gradient of a stacked tensor reaches the per-expert parameters' .grad as views of it (_grad_hook):
one stacked GEMM's gradient, no per-expert copies.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..lora import LoRALinear
from ..model_config import MOE_ARCHITECTURES
from ..moe import MoETransformer, SparseMoE

# Mixture-of-experts families with a fast path (all of moe.py's): model.py's Llama layout with moe.SparseMoE
# as the MLP.
MOE_FAST_PATH_ARCHITECTURES = MOE_ARCHITECTURES


def is_moe_model(model: nn.Module) -> bool:
    return isinstance(model, MoETransformer)


def sparse_moe(blk: nn.Module) -> Optional[SparseMoE]:
    """The block's SparseMoE (Qwen3-MoE `mlp`, Mixtral `block_sparse_moe`), or None for a dense MLP."""
    ffn = getattr(blk, "block_sparse_moe", None) or getattr(blk, "mlp", None)
    return ffn if isinstance(ffn, SparseMoE) else None


def unsupported_experts(moe: SparseMoE) -> Optional[str]:
    """Why the fast path cannot run these experts (None: it can): LoRA on all three expert projections or
    on none, plain LoRA (no dropout, DoRA or quantized base), no biases, one rank and scaling."""
    mods = [getattr(ex, n) for ex in moe.experts for n in ex.names]
    loras = [m for m in mods if isinstance(m, LoRALinear)]
    if loras and len(loras) != len(mods):
        return "LoRA on some expert projections only"
    if any(m.quantized is not None or m.weight is None for m in loras):
        return "quantized experts"
    if any(m.use_dora or not isinstance(m.dropout, nn.Identity) for m in loras):
        return "DoRA or dropout on the experts"
    if any(m.bias is not None for m in mods) or any(m.weight.requires_grad for m in mods):
        return "expert biases or trainable expert weights"
    if len({(m.rank, m.scaling) for m in loras}) > 1:
        return "experts with different LoRA ranks"
    return None


class _ExpertStack:
    """The stacked weights of one SparseMoE (stack_experts). W_gu (E, 2I, D), W_d (E, D, I): frozen; A_gu
    (E, 2r, D) = [gate A ; up A], B_g / B_u (E, I, r), A_d (E, r, I), B_d (E, D, r): leaves whose storage the
    experts' LoRA parameters are views of (None without LoRA)."""

    def __init__(self, moe: SparseMoE):
        experts = list(moe.experts)
        g, u, d = experts[0].names
        self.I = getattr(experts[0], g).weight.shape[0]
        with torch.no_grad():
            self.W_gu = _stack_frozen([[getattr(ex, g), getattr(ex, u)] for ex in experts])  # (E, 2I, D)
            self.W_d = _stack_frozen([[getattr(ex, d)] for ex in experts])  # (E, D, I)
        first = getattr(experts[0], g)
        self.lora = isinstance(first, LoRALinear)
        self.scaling = first.scaling if self.lora else 1.0
        if not self.lora:
            return
        self.A_gu = self._stack_lora([[getattr(ex, g).lora_A, getattr(ex, u).lora_A] for ex in experts])
        self.B_g = self._stack_lora([[getattr(ex, g).lora_B] for ex in experts])
        self.B_u = self._stack_lora([[getattr(ex, u).lora_B] for ex in experts])
        self.A_d = self._stack_lora([[getattr(ex, d).lora_A] for ex in experts])
        self.B_d = self._stack_lora([[getattr(ex, d).lora_B] for ex in experts])

    def _stack_lora(self, groups: list[list[nn.Linear]]) -> torch.Tensor:
        """A leaf (E, sum of rows, cols) holding the given adapter matrices; each parameter's data becomes a
        view of it, and gradients reach each parameter's .grad through _grad_hook."""
        ws = [[m.weight for m in group] for group in groups]
        rows, cols = sum(w.shape[0] for w in ws[0]), ws[0][0].shape[1]
        ref = ws[0][0]
        stack = torch.empty((len(ws), rows, cols), dtype=ref.dtype, device=ref.device)
        slots = []
        for e, group in enumerate(ws):
            r0 = 0
            for w in group:
                stack[e, r0 : r0 + w.shape[0]] = w.detach()
                w.data = stack[e, r0 : r0 + w.shape[0]]
                slots.append((w, (e, slice(r0, r0 + w.shape[0]))))
                r0 += w.shape[0]
        stack.requires_grad_(True)
        entry = (stack, slots)
        stack.register_post_accumulate_grad_hook(lambda t, entry=entry: _grad_hook(entry))
        return stack

    def lora_weights(self, dtype: torch.dtype):
        """(A_gu, B_gu, A_d, B_d) in the activation dtype, the scaling folded into B; B_gu (E, 2I, 2r) is
        block-diagonal per expert: gate's B reads the first r columns of x A_gu^T, up's B the last r."""
        B_g, B_u = (self.B_g * self.scaling).to(dtype), (self.B_u * self.scaling).to(dtype)  # (E, I, r)
        B_gu = torch.cat([torch.cat([B_g, torch.zeros_like(B_u)], dim=2),
                          torch.cat([torch.zeros_like(B_g), B_u], dim=2)], dim=1)  # (E, 2I, 2r)
        return self.A_gu.to(dtype), B_gu, self.A_d.to(dtype), (self.B_d * self.scaling).to(dtype)


def _grad_hook(entry) -> None:
    """Hand a stacked adapter's gradient to its per-expert parameters, whose .grad are views of one buffer of the
    stack's shape (made once: making 37k views per step costs more host time than the step's GEMMs): added
    into it when they still are (gradient accumulation, or zero_grad(set_to_none=False)); copied into it and
    the views handed out again after zero_grad(set_to_none=True); added to each .grad otherwise."""
    stack, slots = entry
    g = stack.grad
    stack.grad = None
    held = getattr(stack, "_tb_grad", None)
    if held is None:
        buf = torch.empty_like(g)
        held = stack._tb_grad = (buf, [buf[e, rows] for _, (e, rows) in slots])
    buf, views = held
    if all(p.grad is v for (p, _), v in zip(slots, views)):
        buf.add_(g)
    elif all(p.grad is None for p, _ in slots):
        buf.copy_(g)
        for (p, _), v in zip(slots, views):
            p.grad = v
    else:
        for p, (e, rows) in slots:
            p.grad = g[e, rows].clone() if p.grad is None else p.grad.add_(g[e, rows])


def _stack_frozen(groups: list[list[nn.Module]]) -> torch.Tensor:
    """(E, sum of out, in): the frozen weights of each group's modules, one expert per row; the modules' weights
    become views of it (the separate tensors are freed)."""
    ref = groups[0][0].weight
    rows = sum(m.weight.shape[0] for m in groups[0])
    W = torch.empty((len(groups), rows, ref.shape[1]), dtype=ref.dtype, device=ref.device)
    for e, group in enumerate(groups):
        r0 = 0
        for m in group:
            n = m.weight.shape[0]
            W[e, r0 : r0 + n] = m.weight.detach()
            m.weight = nn.Parameter(W[e, r0 : r0 + n], requires_grad=False)
            r0 += n
    return W


def stack_experts(moe: SparseMoE) -> _ExpertStack:
    """The stacked weights of a SparseMoE (made once, kept on it as `_tb_experts`)."""
    stack = getattr(moe, "_tb_experts", None)
    if stack is None:
        stack = _ExpertStack(moe)
        moe.__dict__["_tb_experts"] = stack  # not a submodule: state_dict and .to() keep the experts' own names
    return stack


# Why the grouped GEMM is off for the rest of the process (its first failure), or None.
GROUPED: dict = {"disabled": None}


def grouped_ok(x: torch.Tensor, *dims: int) -> bool:
    """Whether torch._grouped_mm serves these GEMMs: CUDA, bf16, compute capability 9.0+ (Hopper), and every
    dimension a multiple of 8 (16-byte aligned rows in bf16)."""
    return (GROUPED["disabled"] is None and x.is_cuda and x.dtype == torch.bfloat16 and hasattr(torch, "_grouped_mm")
            and torch.cuda.get_device_capability(x.device) >= (9, 0) and all(d % 8 == 0 for d in dims))


def expert_mm(x: torch.Tensor, W: torch.Tensor, offs: torch.Tensor, bounds: Optional[list[int]]) -> torch.Tensor:
    """Rows of x sorted by expert times each expert's W^T: x (M, K), W (E, O, K), offs (E,) int32 group ends on
    the device -> (M, O). bounds: the group ends on the host for the per-expert loop (None: grouped GEMM)."""
    if bounds is None:
        return torch._grouped_mm(x, W.transpose(-2, -1), offs=offs)
    outs, start = [], 0
    for e, end in enumerate(bounds):
        if end > start:
            outs.append(x[start:end] @ W[e].t())
        start = end
    return torch.cat(outs) if outs else x.new_zeros((0, W.shape[1]))


def moe_mlp(moe: SparseMoE, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The MoE MLP of normed hidden states h (N, D) -> (output (N, D), router logits (N, E))."""
    stack = stack_experts(moe)
    N, D = h.shape
    dt = h.dtype
    # moe.py's routing itself: logits (N, E), top-k weights (N, k) in h's dtype, expert ids (N, k)
    logits, weights, experts = moe.route(h)
    k = experts.shape[1]
    flat = experts.reshape(-1)  # (N * k,)
    order = torch.argsort(flat, stable=True)  # (M,) pairs sorted by expert
    token = order // k  # (M,) the token of each sorted pair
    E = stack.W_gu.shape[0]
    counts = torch.zeros(E, dtype=torch.int64, device=h.device).scatter_add_(0, flat, torch.ones_like(flat))
    offs = counts.cumsum(0).to(torch.int32)  # (E,) group ends
    xs = h.index_select(0, token)  # (M, D)
    if grouped_ok(h, D, stack.I, *((stack.A_d.shape[1],) if stack.lora else ())):
        try:
            y = _experts(stack, xs, offs, None)
        except RuntimeError as e:  # a torch whose grouped GEMM refuses these operands: the loop, for good
            GROUPED["disabled"] = f"{type(e).__name__}: {e}"
            y = _experts(stack, xs, offs, offs.tolist())
    else:
        y = _experts(stack, xs, offs, offs.tolist())
    y = y * weights.reshape(-1).index_select(0, order)[:, None]
    out = torch.zeros((N, D), dtype=y.dtype, device=h.device).index_add(0, token, y)
    return out.to(dt), logits


def _experts(stack: _ExpertStack, xs: torch.Tensor, offs: torch.Tensor, bounds: Optional[list[int]]) -> torch.Tensor:
    """Each sorted row's expert (SwiGLU with its LoRA terms): xs (M, D) -> (M, D); bounds as in expert_mm."""
    dt = xs.dtype
    W_gu, W_d = stack.W_gu.to(dt), stack.W_d.to(dt)
    gu = expert_mm(xs, W_gu, offs, bounds)  # (M, 2I)
    if stack.lora:
        A_gu, B_gu, A_d, B_d = stack.lora_weights(dt)
        gu = gu + expert_mm(expert_mm(xs, A_gu, offs, bounds), B_gu, offs, bounds)
    g, u = gu.split(stack.I, dim=-1)
    s = F.silu(g) * u  # (M, I)
    y = expert_mm(s, W_d, offs, bounds)  # (M, D)
    if stack.lora:
        y = y + expert_mm(expert_mm(s, A_d, offs, bounds), B_d, offs, bounds)
    return y


def moe_block_mlp(blk: nn.Module, moe: SparseMoE, h: torch.Tensor) -> torch.Tensor:
    """A block's MoE MLP on normed h (N, D) -> (N, D); the router logits stay on the block (`router_logits`,
    as moe.MoEBlock keeps them) for the auxiliary loss (moe.MoETransformer.aux_loss)."""
    y, blk.router_logits = moe_mlp(moe, h)
    return y


def moe_unsupported(model: nn.Module) -> Optional[str]:
    """Why a MoE model cannot take the fast path (None: it can), as FastPath.supported words it."""
    arch = model.config.architecture
    if not isinstance(model, MoETransformer):
        return f"{arch}: not a tuneboard MoE Transformer"
    for blk in model.model.layers:
        moe = sparse_moe(blk)
        why = ("sliding-window attention" if blk.window is not None
               else unsupported_experts(moe) if moe is not None else None)
        if why:
            return f"{arch} with {why} has no fast path yet; training on the reference path"
    return None


def moe_act_bytes(c) -> int:
    """Bytes autograd keeps per token for one MoE MLP (bf16): for each of its k experts the gathered input,
    gate/up, silu(gate), the SwiGLU product and the weighted output (2 x (2 D + 4 I)), plus the router's fp32
    logits, probabilities and softmax output (12 E); 10 % more for what the count misses."""
    k, D, I = c.num_experts_per_tok, c.hidden_size, c.moe_intermediate_size or c.intermediate_size
    dense = 2 * 2 * c.intermediate_size if c.dense_layers else 0  # a dense layer's gate/up (mlp_only_layers)
    return int(1.1 * max(k * 2 * (2 * D + 4 * I) + 12 * c.num_experts, dense))


def plan_moe_recompute(fast, budget: int) -> tuple[int, int]:
    """(blocks recomputed, 0): as few whole blocks as make max_tokens of activations fit in `budget` bytes (a MoE
    block has no gate/up-only recompute)."""
    c = fast.model.config
    T, L = fast.max_tokens, c.num_hidden_layers
    full, kept = fast.act_bytes_per_token() * T, 2 * c.hidden_size * T
    for k in range(L + 1):
        if (L - k) * full + k * kept + (full if k else 0) <= budget:
            return k, 0
    return L, 0
