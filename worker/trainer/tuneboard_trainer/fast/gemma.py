"""Gemma 2 and Gemma 3 (text) on the fast path: `GemmaFastPath`, FastPath with gemma.py's block.

What differs from the Llama block of blocks.py, and where it is computed here:
- the embedding times sqrt(hidden_size), in the activation dtype (`hidden`);
- RMSNorm with (1 + weight) in fp32, four per block: the input and pre-feedforward norms are fused with the
  projections that read them (gemma_functions), the post-attention and post-feedforward norms apply to the
  branch before its residual add (`_gemma_post_attn`);
- GeGLU (gelu tanh) instead of SwiGLU (gemma_functions._GemmaMLPLoRA);
- scores scaled by query_pre_attn_scalar ** -0.5, soft-capped (Gemma 2) and limited to a sliding window on
  alternate layers: softcap_attention.py for capped layers and for windows shorter than the micro-batch's
  longest sequence; FlashAttention / cuDNN (attention.py, q pre-scaled) for the others;
- Gemma 3's per-head q/k norm and its sliding layers' own RoPE base (model.inv_freq_local);
- the final logits soft-capped inside the chunked loss (loss._LinearCrossEntropy's softcap).
Under CUDA graphs (graph.py) the micro-batch's offsets are on the device, and the capped / windowed layers
take softcap_attention_on_device (sequence ids, chunks bounded by the graph's longest-sequence bucket).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..loss import _LinearCrossEntropy
from ..lora import LoRALinear
from ..model import GEMMA_ARCHITECTURES, apply_rope
from ..rope import STATIC_ROPE_TYPES
from ..templates import IGNORE_INDEX
from .attention import attention
from .blocks import group_proj, multi_proj
from .functions import FUNCTION_MODE, compile_pointwise
from .gemma_functions import MLP_APPLY, NORM_GROUP_APPLY, compile_gemma, gemma_norm
from .memory import _OffloadedCheckpoint
from .options import FastPathOptions
from .path import FastPath
from .softcap_attention import compile_softcap, sequence_ids, softcap_attention, softcap_attention_on_device
from .weights import HostEmbedding


def gemma_supported(model) -> tuple[bool, str]:
    """FastPath.supported() for Gemma 2 / 3: plain LoRA (or rsLoRA) adapters on a GemmaTransformer."""
    from ..gemma import GemmaTransformer

    if not isinstance(model, GemmaTransformer):
        return False, "not a tuneboard Gemma model"
    cfg = model.config
    rope = (cfg.rope_scaling or {}).get("rope_type", "default")
    if rope not in STATIC_ROPE_TYPES:
        return False, f"{rope} RoPE has no fast path yet; training on the reference path"
    if not all(layer.mlp.gelu for layer in model.model.layers):
        return False, f"{cfg.hidden_act} MLP in a Gemma model"
    loras = [m for m in model.modules() if isinstance(m, LoRALinear)]
    if not loras:
        return False, "no LoRA layers (freeze/full fine-tuning use the reference path)"
    if any(m.use_dora for m in loras):
        return False, "DoRA"
    if any(getattr(m, "quantized", None) is not None for m in loras):
        return False, "a quantized Gemma base has no fast path yet; training on the reference path"
    return True, ""


def is_gemma(model) -> bool:
    return getattr(getattr(model, "config", None), "architecture", None) in GEMMA_ARCHITECTURES


def _fusable(W: Optional[torch.Tensor], mods, norm: nn.Module) -> bool:
    """Whether a norm and the projections reading it run as one Function (as blocks.group_proj decides)."""
    return (W is not None and torch.is_grad_enabled() and not W.requires_grad and not norm.weight.requires_grad
            and all(isinstance(m, LoRALinear) and isinstance(m.dropout, nn.Identity) and not m.use_dora
                    and getattr(m, "quantized", None) is None for m in mods))


def _lora_ab(mods, dt):
    """LoRA A stacked (R, in) and B block-diagonal (out, R) with the scaling folded in, in dtype dt."""
    A = torch.cat([m.lora_A.weight for m in mods]).to(dt)
    B = torch.block_diag(*[(m.lora_B.weight * m.scaling).to(dt) for m in mods])
    return A, B


def _gemma_pre_attn(blk, x, cos, sin):
    """Input norm, q/k/v (+ LoRA), Gemma 3's q/k norm, RoPE. x: (N, D) -> q (N, H, hd), k, v (N, KV, hd)."""
    a = blk.self_attn
    N, dt = x.shape[0], x.dtype
    mods, norm, W = [a.q_proj, a.k_proj, a.v_proj], blk.input_layernorm, getattr(a, "_tb_qkv", None)
    if _fusable(W, mods, norm):
        A, B = _lora_ab(mods, dt)
        qkv = NORM_GROUP_APPLY(x, norm.weight, norm.eps, W.to(dt), A, B)  # (N, (H + 2 KV) hd)
        bias = getattr(a, "_tb_qkv_bias", None)
        if bias is not None:
            qkv = qkv + bias.to(dt)
        q, k, v = qkv.split([m.weight.shape[0] for m in mods], dim=-1)
    else:
        q, k, v = multi_proj(gemma_norm(norm, x), mods)
    q = q.view(N, a.n_heads, a.hd)  # (N, H, hd)
    k = k.view(N, a.n_kv, a.hd)  # (N, KV, hd)
    v = v.contiguous().view(N, a.n_kv, a.hd)  # a copy, so backward does not keep all of q/k/v
    if a.qk_norm:
        q, k = gemma_norm(a.q_norm, q), gemma_norm(a.k_norm, k)
    return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v


