"""ModelConfig: one flat dataclass for every supported architecture, read from a Hugging Face config.json.

Each family's reader (`_llama_fields`, `_gemma_fields`) turns its config.json into the same flat fields, with
that family's transformers defaults; model.build_model picks the module that runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .contracts.enums import ARCHITECTURES
from .rope import ROPE_TYPES

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
    rope_scaling: Optional[dict] = None  # HF rope scaling dict (rope.ROPE_TYPES' rope_type), None = plain RoPE
    max_position_embeddings: int = 131072  # longest context the checkpoint was trained for
    tie_word_embeddings: bool = False  # lm_head shares the embedding matrix
    qkv_bias: bool = False  # bias on q/k/v projections (Llama attention_bias, Qwen2)
    o_bias: bool = False  # bias on the attention output projection (Llama attention_bias only)
    mlp_bias: bool = False  # bias on gate/up/down projections
    qk_norm: bool = False  # Qwen3: RMSNorm over head_dim on q and k (q_norm / k_norm) before RoPE
    sliding_window: Optional[int] = None  # keys further back than this many positions are masked (None = off)
    layer_types: Optional[list] = None  # per layer "full_attention" | "sliding_attention"; None = all sliding if window
    hidden_act: str = "silu"  # gate activation of the gated MLP: "silu" (SwiGLU) or "gelu_pytorch_tanh" (GeGLU)
    query_pre_attn_scalar: Optional[float] = None  # Gemma: attention scale is this ** -0.5; None = head_dim ** -0.5
    attn_logit_softcapping: Optional[float] = None  # Gemma 2: scores -> cap * tanh(scores / cap) before softmax
    final_logit_softcapping: Optional[float] = None  # Gemma 2: logits -> cap * tanh(logits / cap)
    local_rope_theta: Optional[float] = None  # Gemma 3: RoPE base of sliding-window layers (None = rope_theta)
    partial_rotary_factor: float = 1.0  # share of each head that RoPE rotates (Phi-4-mini 0.75, GLM 0.5)
    num_experts: int = 0  # MoE: experts per sparse layer (0 = dense model)
    num_experts_per_tok: int = 0  # MoE: experts each token is routed to (top k)
    moe_intermediate_size: Optional[int] = None  # MoE: an expert's SwiGLU width (None = intermediate_size)
    norm_topk_prob: bool = True  # MoE: renormalise the top-k router probabilities to sum to 1
    router_aux_loss_coef: float = 0.0  # MoE: the checkpoint's load-balancing loss weight (informational)
    dense_layers: Optional[list] = None  # MoE: layers with a dense MLP instead of experts (Qwen3-MoE)
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
        fields = _gemma_fields(cfg, arch) if arch in GEMMA_ARCHITECTURES else _llama_fields(cfg, arch)
        act = fields.get("hidden_act", "silu")
        if act not in ("silu", "gelu_pytorch_tanh"):
            raise UnsupportedModelError(f"unsupported hidden activation {act!r} (silu or gelu_pytorch_tanh)")
        scaling = fields.get("rope_scaling")
        rope_type = (scaling or {}).get("rope_type", "default")
        if rope_type not in ROPE_TYPES:
            raise UnsupportedModelError(f"unsupported rope_type {rope_type!r}; supported: {', '.join(ROPE_TYPES)}")
        if scaling is not None and "original_max_position_embeddings" in cfg:  # Phi-3 keeps it beside the dict
            scaling.setdefault("original_max_position_embeddings", cfg["original_max_position_embeddings"])
        window, layer_types = fields.pop("sliding_window"), fields.pop("layer_types")
        if window is None:
            layer_types = None
        elif layer_types is not None and any(t not in ("full_attention", "sliding_attention") for t in layer_types):
            raise UnsupportedModelError(f"unsupported layer_types {sorted(set(layer_types))}")
        known = {
            "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters",
            "max_position_embeddings", "tie_word_embeddings", "attention_bias", "mlp_bias",
            "bos_token_id", "eos_token_id", "sliding_window", "use_sliding_window", "layer_types",
            "max_window_layers", "architectures", "hidden_act", "hidden_activation", "query_pre_attn_scalar",
            "attn_logit_softcapping", "final_logit_softcapping", "rope_local_base_freq", "sliding_window_pattern",
            "partial_rotary_factor", "original_max_position_embeddings", "num_local_experts", "num_experts",
            "num_experts_per_tok", "moe_intermediate_size", "norm_topk_prob", "router_aux_loss_coef",
            "decoder_sparse_step", "mlp_only_layers",
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
            max_position_embeddings=cfg.get("max_position_embeddings", 2048),
            sliding_window=None if window is None else int(window),
            layer_types=None if layer_types is None else list(layer_types),
            architecture=arch,
            bos_token_id=cfg.get("bos_token_id"),
            eos_token_id=cfg.get("eos_token_id"),
            extra={k: v for k, v in cfg.items() if k not in known},
            **fields,
        )


def _rope_fields(rope: Optional[dict], default_theta: float) -> dict:
    """rope_theta and rope_scaling from one RoPE dict (transformers 5 `rope_parameters`, or 4's `rope_scaling`)."""
    rope = dict(rope or {})
    theta = rope.pop("rope_theta", None) or default_theta
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    return {"rope_theta": float(theta), "rope_scaling": None if rope_type == "default" else {**rope, "rope_type": rope_type}}


def _llama_fields(cfg: dict, arch: str) -> dict:
    """Llama 2/3, Qwen2/3, Mistral, and the families built on their block (Phi-3, GLM): biases, Qwen3's q/k norm,
    sliding window per family, partial rotary."""
    rope = _rope_fields(cfg.get("rope_parameters") or cfg.get("rope_scaling"), cfg.get("rope_theta", 10000.0))
    attention_bias = bool(cfg.get("attention_bias", False))
    qkv_bias, o_bias, mlp_bias = attention_bias, attention_bias, bool(cfg.get("mlp_bias", False))
    if arch == "Qwen2ForCausalLM":  # always q/k/v bias, never o bias
        qkv_bias, o_bias, mlp_bias = True, False, False
    elif arch == "MistralForCausalLM":
        qkv_bias = o_bias = mlp_bias = False
    elif arch in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM"):
        mlp_bias = False
    # Sliding window: Mistral applies `sliding_window` to every layer when set; Qwen2/3 only when
    # `use_sliding_window`, and then on the layers that `layer_types` (or `max_window_layers`) marks.
    window, layer_types = cfg.get("sliding_window"), cfg.get("layer_types")
    n_layers = cfg["num_hidden_layers"]
    if arch in ("Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM"):
        if not cfg.get("use_sliding_window", False):
            window = None
        if window is not None and layer_types is None:
            mwl = cfg.get("max_window_layers", 28)
            layer_types = ["sliding_attention" if i >= mwl else "full_attention" for i in range(n_layers)]
    elif arch in ("LlamaForCausalLM", *GLM_ARCHITECTURES):
        window, layer_types = None, None
    if arch in ("Phi3ForCausalLM", "MixtralForCausalLM"):  # no biases; sliding_window on every layer
        qkv_bias = o_bias = mlp_bias = False
    elif arch in GLM_ARCHITECTURES:  # q/k/v bias (attention_bias, on by default), never on o_proj or the MLP
        qkv_bias, o_bias, mlp_bias = bool(cfg.get("attention_bias", True)), False, False
    partial = ((cfg.get("rope_parameters") or {}).get("partial_rotary_factor") or cfg.get("partial_rotary_factor")
               or (0.5 if arch in GLM_ARCHITECTURES else 1.0))
    return dict(rope, tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)), qkv_bias=qkv_bias,
                o_bias=o_bias, mlp_bias=mlp_bias, qk_norm=arch in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM"), sliding_window=window,
                layer_types=layer_types, hidden_act=cfg.get("hidden_act", "silu"),
                partial_rotary_factor=float(partial), **(_moe_fields(cfg, arch) if arch in MOE_ARCHITECTURES else {}))


