"""Gemma 2 and Gemma 3 (text) decoder in one file, next to model.py's Llama family.

What Gemma does differently from Llama (each line below is one place in this file):
- the embedding is multiplied by sqrt(hidden_size) (in the weights' dtype, as transformers does);
- RMSNorm multiplies by (1 + weight), in fp32, and each block has four of them: before and after attention,
  before and after the MLP ("sandwich" norms; the post norms apply to the branch, before the residual add);
- the MLP is GeGLU (tanh-approximated GELU gate), not SwiGLU;
- attention scores are scaled by query_pre_attn_scalar ** -0.5 instead of head_dim ** -0.5;
- layers alternate between sliding-window and global attention (`layer_types`);
- Gemma 2 soft-caps attention scores and final logits: x -> cap * tanh(x / cap);
- Gemma 3 normalises q and k per head (like Qwen3, with Gemma's norm) and its sliding layers use their own
  RoPE base (`local_rope_theta`, 10k) while global layers keep rope_theta (1M) and its scaling.

Parameter names are transformers' (`model.layers.0.pre_feedforward_layernorm.weight`, ...), so checkpoints
load unchanged and LoRA adapters use peft's names. Attention, MLP and the forward are model.py's, with hooks.
"""

from __future__ import annotations

import math
import torch
import torch.nn as nn

from .model import MLP, Attention, ModelConfig, Transformer, softcap
from .rope import rope_inv_freq


class GemmaRMSNorm(nn.Module):
    """x / rms(x) * (1 + weight), all in fp32, cast back at the end (weights are stored as offsets from 1)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * (1.0 + self.weight.float())).to(x.dtype)


class GemmaAttention(Attention):
    """model.Attention with Gemma's q/k norm (Gemma 3), its score scale and Gemma 2's soft-capped scores."""

    norm_class = GemmaRMSNorm

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__(cfg, layer_idx)
        self.scale = (cfg.query_pre_attn_scalar or self.hd) ** -0.5
        self.cap = cfg.attn_logit_softcapping


class GemmaBlock(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.window = cfg.layer_window(layer_idx)
        self.input_layernorm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = GemmaAttention(cfg, layer_idx)
        self.post_attention_layernorm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.pre_feedforward_layernorm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)  # GeGLU: cfg.hidden_act is gelu_pytorch_tanh
        self.post_feedforward_layernorm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, cache, start_pos):
        x = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, start_pos))
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))


class GemmaTransformer(Transformer):
    """model.Transformer over Gemma blocks, with Gemma's norm, scaled embedding, per-layer-type RoPE and
    soft-capped logits."""

    block_class = GemmaBlock
    norm_class = GemmaRMSNorm

    def init_rope(self, device=None) -> None:
        """Global layers: rope_theta with its scaling; Gemma 3's sliding layers: local_rope_theta, unscaled.
        Plain attributes, not buffers, so `.to(bfloat16)` never rounds them."""
        cfg = self.config
        self.inv_freq = rope_inv_freq(cfg, device=device)
        self.inv_freq_local = (self.inv_freq if cfg.local_rope_theta is None
                               else rope_inv_freq(cfg, theta=cfg.local_rope_theta, scaled=False, device=device))

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.model.embed_tokens(input_ids)  # (B, T, D)
        return x * torch.tensor(math.sqrt(self.config.hidden_size), dtype=x.dtype)  # the normaliser in x's dtype

    def rope_by_window(self, windows: set, position_ids: torch.Tensor, dtype) -> dict:
        """Gemma 2: one RoPE for every layer; Gemma 3's sliding layers: their own base, never scaled."""
        rope = super().rope_by_window(windows, position_ids, dtype)
        if self.config.local_rope_theta is not None and self.config.sliding_window in rope:
            freqs = position_ids[..., None].float() * self.inv_freq_local.to(position_ids.device)  # (B, T, hd/2)
            emb = torch.cat((freqs, freqs), dim=-1)  # (B, T, hd)
            rope[self.config.sliding_window] = (emb.cos().to(dtype)[:, None], emb.sin().to(dtype)[:, None])
        return rope

    def logits(self, input_ids, **kw) -> torch.Tensor:
        """Full (B, T, V) logits in fp32, soft-capped (Gemma 2) -- for tests and generation, not training."""
        return softcap(self.lm_head(self(input_ids, **kw)).float(), self.config.final_logit_softcapping)