def _gemma_post_attn(blk, x, y):
    """o_proj, post-attention norm + residual; pre-feedforward norm, GeGLU MLP, post-feedforward norm +
    residual. x: (N, D), y: (N, H, hd) -> (N, D)."""
    (o,) = group_proj(y.reshape(y.shape[0], -1), [blk.self_attn.o_proj])  # (N, D)
    x = x + gemma_norm(blk.post_attention_layernorm, o)
    mlp, norm, dt = blk.mlp, blk.pre_feedforward_layernorm, x.dtype
    gu_mods, down = [mlp.gate_proj, mlp.up_proj], mlp.down_proj
    W_gu = getattr(mlp, "_tb_gate_up", None)
    if (_fusable(W_gu, gu_mods, norm) and _fusable(down.weight, [down], norm)
            and getattr(mlp, "_tb_gate_up_bias", None) is None and down.bias is None):
        A_gu, B_gu = _lora_ab(gu_mods, dt)
        A_d, B_d = _lora_ab([down], dt)
        d = MLP_APPLY(x, norm.weight, norm.eps, W_gu.to(dt), A_gu, B_gu, down.weight.to(dt), A_d, B_d,
                      bool(getattr(blk, "_tb_mlp_recompute", False)), bool(getattr(blk, "_tb_keep_product", False)))
    else:
        g, u = multi_proj(gemma_norm(norm, x), gu_mods)
        (d,) = multi_proj(F.gelu(g, approximate="tanh") * u, [down])
    return x + gemma_norm(blk.post_feedforward_layernorm, d)