def _moe_fields(cfg: dict, arch: str) -> dict:
    """Experts and routing: Mixtral routes every layer and always renormalises the top k; Qwen3-MoE keeps dense
    MLPs on `mlp_only_layers` and on layers off its `decoder_sparse_step`."""
    n_layers = cfg["num_hidden_layers"]
    experts = cfg.get("num_experts") or cfg.get("num_local_experts")  # Hub configs / transformers 5's writer
    if arch == "MixtralForCausalLM":
        return dict(num_experts=experts or 8, num_experts_per_tok=cfg.get("num_experts_per_tok", 2),
                    norm_topk_prob=True, router_aux_loss_coef=float(cfg.get("router_aux_loss_coef", 0.02)))
    step, only = cfg.get("decoder_sparse_step", 1), set(cfg.get("mlp_only_layers") or [])
    dense = [i for i in range(n_layers) if i in only or (i + 1) % step]
    return dict(num_experts=experts or 128, num_experts_per_tok=cfg.get("num_experts_per_tok", 8),
                moe_intermediate_size=cfg.get("moe_intermediate_size", 768),
                norm_topk_prob=bool(cfg.get("norm_topk_prob", False)),
                router_aux_loss_coef=float(cfg.get("router_aux_loss_coef", 0.001)), dense_layers=dense or None)


