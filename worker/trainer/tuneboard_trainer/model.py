"""Llama-family decoder in one file (nanoGPT / gpt-fast style).

One module covers Llama 2/3/3.1/3.2, Qwen2/2.5, Qwen3 and Mistral: they differ
only in q/k/v/o biases, Qwen3's per-head q/k RMSNorm, head_dim, RoPE scaling,
tied embeddings and Mistral/Qwen sliding-window attention.

Parameter names mirror Hugging Face's `*ForCausalLM` one-to-one
(`model.layers.0.self_attn.q_proj.weight`, ...) so real HF checkpoints load
without any renaming, and LoRA adapters we save use PEFT's key names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
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
    # x: (B, H, T, hd); cos/sin: (B, 1, T, hd). HF's "rotate half" (non-interleaved) convention.
    return x * cos + rotate_half(x) * sin


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 like HF, then cast back before the weight multiply.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


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
    size (the last chunk of a batch is usually shorter). Meant for CUDA (fast.py's compile_pointwise calls it)."""
    if _CEKernels.compiled:
        return
    _CEKernels.chunk = staticmethod(torch.compile(_ce_chunk, dynamic=True))
    _CEKernels.compiled = True


def _ce_run(logits: torch.Tensor, y: torch.Tensor, w: Optional[torch.Tensor], need_grad: bool):
    """One chunk through _CEKernels.chunk. A 1-row chunk runs eager: dynamic shapes specialise size 1, so
    compiled it would compile again (possibly while a CUDA graph records). A compile failure must not stop
    training (as fast.py's regions): warn and use the eager chunk from then on."""
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
            raise  # the capture is broken anyway; fast_graph handles its own failures
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
    def forward(ctx, h, W, y, chunk: int, row_weight=None):
        # h: (N, D) hidden states at labelled positions; W: (V, D); y: (N,)
        # row_weight: optional (N,) fp32 per-row weights (0 = a padding row of a fixed-shape CUDA graph).
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros(W.shape, dtype=torch.float32, device=W.device) if need_w else None
        for s in range(0, h.shape[0], chunk):
            hc, yc = h[s : s + chunk], y[s : s + chunk]
            wc = None if row_weight is None else row_weight[s : s + chunk, None]  # (n, 1)
            ce, g = _ce_run(hc @ W.T, yc, wc, need_h or need_w)  # (n,), (n, V) in the logits' dtype or None
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
        return gh, gw, None, None, None


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
    loss = _LinearCrossEntropy.apply(hs, W, y[keep], chunk)
    return loss, n


def _read_safetensors(path: Path, device="cpu", dtype: Optional[torch.dtype] = None) -> dict[str, torch.Tensor]:
    from concurrent.futures import ThreadPoolExecutor

    from safetensors.torch import load_file

    dev = str(device)
    if torch.device(device).type == "cuda":
        # Each tensor straight from the page cache to the GPU, spread over threads (safetensors_io.py).
        from .safetensors_io import read_weights

        return read_weights(path, torch.device(device), dtype, inference=False)
    if (path / "model.safetensors").exists():
        return load_file(str(path / "model.safetensors"), device=dev)
    index = path / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
        sd: dict[str, torch.Tensor] = {}
        with ThreadPoolExecutor(max_workers=min(8, len(shards)) if dev != "cpu" else 1) as pool:
            for part in pool.map(lambda s: load_file(str(path / s), device=dev), shards):
                sd.update(part)
        return sd
    raise FileNotFoundError(f"{path}: no model.safetensors or model.safetensors.index.json")


def load_config(path) -> ModelConfig:
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"{path}: config.json not found")
    return ModelConfig.from_hf(json.loads(cfg_file.read_text()))


def load_pretrained(path, dtype: torch.dtype = torch.float32, device="cpu") -> Transformer:
    """Load an HF-layout checkpoint directory (config.json + safetensors)."""
    path = Path(path)
    cfg = load_config(path)
    with torch.device("meta"):  # no memory for random init that is overwritten anyway
        model = Transformer(cfg)
    sd = _read_safetensors(path, device if torch.device(device).type == "cuda" else "cpu", dtype)
    expected = set(model.state_dict().keys())
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
        expected.discard("lm_head.weight")
    # Buffers some exporters write (e.g. rotary inv_freq) are recomputed here.
    sd = {k: v for k, v in sd.items() if not k.endswith("rotary_emb.inv_freq")}
    missing, unexpected = expected - set(sd), set(sd) - expected
    if missing or unexpected:
        raise ValueError(
            f"{path}: checkpoint does not match config "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    sd = {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in sd.items()}
    model.load_state_dict(sd, strict=False, assign=True)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.inv_freq = rope_inv_freq(cfg).to(device)
    return model.eval()


def save_hf_model(model: Transformer, out_dir, max_shard_bytes: int = 5 * 1024**3) -> list[str]:
    """Write the model's weights in Hugging Face layout: `model.safetensors`, or, above
    `max_shard_bytes`, `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`.

    Names are HF's (`model.layers.0.self_attn.q_proj.weight`); a tied `lm_head.weight` is left out
    as transformers does. Tensors keep their dtype. LoRA layers must be merged first (`merge_lora`).
    Does not write config.json. Returns the weight file names.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    bad = [k for k in sd if ".lora_" in k]
    if bad:
        raise ValueError(f"unmerged LoRA weights (e.g. {bad[0]}); call merge_lora first")
    if model.config.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in sd.items():
        nbytes = v.numel() * v.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = v.detach().cpu().contiguous()
        size += nbytes
    for old in list(out.glob("model*.safetensors")) + [out / "model.safetensors.index.json"]:
        old.unlink(missing_ok=True)  # stale shards from an earlier save would confuse loaders
    if len(shards) == 1:
        names = ["model.safetensors"]
    else:
        names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
        index = {
            "metadata": {"total_size": sum(v.numel() * v.element_size() for v in sd.values())},
            "weight_map": {k: name for name, shard in zip(names, shards) for k in shard},
        }
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    for name, shard in zip(names, shards):
        save_file(shard, str(out / name), metadata={"format": "pt"})
    return names