class GemmaFastPath(FastPath):
    """FastPath for gemma.GemmaTransformer (FastPath(model, ...) returns one for a Gemma model). Same
    arguments; augmented weights (options.augmented_weights) are not used."""

    def __init__(self, model, max_tokens: int, *, compile: bool = False, options: Optional[FastPathOptions] = None,
                 **kw):
        options = dataclasses.replace(options or FastPathOptions(), augmented_weights=False)
        # Gemma's 256k vocabulary: 128 rows a loss chunk keep its logits (and their fp32 soft-cap terms) at
        # Llama 3's 256-row footprint.
        kw.setdefault("loss_chunk", 128)
        super().__init__(model, max_tokens, compile=False, options=options, **kw)
        self.pre, self.post = _gemma_pre_attn, _gemma_post_attn
        if compile:
            compile_pointwise()
            compile_gemma()
            compile_softcap()
            self.pre = torch.compile(_gemma_pre_attn, dynamic=True)
            self.post = torch.compile(_gemma_post_attn, dynamic=True)
            self.compiled = True

    # Bytes kept per token per un-checkpointed block (bf16), as FastPath.act_bytes_per_token counts them: the
    # residual stream before each half and the inputs of the two post norms (4 x hidden), q/k/v, the attention
    # output (+ its fp32 logsumexp), gate and up; 10 % for what the count misses.
    def act_bytes_per_token(self) -> int:
        c = self.model.config
        qkv = (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim
        attn = c.num_attention_heads * c.head_dim
        return int(1.1 * (2 * (4 * c.hidden_size + qkv + attn + 2 * c.intermediate_size) + 4 * c.num_attention_heads))

    def _block(self, blk, x, cos, sin, seqs, max_len):
        cu, bounds, seq = seqs
        q, k, v = self.pre(blk, x, cos, sin)
        a = blk.self_attn
        window = blk.window if blk.window is not None and int(max_len) > blk.window else None  # else it never binds
        if (a.cap is not None or window is not None) and bounds is None:
            y = softcap_attention_on_device(q, k, v, seq, int(max_len), a.scale, a.cap, window)
        elif a.cap is not None or window is not None:
            y = softcap_attention(q, k, v, bounds, a.scale, a.cap, window)
        else:
            if abs(a.scale * math.sqrt(a.hd) - 1.0) > 1e-12:  # the kernels scale by head_dim ** -0.5
                q = q * (a.scale * math.sqrt(a.hd))
            y = attention(q, k, v, cu, max_len, self.options.dense_attention)
        return self.post(blk, x, y)

    def _rope(self, pos: torch.Tensor, inv_freq: torch.Tensor, dtype):
        freqs = pos[:, None].float() * inv_freq.to(pos.device)  # (N, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (N, hd)
        return emb.cos().to(dtype)[:, None], emb.sin().to(dtype)[:, None]  # (N, 1, hd)

    def hidden(self, mb: dict, device) -> torch.Tensor:
        """Final normed hidden states (N, D) of a packed micro-batch."""
        FUNCTION_MODE["trace"] = self.compiled and self.trace_functions
        FUNCTION_MODE["compiled"] = self.compiled
        m = self.model
        pos = mb["position_ids"].to(device, non_blocking=True)  # (N,)
        cu = mb["cu_seqlens"].to(device, non_blocking=True)
        if mb.get("static") or mb["cu_seqlens"].device.type != "cpu":
            # A CUDA graph's static buffers (graph.py): nothing may be read back to the host.
            bounds, seq = None, sequence_ids(cu, pos.shape[0])
        else:  # host offsets for softcap_attention
            bounds, seq = [int(b) for b in mb["cu_seqlens"].tolist()], None
        emb = m.model.embed_tokens
        if "inputs_embeds" in mb:
            x = mb["inputs_embeds"]
        elif isinstance(emb, HostEmbedding):
            x = emb.lookup(mb["input_ids"][0]).to(device, non_blocking=True)
        else:
            x = emb(mb["input_ids"].to(device, non_blocking=True)[0])  # (N, D)
        x = x * torch.tensor(math.sqrt(m.config.hidden_size), dtype=x.dtype)  # gemma.GemmaTransformer.embed
        rope = {None: self._rope(pos, m.inv_freq, x.dtype)}
        local = getattr(m, "inv_freq_local", m.inv_freq)
        for w in {blk.window for blk in m.model.layers} - {None}:
            rope[w] = rope[None] if local is m.inv_freq else self._rope(pos, local, x.dtype)
        seqs = (cu, bounds, seq)
        if self.offload and torch.is_grad_enabled() and not x.requires_grad:
            x = x.detach().requires_grad_(True)
        for i, blk in enumerate(m.model.layers):
            cos, sin = rope[blk.window]
            if i < self.ckpt_layers and torch.is_grad_enabled() and self.offload:
                x = _OffloadedCheckpoint.apply(x, self._block, blk, cos, sin, seqs, mb["max_len"])
            elif i < self.ckpt_layers and torch.is_grad_enabled():
                x = checkpoint(self._block, blk, x, cos, sin, seqs, mb["max_len"], use_reentrant=False,
                               preserve_rng_state=self.uses_rng)
            else:
                x = self._block(blk, x, cos, sin, seqs, mb["max_len"])
        return gemma_norm(m.model.norm, x)

    def loss(self, mb: dict, device) -> tuple[torch.Tensor, int]:
        """Summed next-token cross-entropy (final logits soft-capped, Gemma 2) over the labelled positions."""
        try:
            h = self.hidden(mb, device)
        except Exception as e:
            if not self.compiled:
                raise
            # A compile failure must not stop training: eager from now on, saying why (stderr: the run's log).
            print(f"compiled Gemma fast path failed ({type(e).__name__}: {str(e)[:300]}); running it eagerly",
                  file=sys.stderr)
            self.pre, self.post, self.compiled = _gemma_pre_attn, _gemma_post_attn, False
            h = self.hidden(mb, device)
        y = mb["targets"]
        idx = (y != IGNORE_INDEX).nonzero().squeeze(1)  # (n,), on the host: no device sync
        n = len(idx)
        if n == 0:
            return h.sum() * 0.0, 0
        idx_d = idx.to(device, non_blocking=True)
        y_d = y[idx].to(device, non_blocking=True)
        return _LinearCrossEntropy.apply(h.index_select(0, idx_d), self.model.lm_head.weight, y_d, self.loss_chunk,
                                         None, self.logit_softcap), n
