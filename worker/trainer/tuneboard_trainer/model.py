"""Llama-family decoder in one file (nanoGPT / gpt-fast style).

One module covers Llama 2/3/3.1/3.2, Qwen2/2.5, Qwen3 and Mistral: they differ
only in q/k/v/o biases, Qwen3's per-head q/k RMSNorm, head_dim, RoPE scaling,
tied embeddings and Mistral/Qwen sliding-window attention. Families with another
block reuse its pieces in their own file: gemma.py, phi3.py, glm.py (`build_model`).

Parameter names mirror Hugging Face's `*ForCausalLM` one-to-one
(`model.layers.0.self_attn.q_proj.weight`, ...) so real HF checkpoints load
without any renaming, and LoRA adapters we save use PEFT's key names.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model_config import (  # noqa: F401 -- re-exported: model.ModelConfig is what callers import
    GEMMA_ARCHITECTURES, GLM_ARCHITECTURES, LLAMA_FAMILY, MOE_ARCHITECTURES, SUPPORTED_ARCHITECTURES, ModelConfig,
    UnsupportedModelError,
)
from .rope import rope_cos_sin, rope_inv_freq  # noqa: F401 -- rope_inv_freq re-exported for the chat engine


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """HF's "rotate half" (non-interleaved) RoPE over the last dimension; cos/sin broadcast against x: (B, H, T, hd)
    with (B, 1, T, rd) here, (N, heads, hd) with (N, 1, rd) in the fast path and the chat engine. rd < hd (partial
    rotary, Phi-4-mini): only the first rd dims rotate, the rest pass through."""
    rd = cos.shape[-1]
    if rd == x.shape[-1]:
        return x * cos + rotate_half(x) * sin
    xr = x[..., :rd]
    return torch.cat((xr * cos + rotate_half(xr) * sin, x[..., rd:]), dim=-1)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm as HF computes it: normalise in fp32, cast back to x's dtype, then the weight multiply."""
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class KVCache:
    """Preallocated per-layer key/value buffers for incremental decoding."""

    def __init__(self, cfg: ModelConfig, batch: int, max_len: int, device, dtype):
        shape = (batch, cfg.num_key_value_heads, max_len, cfg.head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.num_hidden_layers)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.num_hidden_layers)]
        self.max_len = max_len

    def update(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor):
        end = start + k.shape[2]
        self.k[layer][:, :, start:end] = k
        self.v[layer][:, :, start:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]


class Attention(nn.Module):
    """q/k/v/o projections, optional per-head q/k norm, then `attend`. Families change it through three hooks:
    `norm_class` (the q/k norm: Gemma's 1 + weight), `rope` (GLM's interleaved pairs) and, per instance,
    `scale` / `cap` (Gemma's query_pre_attn_scalar and Gemma 2's soft-capped scores)."""

    norm_class = RMSNorm  # the q/k norm
    rope = staticmethod(apply_rope)  # how positions rotate q and k

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.n_heads, self.n_kv, self.hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, self.n_heads * self.hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(self.n_heads * self.hd, cfg.hidden_size, bias=cfg.o_bias)
        if cfg.qk_norm:  # Qwen3, Gemma 3: normalise each head's q and k (over head_dim) before RoPE
            self.q_norm = self.norm_class(self.hd, cfg.rms_norm_eps)
            self.k_norm = self.norm_class(self.hd, cfg.rms_norm_eps)
        self.qk_norm = cfg.qk_norm
        self.scale = None  # attention scale; None = head_dim ** -0.5
        self.cap = None  # soft-cap of the attention scores; None = no cap

    def forward(self, x, cos, sin, mask, cache: Optional[KVCache], start_pos: int):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.hd)
        k = self.k_proj(x).view(B, T, self.n_kv, self.hd)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        v = self.v_proj(x).view(B, T, self.n_kv, self.hd)
        y = attend(q, k, v, cos, sin, mask, cache, self.layer_idx, start_pos, rope=self.rope, scale=self.scale,
                   cap=self.cap)
        return self.o_proj(y)


def softcap(x: torch.Tensor, cap: Optional[float]) -> torch.Tensor:
    """cap * tanh(x / cap): squashes x smoothly into (-cap, cap); None = unchanged."""
    return x if cap is None else torch.tanh(x / cap) * cap


