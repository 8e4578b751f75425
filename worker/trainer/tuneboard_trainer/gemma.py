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
load unchanged and LoRA adapters use peft's names. The forward signature is model.Transformer's.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import MLP, KVCache, ModelConfig, apply_rope, attention_masks
from .rope import rope_cos_sin, rope_inv_freq


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


def softcap(x: torch.Tensor, cap: Optional[float]) -> torch.Tensor:
    """cap * tanh(x / cap): squashes x smoothly into (-cap, cap); None = unchanged."""
    return x if cap is None else torch.tanh(x / cap) * cap


class GemmaAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.n_heads, self.n_kv, self.hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, self.n_heads * self.hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(self.n_heads * self.hd, cfg.hidden_size, bias=cfg.o_bias)
        if cfg.qk_norm:  # Gemma 3
            self.q_norm = GemmaRMSNorm(self.hd, cfg.rms_norm_eps)
            self.k_norm = GemmaRMSNorm(self.hd, cfg.rms_norm_eps)
        self.qk_norm = cfg.qk_norm
        self.scale = (cfg.query_pre_attn_scalar or self.hd) ** -0.5
        self.cap = cfg.attn_logit_softcapping

    def forward(self, x, cos, sin, mask, cache: Optional[KVCache], start_pos: int):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.hd)
        k = self.k_proj(x).view(B, T, self.n_kv, self.hd)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q = q.transpose(1, 2)  # (B, H, T, hd)
        k = k.transpose(1, 2)  # (B, KV, T, hd)
        v = self.v_proj(x).view(B, T, self.n_kv, self.hd).transpose(1, 2)  # (B, KV, T, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(self.layer_idx, start_pos, k, v)  # (B, KV, S, hd)
        rep = self.n_heads // self.n_kv
        k = k.repeat_interleave(rep, dim=1)  # (B, H, S, hd)
        v = v.repeat_interleave(rep, dim=1)  # (B, H, S, hd)
        if self.cap is None:
            causal = mask is None and T > 1 and start_pos == 0
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=self.scale)
        else:
            y = self._softcapped(q, k, v, mask, start_pos)
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.hd)  # (B, T, H*hd)
        return self.o_proj(y)

    def _softcapped(self, q, k, v, mask, start_pos: int) -> torch.Tensor:
        """Attention with soft-capped scores (SDPA cannot cap): softmax in fp32 as transformers' eager path."""
        T, S = q.shape[2], k.shape[2]
        scores = softcap((q @ k.transpose(-1, -2)) * self.scale, self.cap)  # (B, H, T, S)
        if mask is None:  # plain causal from start_pos
            mask = (torch.arange(start_pos, start_pos + T, device=q.device)[:, None]
                    >= torch.arange(S, device=q.device)[None, :])[None, None]  # (1, 1, T, S)
        scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype) @ v  # (B, H, T, hd)


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


class GemmaBackbone(nn.Module):
    """transformers' `Gemma2Model` / `Gemma3TextModel` (the `model.` prefix in checkpoint names)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(GemmaBlock(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = GemmaRMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class GemmaTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.model = GemmaBackbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.init_rope()

    def init_rope(self, device=None) -> None:
        """Global layers: rope_theta with its scaling; Gemma 3's sliding layers: local_rope_theta, unscaled.
        Plain attributes, not buffers, so `.to(bfloat16)` never rounds them."""
        cfg = self.config
        self.inv_freq = rope_inv_freq(cfg, device=device)
        self.inv_freq_local = (self.inv_freq if cfg.local_rope_theta is None
                               else rope_inv_freq(cfg, theta=cfg.local_rope_theta, scaled=False, device=device))

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, T)
        position_ids: Optional[torch.Tensor] = None,  # (B, T)
        attention_mask: Optional[torch.Tensor] = None,  # (B, S) padding mask or (B, 1, T, S) bool
        cache: Optional[KVCache] = None,
        start_pos: int = 0,
    ) -> torch.Tensor:
        """Final (normed) hidden states (B, T, D), as model.Transformer.forward (same masks and arguments)."""
        B, T = input_ids.shape
        device = input_ids.device
        if position_ids is None:
            position_ids = torch.arange(start_pos, start_pos + T, device=device).expand(B, T)
        x = self.model.embed_tokens(input_ids)  # (B, T, D)
        x = x * torch.tensor(math.sqrt(self.config.hidden_size), dtype=x.dtype)  # the normaliser in x's dtype
        rope = {None: rope_cos_sin(self.config, self.inv_freq, position_ids, x.dtype)}  # window -> (cos, sin)
        if self.config.local_rope_theta is None:  # Gemma 2: one RoPE for every layer
            rope[self.config.sliding_window] = rope[None]
        else:  # Gemma 3's sliding layers: their own base, never scaled
            freqs = position_ids[..., None].float() * self.inv_freq_local.to(device)  # (B, T, hd/2)
            emb = torch.cat((freqs, freqs), dim=-1)  # (B, T, hd)
            rope[self.config.sliding_window] = (emb.cos().to(x.dtype)[:, None], emb.sin().to(x.dtype)[:, None])
        masks = attention_masks({layer.window for layer in self.model.layers}, attention_mask, T, start_pos, device)
        for layer in self.model.layers:
            cos, sin = rope[layer.window]
            x = layer(x, cos, sin, masks[layer.window], cache, start_pos)
        return self.model.norm(x)

    def logits(self, input_ids, **kw) -> torch.Tensor:
        """Full (B, T, V) logits in fp32, soft-capped (Gemma 2) -- for tests and generation, not training."""
        return softcap(self.lm_head(self(input_ids, **kw)).float(), self.config.final_logit_softcapping)
