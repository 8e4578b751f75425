"""Model shapes and the two sides of the benchmark.

Both sides get the *same* random weights: every parameter is filled from a generator seeded by a
hash of its Hugging Face name (`model.layers.3.mlp.up_proj.weight`, ...), on the device, before LoRA
is applied. Our parameter names mirror HF's, so the first-step losses of the two sides must agree
(up to bf16 noise) -- the harness reports both as a check that they compute the same thing.
"""

from __future__ import annotations

import contextlib
import zlib

import torch

# Llama-3.1-8B's config.json (meta-llama/Llama-3.1-8B), the fields that define the shape.
LLAMA31_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "vocab_size": 128256,
}

# --quick: the same architecture, small enough for a CPU smoke run.
TINY = {**LLAMA31_8B, "hidden_size": 64, "intermediate_size": 160, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1024, "bos_token_id": 1, "eos_token_id": 2}

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_R, LORA_ALPHA, LORA_DROPOUT = 8, 16, 0.0


def matmul_params(cfg: dict) -> int:
    """Parameters that take part in a matmul per token: the decoder blocks' projections + lm_head
    (not the embedding lookup, not the norms)."""
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * hd
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * i
    return cfg["num_hidden_layers"] * per_layer + h * v


def lora_params(cfg: dict, r: int = LORA_R) -> int:
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    kv = cfg["num_key_value_heads"] * (h // cfg["num_attention_heads"])
    dims = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]
    return cfg["num_hidden_layers"] * sum(r * (a + b) for a, b in dims)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@torch.no_grad()
def seeded_init(model: torch.nn.Module, seed: int = 1234, std: float = 0.02) -> None:
    """Fill every parameter deterministically by name: norms = 1, everything else N(0, std)."""
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.fill_(1.0)
            continue
        g = torch.Generator(device=p.device)
        g.manual_seed(seed + zlib.crc32(name.encode()))
        p.normal_(0.0, std, generator=g)


def build_baseline(cfg: dict, device: torch.device, dtype: torch.dtype):
    """LLaMA-Factory's stack: LlamaForCausalLM (sdpa) + peft LoRA on all 7 projections, fp32 adapters,
    gradient checkpointing (use_reentrant=False) + enable_input_require_grads, use_cache off."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    hf_cfg = LlamaConfig(**cfg)
    hf_cfg.use_cache = False
    hf_cfg._attn_implementation = "sdpa"
    with default_dtype(dtype), torch.device(device):
        model = LlamaForCausalLM(hf_cfg)
    seeded_init(model)
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    lcfg = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT, target_modules=LORA_TARGETS,
                      task_type="CAUSAL_LM")
    with torch.device(device):
        model = get_peft_model(model, lcfg)  # autocast_adapter_dtype=True: adapters in fp32
    for p in model.parameters():  # LLaMA-Factory also upcasts trainable params to fp32
        if p.requires_grad:
            p.data = p.data.float()
    model.train()
    attn = getattr(model.base_model.model.config, "_attn_implementation", None)
    return model, {"attn_implementation": attn}


def build_ours(cfg: dict, device: torch.device, dtype: torch.dtype, gradient_checkpointing: bool = True):
    """Our trainer's path: ModelConfig.from_hf + Transformer, prepare_model("lora", ...) with fp32 adapters,
    train.enable_gradient_checkpointing. Weights are created on the device (no checkpoint on disk)."""
    from tuneboard_trainer.methods import LoraSettings, prepare_model
    from tuneboard_trainer.model import ModelConfig, Transformer, rope_inv_freq
    from tuneboard_trainer.train import enable_gradient_checkpointing

    mcfg = ModelConfig.from_hf(dict(cfg))
    with default_dtype(dtype), torch.device(device):
        model = Transformer(mcfg)
    model.inv_freq = rope_inv_freq(mcfg).to(device)  # as load_pretrained does
    seeded_init(model)
    # Under torch.device(device) LoRALinear allocates its placeholder weight on the device instead of on
    # the CPU followed by a copy (which costs a 32 GB host round trip at 8B; a setup cost, not a step cost).
    with torch.device(device):
        prepare_model(model, "lora", lora=LoraSettings(targets="all", r=LORA_R, alpha=LORA_ALPHA,
                                                       dropout=LORA_DROPOUT))
    if gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()
    return model, {}
