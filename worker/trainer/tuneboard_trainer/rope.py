"""Rotary position embeddings: the inverse frequencies and cos/sin of every RoPE type the supported configs use,
with the numbers transformers' modeling_rope_utils computes.

- default: 1 / theta^(2i/d) over the rotated dims d = head_dim * partial_rotary_factor;
- linear: every frequency divided by `factor`;
- llama3: long wavelengths slowed by `factor`, short ones kept, a smooth band between;
- dynamic (NTK): once a sequence runs past max_position_embeddings, theta grows with its length;
- yarn: per-dimension blend of interpolated and extrapolated frequencies, cos/sin scaled by an attention factor;
- longrope (Phi-3 128k): per-dimension divisors, `short_factor` up to original_max_position_embeddings and
  `long_factor` beyond, cos/sin scaled by an attention factor.

dynamic and longrope depend on the sequence length (the largest position + 1, as transformers measures it), so
their frequencies are computed per forward; the others are fixed (STATIC_ROPE_TYPES), which is what the GPU fast
path and the chat engine assume.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

STATIC_ROPE_TYPES = ("default", "linear", "llama3")
ROPE_TYPES = (*STATIC_ROPE_TYPES, "dynamic", "yarn", "longrope")


def rope_inv_freq(cfg, theta: Optional[float] = None, scaled: bool = True, device=None,
                  seq_len: Optional[int] = None) -> torch.Tensor:
    """Inverse frequencies (d/2,) in float32. theta: another base (Gemma 3's sliding layers); scaled=False:
    without cfg.rope_scaling; seq_len: the sequence length dynamic and longrope scale for (None = the trained one)."""
    d = int(cfg.head_dim * cfg.partial_rotary_factor)  # rotated dims per head
    base = cfg.rope_theta if theta is None else theta
    s = cfg.rope_scaling if scaled else None
    kind = s["rope_type"] if s else "default"
    if kind == "dynamic" and seq_len is not None and seq_len > cfg.max_position_embeddings:
        factor = s["factor"]
        base = base * ((factor * seq_len / cfg.max_position_embeddings) - (factor - 1)) ** (d / (d - 2))
    if torch.empty(0, device=device).is_meta:
        # A skeleton (meta_device): the real frequencies are set once the weights are on their device, and
        # arithmetic on meta tensors runs Python decompositions that import torch._dynamo (a second of start-up).
        return torch.empty(len(range(0, d, 2)), dtype=torch.float32, device="meta")
    shape = torch.arange(0, d, 2, dtype=torch.int64, device=device).float() / d  # 2i / d
    inv_freq = 1.0 / (base ** shape)
    if kind == "linear":
        return inv_freq / s["factor"]
    if kind == "llama3":
        return _llama3(inv_freq, s)
    if kind == "yarn":
        return _yarn(inv_freq, s, d, base, _factor(cfg, s))
    if kind == "longrope":
        long = seq_len is not None and seq_len > _original_ctx(cfg, s)
        ext = torch.tensor(s["long_factor" if long else "short_factor"], dtype=torch.float32, device=device)
        return 1.0 / (ext * base ** shape)
    return inv_freq


def rope_attention_scaling(cfg) -> float:
    """The factor transformers multiplies cos and sin by (yarn, longrope); 1 for the other types."""
    s = cfg.rope_scaling
    kind = s["rope_type"] if s else "default"
    if kind not in ("yarn", "longrope"):
        return 1.0
    if s.get("attention_factor") is not None:
        return float(s["attention_factor"])
    factor = _factor(cfg, s)
    if kind == "longrope":
        return 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(_original_ctx(cfg, s)))
    mscale, mscale_all_dim = s.get("mscale"), s.get("mscale_all_dim")
    if mscale and mscale_all_dim:
        return float(_yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all_dim))
    return _yarn_mscale(factor)


def rope_cos_sin(cfg, inv_freq: torch.Tensor, position_ids: torch.Tensor, dtype) -> tuple:
    """cos and sin, each (B, 1, T, d), for positions (B, T): HF's layout [f_0..f_{d/2-1} | the same again],
    times the attention scaling. inv_freq: the fixed frequencies (recomputed here for dynamic / longrope)."""
    s = cfg.rope_scaling
    if s and s["rope_type"] in ("dynamic", "longrope"):
        inv_freq = rope_inv_freq(cfg, device=position_ids.device, seq_len=int(position_ids.max()) + 1)
    freqs = position_ids[..., None].float() * inv_freq.to(position_ids.device)  # (B, T, d/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (B, T, d)
    scale = rope_attention_scaling(cfg)
    return (emb.cos() * scale).to(dtype)[:, None], (emb.sin() * scale).to(dtype)[:, None]


def _llama3(inv_freq: torch.Tensor, s: dict) -> torch.Tensor:
    factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old_ctx = s["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_ctx / lo, old_ctx / hi
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def _yarn(inv_freq: torch.Tensor, s: dict, d: int, base: float, factor: float) -> torch.Tensor:
    """Dimensions that turn fewer than beta_slow times over the original context are interpolated (divided by
    factor), those that turn more than beta_fast times are kept, with a linear ramp between."""
    ctx = s.get("original_max_position_embeddings") or d  # transformers requires it; d keeps the math defined
    beta_fast, beta_slow = s.get("beta_fast") or 32, s.get("beta_slow") or 1

    def dim_of(rotations):  # the dimension whose wavelength fits `rotations` times into ctx
        return (d * math.log(ctx / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = dim_of(beta_fast), dim_of(beta_slow)
    if s.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, d - 1)
    if low == high:
        high += 0.001  # no zero-width ramp
    ramp = torch.clamp((torch.arange(d // 2, dtype=torch.float32, device=inv_freq.device) - low) / (high - low), 0, 1)
    keep = 1 - ramp  # 1 = extrapolate (keep the frequency), 0 = interpolate
    return (inv_freq / factor) * (1 - keep) + inv_freq * keep


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _factor(cfg, s: dict) -> float:
    f = s.get("factor")
    return float(f) if f is not None else cfg.max_position_embeddings / _original_ctx(cfg, s)


def _original_ctx(cfg, s: dict) -> int:
    return int(s.get("original_max_position_embeddings") or cfg.max_position_embeddings)
