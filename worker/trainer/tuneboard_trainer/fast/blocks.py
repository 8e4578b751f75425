"""A decoder block of the fast path as two attention-free halves around attention (`_pre_attn`, `_post_attn`).

These two functions are what regional torch.compile compiles (one region each, shared by every block). The
projections go through the Functions of functions.py when they apply, else through plain GEMMs (multi_proj).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..lora import LoRALinear
from ..model import apply_rope
from . import functions
from .functions import _SwiGLUDownLoRA, rms_norm
from .moe import moe_block_mlp, sparse_moe
from .weights import _lora_fusable


def group_proj(x: torch.Tensor, mods, norm: Optional[nn.Module] = None, W: Optional[torch.Tensor] = None,
               bias: Optional[torch.Tensor] = None, split: bool = True) -> list[torch.Tensor]:
    """[m(norm(x)) for m in mods]: through _NormGroupLoRA when it applies (W: the group's fused weight, or the
    single module's own), else the norm and multi_proj. split=False: the fused path returns [one (N, O)
    tensor] with the outputs side by side instead."""
    dt = x.dtype
    if W is None and len(mods) == 1:
        W, bias = mods[0].weight, mods[0].bias
    fusable = (W is not None and torch.is_grad_enabled() and not W.requires_grad
               and (norm is None or not norm.weight.requires_grad)
               and all(isinstance(m.dropout, nn.Identity) and not m.use_dora if isinstance(m, LoRALinear)
                       else isinstance(m, nn.Linear) for m in mods)
               and any(isinstance(m, LoRALinear) for m in mods))
    if not fusable:
        h = x if norm is None else rms_norm(norm, x)
        if W is not None and len(mods) > 1 and all(isinstance(m, LoRALinear) and m.scaling == 0
                                                   and getattr(m, "quantized", None) is None for m in mods):
            # Adapters zeroed (a reference pass): the group's fused base weight, one GEMM instead of one each.
            out = F.linear(h, W.to(dt), None if bias is None else bias.to(dt))  # (N, O)
            return list(out.split([m.weight.shape[0] for m in mods], dim=-1)) if split else [out]
        return multi_proj(h, mods)
    A = torch.cat([m.lora_A.weight for m in mods if isinstance(m, LoRALinear)]).to(dt)  # (R, D)
    blocks = [(m.lora_B.weight * m.scaling).to(dt) if isinstance(m, LoRALinear)
              else torch.zeros((m.weight.shape[0], 0), dtype=dt, device=x.device) for m in mods]
    B = torch.block_diag(*blocks)  # (O, R)
    if norm is None:
        out = functions._GROUP_APPLY(x, W.to(dt), A, B)  # (N, O)
    else:
        out = functions._NORM_GROUP_APPLY(x, norm.weight, norm.eps, W.to(dt), A, B)  # (N, O)
    if bias is not None:
        out = out + bias.to(dt)
    return list(out.split([m.weight.shape[0] for m in mods], dim=-1)) if split else [out]


def multi_proj(x: torch.Tensor, mods) -> list[torch.Tensor]:
    """[m(x) for m in mods] for linears that read the same input; their LoRA A products are one GEMM.

    No fp32 copy of x: the fp32 master adapters are cast down instead (r x in: tiny), and B carries the
    scaling, so the LoRA term is two bf16 GEMMs plus the add (same math as LoRALinear.forward).
    """
    dt = x.dtype
    outs = [_base_linear(m, x) for m in mods]
    if all(isinstance(m, LoRALinear) and m.scaling == 0 for m in mods):
        return outs  # adapters zeroed (a reference pass: preference.adapters_zeroed): B A x * 0 adds nothing
    if _lora_fusable(mods):
        A = torch.cat([m.lora_A.weight for m in mods]).to(dt)  # (sum r, in)
        xa = F.linear(x, A)  # (N, sum r)
        r0 = 0
        for i, m in enumerate(mods):
            B = (m.lora_B.weight * m.scaling).to(dt)  # (out, r)
            outs[i] = outs[i] + F.linear(xa[:, r0 : r0 + m.rank], B)
            r0 += m.rank
        return outs
    for i, m in enumerate(mods):
        if isinstance(m, LoRALinear):
            xd = m.dropout(x)
            outs[i] = outs[i] + F.linear(F.linear(xd, m.lora_A.weight.to(dt)), (m.lora_B.weight * m.scaling).to(dt))
    return outs


def _base_linear(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The frozen part of a projection, x W^T + b: a quantized base (LoRALinear.quantized) through its own
    kernels (quant/kernels.py, one custom op with the input gradient), else one GEMM with W cast to x's dtype."""
    q = getattr(m, "quantized", None)
    if q is not None:
        return q(x)
    return F.linear(x, m.weight.to(x.dtype), None if m.bias is None else m.bias.to(x.dtype))