def attend(q, k, v, cos, sin, mask, cache: Optional[KVCache], layer_idx: int, start_pos: int,
           rope=apply_rope, scale: Optional[float] = None, cap: Optional[float] = None) -> torch.Tensor:
    """RoPE, KV cache and grouped-query attention from per-head projections: q (B, T, H, hd), k and v
    (B, T, KV, hd). Returns (B, T, H*hd), ready for o_proj. `rope`: how positions rotate q and k; `scale`:
    the score scale (None = hd ** -0.5); `cap`: soft-cap of the scores (None = none)."""
    B, T, H, hd = q.shape
    q = rope(q.transpose(1, 2), cos, sin)  # (B, H, T, hd)
    k = rope(k.transpose(1, 2), cos, sin)  # (B, KV, T, hd)
    v = v.transpose(1, 2)  # (B, KV, T, hd)
    if cache is not None:
        k, v = cache.update(layer_idx, start_pos, k, v)  # (B, KV, S, hd), S = start_pos + T
    # GQA: each group of H // KV query heads reads the same k/v head.
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)  # (B, H, S, hd)
    v = v.repeat_interleave(rep, dim=1)  # (B, H, S, hd)
    if cap is not None:
        y = _softcapped_attention(q, k, v, mask, start_pos, scale if scale is not None else hd ** -0.5, cap)
    elif mask is None:
        # Plain causal attention; with a cache and T == 1 every cached key is visible.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=(T > 1 and start_pos == 0), scale=scale)
    else:
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    return y.transpose(1, 2).reshape(B, T, H * hd)  # (B, T, H*hd)


