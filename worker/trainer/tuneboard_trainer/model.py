"""Llama-family decoder in one file (nanoGPT / gpt-fast style).

One module covers Llama 2/3/3.1/3.2, Qwen2/2.5, Qwen3 and Mistral: they differ
only in q/k/v/o biases, Qwen3's per-head q/k RMSNorm, head_dim, RoPE scaling,
tied embeddings and Mistral/Qwen sliding-window attention.

Parameter names mirror Hugging Face's `*ForCausalLM` one-to-one
(`model.layers.0.self_attn.q_proj.weight`, ...) so real HF checkpoints load
without any renaming, and LoRA adapters we save use PEFT's key names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .contracts.enums import ARCHITECTURES

SUPPORTED_ARCHITECTURES = ARCHITECTURES


class UnsupportedModelError(ValueError):
    """The checkpoint's architecture (or a feature of it) is not implemented here."""


@dataclass
class ModelConfig:
    vocab_size: int = 128256  # number of token embeddings / output classes
    hidden_size: int = 4096  # residual stream width (d_model)
    intermediate_size: int = 14336  # SwiGLU hidden width
    num_hidden_layers: int = 32  # number of transformer blocks
    num_attention_heads: int = 32  # query heads
    num_key_value_heads: int = 8  # key/value heads (GQA: query heads share them)
    head_dim: Optional[int] = None  # per-head width; None -> hidden_size // num_attention_heads
    rms_norm_eps: float = 1e-5  # epsilon inside RMSNorm
    rope_theta: float = 500000.0  # RoPE base frequency
    rope_scaling: Optional[dict] = None  # HF rope scaling dict (rope_type "llama3" / "linear"), None = plain RoPE
    max_position_embeddings: int = 131072  # longest context the checkpoint was trained for
    tie_word_embeddings: bool = False  # lm_head shares the embedding matrix
    qkv_bias: bool = False  # bias on q/k/v projections (Llama attention_bias, Qwen2)
    o_bias: bool = False  # bias on the attention output projection (Llama attention_bias only)
    mlp_bias: bool = False  # bias on gate/up/down projections
    qk_norm: bool = False  # Qwen3: RMSNorm over head_dim on q and k (q_norm / k_norm) before RoPE
    sliding_window: Optional[int] = None  # keys further back than this many positions are masked (None = off)
    layer_types: Optional[list] = None  # per layer "full_attention" | "sliding_attention"; None = all sliding if window
    architecture: str = "LlamaForCausalLM"  # HF class name (written back when exporting)
    bos_token_id: Optional[int] = None  # informational; the template adds BOS itself
    eos_token_id: Optional[object] = None  # int or list of ints (generation stop ids)
    extra: dict = field(default_factory=dict)  # untouched remainder of config.json

    def __post_init__(self):
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.layer_types is not None and len(self.layer_types) != self.num_hidden_layers:
            raise ValueError("layer_types must have one entry per layer")

    def layer_window(self, i: int) -> Optional[int]:
        """The sliding window of layer i, or None for full causal attention."""
        if self.sliding_window is None:
            return None
        if self.layer_types is not None and self.layer_types[i] != "sliding_attention":
            return None
        return int(self.sliding_window)

    @classmethod
    def from_hf(cls, cfg: dict) -> "ModelConfig":
        """Build from a Hugging Face `config.json` dict (transformers 4 or 5 layout)."""
        model_type = cfg.get("model_type", "llama")
        archs = cfg.get("architectures") or [_ARCH_BY_MODEL_TYPE.get(model_type, f"model_type={model_type}")]
        for arch in archs:
            if arch not in SUPPORTED_ARCHITECTURES:
                raise UnsupportedModelError(
                    f"unsupported model architecture {arch!r}; supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
                )
        arch = archs[0]
        if cfg.get("hidden_act", "silu") != "silu":
            raise UnsupportedModelError(f"unsupported hidden_act {cfg['hidden_act']!r} (only silu)")
        # transformers 5 folds rope_theta + rope_scaling into `rope_parameters`.
        rope = dict(cfg.get("rope_parameters") or cfg.get("rope_scaling") or {})
        theta = rope.pop("rope_theta", None) or cfg.get("rope_theta", 10000.0)
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type not in ("default", "llama3", "linear"):
            raise UnsupportedModelError(f"unsupported rope_type {rope_type!r}")
        attention_bias = bool(cfg.get("attention_bias", False))
        qkv_bias, o_bias, mlp_bias = attention_bias, attention_bias, bool(cfg.get("mlp_bias", False))
        if arch == "Qwen2ForCausalLM":  # always q/k/v bias, never o bias
            qkv_bias, o_bias, mlp_bias = True, False, False
        elif arch == "MistralForCausalLM":
            qkv_bias = o_bias = mlp_bias = False
        elif arch == "Qwen3ForCausalLM":
            mlp_bias = False
        # Sliding window: Mistral applies `sliding_window` to every layer when set; Qwen2/3 only when
        # `use_sliding_window`, and then on the layers that `layer_types` (or `max_window_layers`) marks.
        window, layer_types = cfg.get("sliding_window"), cfg.get("layer_types")
        n_layers = cfg["num_hidden_layers"]
        if arch in ("Qwen2ForCausalLM", "Qwen3ForCausalLM"):
            if not cfg.get("use_sliding_window", False):
                window = None
            if window is not None and layer_types is None:
                mwl = cfg.get("max_window_layers", 28)
                layer_types = ["sliding_attention" if i >= mwl else "full_attention" for i in range(n_layers)]
        elif arch == "LlamaForCausalLM":
            window, layer_types = None, None
        if window is None:
            layer_types = None
        elif layer_types is not None and any(t not in ("full_attention", "sliding_attention") for t in layer_types):
            raise UnsupportedModelError(f"unsupported layer_types {sorted(set(layer_types))}")
        known = {
            "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters",
            "max_position_embeddings", "tie_word_embeddings", "attention_bias", "mlp_bias",
            "bos_token_id", "eos_token_id", "sliding_window", "use_sliding_window", "layer_types",
            "max_window_layers", "architectures",
        }
        return cls(
            vocab_size=cfg["vocab_size"],
            hidden_size=cfg["hidden_size"],
            intermediate_size=cfg["intermediate_size"],
            num_hidden_layers=cfg["num_hidden_layers"],
            num_attention_heads=cfg["num_attention_heads"],
            num_key_value_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
            head_dim=cfg.get("head_dim"),
            rms_norm_eps=cfg.get("rms_norm_eps", 1e-6),
            rope_theta=float(theta),
            rope_scaling=None if rope_type == "default" else {**rope, "rope_type": rope_type},
            max_position_embeddings=cfg.get("max_position_embeddings", 2048),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            qkv_bias=qkv_bias,
            o_bias=o_bias,
            mlp_bias=mlp_bias,
            qk_norm=arch == "Qwen3ForCausalLM",
            sliding_window=None if window is None else int(window),
            layer_types=None if layer_types is None else list(layer_types),
            architecture=arch,
            bos_token_id=cfg.get("bos_token_id"),
            eos_token_id=cfg.get("eos_token_id"),
            extra={k: v for k, v in cfg.items() if k not in known},
        )