def _pre_attn(blk, x, cos, sin):
    """Norm, q/k/v projections (+ LoRA), Qwen3 q/k norm, RoPE. x: (N, D) -> q (N, H, hd), k, v (N, KV, hd)."""
    a = blk.self_attn
    N = x.shape[0]
    q, k, v = group_proj(x, [a.q_proj, a.k_proj, a.v_proj], blk.input_layernorm, getattr(a, "_tb_qkv", None),
                         getattr(a, "_tb_qkv_bias", None))
    q = q.view(N, a.n_heads, a.hd)  # (N, H, hd)
    k = k.view(N, a.n_kv, a.hd)  # (N, KV, hd)
    v = v.contiguous().view(N, a.n_kv, a.hd)  # (N, KV, hd); a copy, so backward does not keep all of q/k/v
    if a.qk_norm:
        q, k = rms_norm(a.q_norm, q), rms_norm(a.k_norm, k)
    return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v


def _post_attn(blk, x, y):
    """o_proj + residual, norm, SwiGLU MLP + residual. x: (N, D), y: (N, H, hd) -> (N, D)."""
    (o,) = group_proj(y.reshape(y.shape[0], -1), [blk.self_attn.o_proj])  # (N, H*hd) -> (N, D)
    x = x + o
    moe = sparse_moe(blk)
    if moe is not None:  # MoE blocks: router + grouped-GEMM experts (fast/moe.py)
        return x + moe_block_mlp(blk, moe, rms_norm(blk.post_attention_layernorm, x))
    mlp = blk.mlp
    W_gu, gu_mods, down = getattr(mlp, "_tb_gate_up", None), [mlp.gate_proj, mlp.up_proj], mlp.down_proj
    if (W_gu is not None and getattr(mlp, "_tb_gate_up_bias", None) is None and torch.is_grad_enabled()
            and _lora_fusable(gu_mods + [down]) and down.bias is None
            and not any(m.use_dora for m in gu_mods + [down]) and not blk.post_attention_layernorm.weight.requires_grad):
        dt = x.dtype
        norm = blk.post_attention_layernorm
        A_gu = torch.cat([m.lora_A.weight for m in gu_mods]).to(dt)  # (2r, D)
        B_gu = torch.block_diag(*[(m.lora_B.weight * m.scaling).to(dt) for m in gu_mods])  # (2I, 2r)
        M_gu, M_d = getattr(mlp, "_tb_gate_up_aug", None), getattr(mlp, "_tb_down_aug", None)
        if M_gu is None or M_gu.dtype != dt:  # not augmented (augment_mlp), or autocast to another dtype
            M_gu, M_d = W_gu.to(dt), down.weight.to(dt)
        d = functions._MLP_APPLY(x, norm.weight, norm.eps, M_gu, A_gu, B_gu, M_d,
                       down.lora_A.weight.to(dt), (down.lora_B.weight * down.scaling).to(dt),
                       bool(getattr(blk, "_tb_mlp_recompute", False)), bool(getattr(blk, "_tb_keep_product", False)))
        return x + d
    gate_up = group_proj(x, [mlp.gate_proj, mlp.up_proj], blk.post_attention_layernorm,
                         getattr(mlp, "_tb_gate_up", None), getattr(mlp, "_tb_gate_up_bias", None), split=False)
    down = mlp.down_proj
    if _lora_fusable([down]) and down.bias is None and down.weight is not None and torch.is_grad_enabled():
        gu = gate_up[0] if len(gate_up) == 1 else torch.cat(gate_up, dim=-1)  # (N, 2I) = [g | u]
        dt = gu.dtype
        d = _SwiGLUDownLoRA.apply(gu, down.weight.to(dt), down.lora_A.weight.to(dt),
                                  (down.lora_B.weight * down.scaling).to(dt))
    else:
        g, u = gate_up if len(gate_up) == 2 else gate_up[0].chunk(2, dim=-1)
        (d,) = multi_proj(F.silu(g) * u, [down])
    return x + d