def _softcapped_attention(q, k, v, mask, start_pos: int, scale: float, cap: float) -> torch.Tensor:
    """Attention with soft-capped scores (SDPA cannot cap): softmax in fp32 as transformers' eager path."""
    T, S = q.shape[2], k.shape[2]
    scores = softcap((q @ k.transpose(-1, -2)) * scale, cap)  # (B, H, T, S)
    if mask is None:  # plain causal from start_pos
        mask = (torch.arange(start_pos, start_pos + T, device=q.device)[:, None]
                >= torch.arange(S, device=q.device)[None, :])[None, None]  # (1, 1, T, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype) @ v  # (B, H, T, hd)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)

        self.gelu = cfg.hidden_act == "gelu_pytorch_tanh"

    def forward(self, x):
        gate = self.gate_proj(x)
        gate = F.gelu(gate, approximate="tanh") if self.gelu else F.silu(gate)
        return self.down_proj(gate * self.up_proj(x))  # SwiGLU, or GeGLU (Gemma)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.window = cfg.layer_window(layer_idx)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, layer_idx)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask, cache, start_pos):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, start_pos)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """HF's `LlamaModel` (the `model.` prefix in checkpoint names)."""

    def __init__(self, cfg: ModelConfig, block_class=Block, norm_class=RMSNorm):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(block_class(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = norm_class(cfg.hidden_size, cfg.rms_norm_eps)


def _fix_empty_rows(mask: Optional[torch.Tensor], q_pos, k_pos) -> Optional[torch.Tensor]:
    """A query that may see nothing (padding) would give NaN in SDPA; let such rows see themselves."""
    if mask is None:
        return None
    empty = ~mask.any(dim=-1, keepdim=True)  # (B, 1, T, 1)
    if not bool(empty.any()):
        return mask
    return mask | (empty & (q_pos == k_pos))


def attention_masks(windows: set, attention_mask: Optional[torch.Tensor], T: int, start_pos: int,
                    device) -> dict:
    """The attention mask of each sliding-window size in `windows` (None = full causal attention), built once
    per forward: None = plain causal (SDPA's is_causal), else (B|1, 1, T, S) bool, True = may attend.
    `attention_mask` is a (B, S) padding mask or a complete (B, 1, T, S) boolean mask (Transformer.forward)."""
    S = start_pos + T
    q_pos = torch.arange(start_pos, S, device=device)[:, None]  # (T, 1)
    k_pos = torch.arange(S, device=device)[None, :]  # (1, S)
    mask = None  # None = plain causal (SDPA's is_causal); else (B|1, 1, T, S) bool, True = attend
    if attention_mask is not None and attention_mask.dim() == 4:
        if attention_mask.is_floating_point():
            raise TypeError("a 4-D attention_mask must be boolean (True = may attend), not additive floats")
        if attention_mask.shape[-2:] != (T, S) or attention_mask.shape[1] != 1:
            raise ValueError(f"4-D attention_mask must be (B, 1, {T}, {S}), got {tuple(attention_mask.shape)}")
        mask = attention_mask.bool()
    elif attention_mask is not None:
        if attention_mask.dim() != 2:
            raise ValueError(f"attention_mask must be (B, S) or (B, 1, T, S), got {tuple(attention_mask.shape)}")
        if not bool(attention_mask.all()):
            mask = ((q_pos >= k_pos)[None] & attention_mask[:, None, :S].bool())[:, None]  # (B, 1, T, S)
    masks = {None: mask}
    for w in set(windows) - {None}:
        if S <= w:  # every key is within the window of every query: nothing to hide
            masks[w] = mask
            continue
        near = (q_pos - k_pos) < w  # (T, S)
        base = mask if mask is not None else (q_pos >= k_pos)[None, None]
        masks[w] = base & near
    masks = {w: _fix_empty_rows(m, q_pos, k_pos) for w, m in masks.items()}
    return masks


class Transformer(nn.Module):
    block_class = Block  # the decoder block; gemma.py, phi3.py, glm.py and moe.py swap in their own
    norm_class = RMSNorm  # the final norm (Gemma: 1 + weight)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.model = Backbone(cfg, self.block_class, self.norm_class)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.init_rope()

    def init_rope(self, device=None) -> None:
        """RoPE frequencies: a plain attribute, not a buffer, so `.to(bfloat16)` never rounds them.
        device None: where tensors are created by default (meta while a skeleton is built)."""
        self.inv_freq = rope_inv_freq(self.config, device=device)

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, T)
        position_ids: Optional[torch.Tensor] = None,  # (B, T); default start_pos..start_pos+T-1
        attention_mask: Optional[torch.Tensor] = None,  # (B, S) 1 = real token, 0 = padding; or (B, 1, T, S) bool
        cache: Optional[KVCache] = None,
        start_pos: int = 0,
    ) -> torch.Tensor:
        """Returns final (normed) hidden states (B, T, D); use `logits()` or `lm_loss()` on top.

        `attention_mask` is either a (B, S) padding mask (causality is added here) or a complete
        (B, 1, T, S) boolean mask, True = may attend, used as given -- e.g. block-diagonal causal
        masks for packed sequences (pass matching `position_ids` that restart per segment).
        S = start_pos + T. Sliding-window layers additionally hide keys >= window positions back.
        """
        B, T = input_ids.shape
        device = input_ids.device
        if position_ids is None:
            position_ids = torch.arange(start_pos, start_pos + T, device=device).expand(B, T)
        x = self.embed(input_ids)  # (B, T, D)
        windows = {layer.window for layer in self.model.layers}
        rope = self.rope_by_window(windows, position_ids, x.dtype)
        masks = attention_masks(windows, attention_mask, T, start_pos, device)
        for layer in self.model.layers:
            cos, sin = rope[layer.window]
            x = layer(x, cos, sin, masks[layer.window], cache, start_pos)
        return self.model.norm(x)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B, T, D); Gemma scales them."""
        return self.model.embed_tokens(input_ids)

    def rope_by_window(self, windows: set, position_ids: torch.Tensor, dtype) -> dict:
        """window -> (cos, sin), each (B, 1, T, rotated dims): one RoPE for every layer here; Gemma 3's sliding
        layers have their own."""
        cos_sin = rope_cos_sin(self.config, self.inv_freq, position_ids, dtype)
        return {w: cos_sin for w in windows}

    def logits(self, input_ids, **kw) -> torch.Tensor:
        """Full (B, T, V) logits in fp32 -- for tests and generation, not for training."""
        return self.lm_head(self(input_ids, **kw)).float()


def build_model(cfg: ModelConfig) -> nn.Module:
    """The module that runs `cfg.architecture`: gemma.py, phi3.py, glm.py, moe.py, or the Llama family here."""
    if cfg.architecture in GEMMA_ARCHITECTURES:
        from .gemma import GemmaTransformer

        return GemmaTransformer(cfg)
    if cfg.architecture == "Phi3ForCausalLM":
        from .phi3 import Phi3Transformer

        return Phi3Transformer(cfg)
    if cfg.architecture in GLM_ARCHITECTURES:
        from .glm import GlmTransformer

        return GlmTransformer(cfg)
    if cfg.architecture in MOE_ARCHITECTURES:
        from .moe import MoETransformer

        return MoETransformer(cfg)
    return Transformer(cfg)
