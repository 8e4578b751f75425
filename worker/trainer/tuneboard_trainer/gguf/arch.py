"""Architecture mapping for GGUF: llama.cpp's tensor names, the hyper-parameter keys it reads, the
Q/K row permutation Llama checkpoints need, and the per-tensor types of each export type (Q4_K_M's
mixture as llama-quant.cpp chooses it).

Supported: Llama (1-3.x), Mistral (written as llama, as convert_hf_to_gguf.py does), Qwen2(.5), Qwen3.
"""

from __future__ import annotations

import math
import re
from typing import Optional

import numpy as np

from ..model import ModelConfig
from .quants import BLOCKS

GGUF_ARCH = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama",
             "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3"}
EXPORT_TYPES = ("f16", "bf16", "q8_0", "q4_k_m")
# general.file_type (llama_ftype) for each export type.
FILE_TYPE = {"f16": 1, "bf16": 32, "q8_0": 7, "q4_k_m": 15}

_LAYER = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}
_TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight"}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")


def gguf_arch(cfg: ModelConfig) -> str:
    try:
        return GGUF_ARCH[cfg.architecture]
    except KeyError:
        raise ValueError(f"GGUF export does not support {cfg.architecture}") from None


def tensor_name(hf_name: str) -> str:
    if hf_name in _TOP:
        return _TOP[hf_name]
    m = _LAYER_RE.match(hf_name)
    if not m or m.group(2) not in _LAYER:
        raise ValueError(f"no GGUF name for tensor {hf_name}")
    return f"blk.{m.group(1)}.{_LAYER[m.group(2)]}.{m.group(3)}"


def hparams(cfg: ModelConfig, name: str) -> dict:
    """The `{arch}.*` keys llama.cpp's loader reads for this architecture."""
    from .writer import FLOAT32, Typed, UINT32

    a = gguf_arch(cfg)
    out = {
        "general.architecture": a,
        "general.name": name,
        f"{a}.context_length": cfg.max_position_embeddings,
        f"{a}.embedding_length": cfg.hidden_size,
        f"{a}.block_count": cfg.num_hidden_layers,
        f"{a}.feed_forward_length": cfg.intermediate_size,
        f"{a}.attention.head_count": cfg.num_attention_heads,
        f"{a}.attention.head_count_kv": cfg.num_key_value_heads,
        f"{a}.attention.layer_norm_rms_epsilon": Typed(FLOAT32, float(cfg.rms_norm_eps)),
        f"{a}.rope.freq_base": Typed(FLOAT32, float(cfg.rope_theta)),
        f"{a}.attention.key_length": cfg.head_dim,
        f"{a}.attention.value_length": cfg.head_dim,
        f"{a}.vocab_size": cfg.vocab_size,
    }
    if a == "llama":
        out[f"{a}.rope.dimension_count"] = Typed(UINT32, cfg.head_dim)
    s = cfg.rope_scaling
    if s and s["rope_type"] == "linear":
        out[f"{a}.rope.scaling.type"] = "linear"
        out[f"{a}.rope.scaling.factor"] = Typed(FLOAT32, float(s["factor"]))
    if cfg.sliding_window is not None and cfg.layer_window(0) is not None and a == "llama":
        out[f"{a}.attention.sliding_window"] = Typed(UINT32, int(cfg.sliding_window))
    return out


def rope_freqs(cfg: ModelConfig) -> Optional[np.ndarray]:
    """Llama 3.1-style rope scaling as llama.cpp takes it: a `rope_freqs.weight` tensor of per-frequency
    divisors (convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors)."""
    s = cfg.rope_scaling
    if not s or s["rope_type"] != "llama3":
        return None
    d = cfg.head_dim
    freqs = 1.0 / (cfg.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    factor, lo, hi = s["factor"], s.get("low_freq_factor", 1.0), s.get("high_freq_factor", 4.0)
    old = s.get("original_max_position_embeddings", 8192)
    low_wl, high_wl = old / lo, old / hi
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old / wl - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Llama's q/k rows from HF's rotate-half order to llama.cpp's interleaved (GPT-J) pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def needs_permute(cfg: ModelConfig, hf_name: str) -> Optional[int]:
    """The head count to permute `hf_name` with, or None (Qwen uses NEOX rope: no permutation)."""
    if gguf_arch(cfg) != "llama":
        return None
    if ".self_attn.q_proj." in hf_name:
        return cfg.num_attention_heads
    if ".self_attn.k_proj." in hf_name:
        return cfg.num_key_value_heads
    return None


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


_FALLBACK = {"Q4_K": "Q5_0", "Q6_K": "Q8_0"}  # rows not a multiple of 256 (llama-quant.cpp)


def tensor_type(export_type: str, gguf_name: str, shape: tuple[int, ...], n_layer: int, has_output: bool) -> str:
    """The ggml type one tensor is stored as."""
    if len(shape) == 1:
        return "F32"  # norms, biases, rope factors: llama.cpp keeps 1-D tensors in F32
    if export_type == "f16":
        qtype = "F16"
    elif export_type == "bf16":
        qtype = "BF16"
    elif export_type == "q8_0":
        qtype = "Q8_0"
    else:  # q4_k_m
        qtype = "Q4_K"
        m = re.match(r"blk\.(\d+)\.", gguf_name)
        if gguf_name == "output.weight" or (not has_output and gguf_name == "token_embd.weight"):
            qtype = "Q6_K"
        elif m and (gguf_name.endswith("attn_v.weight") or gguf_name.endswith("ffn_down.weight")):
            if _use_more_bits(int(m.group(1)), n_layer):
                qtype = "Q6_K"
    row = shape[-1]
    if row % BLOCKS[qtype][0]:
        qtype = _FALLBACK.get(qtype, qtype)
        if row % BLOCKS[qtype][0]:
            qtype = "F16"
    return qtype