def _gemma_fields(cfg: dict, arch: str) -> dict:
    """Gemma 2 and Gemma 3 (text): GeGLU, scores scaled by query_pre_attn_scalar, sliding-window layers
    interleaved with global ones; Gemma 2 soft-caps scores and logits, Gemma 3 normalises q/k per head and
    gives its sliding layers their own RoPE base. Defaults are transformers' config defaults per family."""
    gemma3 = arch == "Gemma3ForCausalLM"
    n_layers = cfg["num_hidden_layers"]
    layer_types = cfg.get("layer_types")
    if layer_types is None:  # transformers 4 configs: a pattern (every 6th layer global in Gemma 3, every 2nd in 2)
        every = cfg.get("sliding_window_pattern", 6) if gemma3 else 2
        layer_types = ["sliding_attention" if (i + 1) % every else "full_attention" for i in range(n_layers)]
    rope_params = cfg.get("rope_parameters") or {}
    if gemma3 and "full_attention" in rope_params:  # transformers 5: one RoPE dict per layer type
        rope = _rope_fields(rope_params["full_attention"], 1_000_000.0)
        local = _rope_fields(rope_params.get("sliding_attention"), 10_000.0)
        if local["rope_scaling"] is not None:
            raise UnsupportedModelError(f"unsupported RoPE scaling on sliding layers {local['rope_scaling']}")
        local_theta = local["rope_theta"]
    else:
        rope = _rope_fields(rope_params or cfg.get("rope_scaling"), cfg.get("rope_theta", 1_000_000.0 if gemma3
                                                                                       else 10_000.0))
        local_theta = float(cfg.get("rope_local_base_freq", 10_000.0)) if gemma3 else None
    soft_default = None if gemma3 else (50.0, 30.0)
    attention_bias = bool(cfg.get("attention_bias", False))
    return dict(rope, tie_word_embeddings=bool(cfg.get("tie_word_embeddings", True)), qkv_bias=attention_bias,
                o_bias=attention_bias, mlp_bias=False, qk_norm=gemma3, sliding_window=cfg.get("sliding_window", 4096),
                layer_types=layer_types, local_rope_theta=local_theta,
                hidden_act=cfg.get("hidden_activation") or cfg.get("hidden_act") or "gelu_pytorch_tanh",
                query_pre_attn_scalar=float(cfg.get("query_pre_attn_scalar", 256)),
                attn_logit_softcapping=cfg.get("attn_logit_softcapping", soft_default and soft_default[0]),
                final_logit_softcapping=cfg.get("final_logit_softcapping", soft_default and soft_default[1]))


GEMMA_ARCHITECTURES = ("Gemma2ForCausalLM", "Gemma3ForCausalLM")
GLM_ARCHITECTURES = ("GlmForCausalLM", "Glm4ForCausalLM")
MOE_ARCHITECTURES = ("Qwen3MoeForCausalLM", "MixtralForCausalLM")
# The families this file's Transformer runs with its own block (the layout the fast path and the chat engine
# compute).
LLAMA_FAMILY = ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM")


_ARCH_BY_MODEL_TYPE = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                       "mistral": "MistralForCausalLM", "gemma2": "Gemma2ForCausalLM", "gemma3_text": "Gemma3ForCausalLM",
                       "phi3": "Phi3ForCausalLM", "glm": "GlmForCausalLM", "glm4": "Glm4ForCausalLM",
                       "qwen3_moe": "Qwen3MoeForCausalLM", "mixtral": "MixtralForCausalLM"}