_ARCH_BY_MODEL_TYPE = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                       "mistral": "MistralForCausalLM"}


def rope_inv_freq(cfg: ModelConfig) -> torch.Tensor:
    """Inverse frequencies (head_dim/2,) in float32, with HF's llama3 / linear scaling."""
    d = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    s = cfg.rope_scaling
    if not s:
        return inv_freq
    if s["rope_type"] == "linear":
        return inv_freq / s["factor"]
    # llama3: long wavelengths are slowed down by `factor`, short ones kept,
    # and the band in between is interpolated smoothly.
    factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old_ctx = s["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_ctx / lo, old_ctx / hi
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """HF's "rotate half" (non-interleaved) RoPE over the last dimension; cos/sin broadcast against x: (B, H, T, hd)
    with (B, 1, T, hd) here, (N, heads, hd) with (N, 1, hd) in the fast path and the chat engine."""
    return x * cos + rotate_half(x) * sin


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
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.n_heads, self.n_kv, self.hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, self.n_heads * self.hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(self.n_heads * self.hd, cfg.hidden_size, bias=cfg.o_bias)
        if cfg.qk_norm:  # Qwen3: normalise each head's q and k (over head_dim) before RoPE
            self.q_norm = RMSNorm(self.hd, cfg.rms_norm_eps)
            self.k_norm = RMSNorm(self.hd, cfg.rms_norm_eps)
        self.qk_norm = cfg.qk_norm

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
            k, v = cache.update(self.layer_idx, start_pos, k, v)  # (B, KV, S, hd), S = start_pos + T
        # GQA: each group of n_heads // n_kv query heads reads the same k/v head.
        rep = self.n_heads // self.n_kv
        k = k.repeat_interleave(rep, dim=1)  # (B, H, S, hd)
        v = v.repeat_interleave(rep, dim=1)  # (B, H, S, hd)
        if mask is None:
            # Plain causal attention; with a cache and T == 1 every cached key is visible.
            y = F.scaled_dot_product_attention(q, k, v, is_causal=(T > 1 and start_pos == 0))
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.hd)  # (B, T, H*hd)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # SwiGLU


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

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


def _fix_empty_rows(mask: Optional[torch.Tensor], q_pos, k_pos) -> Optional[torch.Tensor]:
    """A query that may see nothing (padding) would give NaN in SDPA; let such rows see themselves."""
    if mask is None:
        return None
    empty = ~mask.any(dim=-1, keepdim=True)  # (B, 1, T, 1)
    if not bool(empty.any()):
        return mask
    return mask | (empty & (q_pos == k_pos))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        # Plain attribute, not a buffer: `.to(bfloat16)` must never round the frequencies.
        self.inv_freq = rope_inv_freq(cfg)

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
        x = self.model.embed_tokens(input_ids)  # (B, T, D)
        freqs = position_ids[..., None].float() * self.inv_freq.to(device)  # (B, T, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (B, T, hd)
        cos = emb.cos().to(x.dtype)[:, None]  # (B, 1, T, hd)
        sin = emb.sin().to(x.dtype)[:, None]  # (B, 1, T, hd)
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
        masks = {None: mask}  # per sliding-window size, built once per forward
        for w in {layer.window for layer in self.model.layers} - {None}:
            if S <= w:  # every key is within the window of every query: nothing to hide
                masks[w] = mask
                continue
            near = (q_pos - k_pos) < w  # (T, S)
            base = mask if mask is not None else (q_pos >= k_pos)[None, None]
            masks[w] = base & near
        masks = {w: _fix_empty_rows(m, q_pos, k_pos) for w, m in masks.items()}
        for layer in self.model.layers:
            x = layer(x, cos, sin, masks[layer.window], cache, start_pos)
        return self.model.norm(x)

    def logits(self, input_ids, **kw) -> torch.Tensor:
        """Full (B, T, V) logits in fp32 -- for tests and generation, not for training."""
        return self.lm_head(self(input_ids, **kw)).float()
