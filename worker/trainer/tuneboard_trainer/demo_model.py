"""A tiny random-weights Llama in HF layout, so the whole app works offline on a laptop CPU.

It knows nothing, but LoRA on the identity dataset teaches it to answer
"Who are you?" with the configured name/author within a couple of CPU minutes.
Shape, init and preset were chosen by measurement; see DEMO_MODEL.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from .model import ModelConfig, Transformer

# Measured on a 2-core CPU (DEMO_MODEL.md). N(0, 0.02) embeddings or projections learn far slower.
DEMO_SHAPE = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=4)
EMBED_STD = 0.4  # large random embeddings: distinct tokens are far apart, so few LoRA steps separate them
LINEAR_STD = 0.1  # projections large enough that blocks, not the input embedding, dominate the residual
SEED = 1234
DEMO_PRESET = {
    "learning_rate": 1e-2,
    "num_train_epochs": 10.0,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 8,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0,
    "max_grad_norm": 1.0,
    # Held-out identity questions (DEMO_MODEL.md): rank 16 names Greatbot and Allen in about half the answers; rank 64
    # with dropout 0.1 in nearly all, in clean sentences also when sampling (without dropout it drifts into junk).
    "lora_rank": 64,
    "lora_alpha": 128,
    "lora_dropout": 0.1,
    "lora_target": "all",
    "cutoff_len": 512,
    "logging_steps": 1,
    "save_steps": 0,
    "gradient_checkpointing": False,  # 4 tiny layers: recomputing them costs time and saves nothing useful
}
FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
         "generation_config.json", "tuneboard.json")


def hf_config(shape: dict, bos_id: int, eos_ids: list[int]) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 128256,
        **shape,
        "head_dim": shape["hidden_size"] // shape["num_attention_heads"],
        "hidden_act": "silu",
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "initializer_range": LINEAR_STD,
        "bos_token_id": bos_id,
        "eos_token_id": eos_ids,
        "torch_dtype": "float32",
    }


def random_state_dict(cfg: ModelConfig, seed: int = SEED, embed_std: float = EMBED_STD,
                      linear_std: float = LINEAR_STD) -> dict:
    """Deterministic random weights (independent of torch's global RNG)."""
    with torch.device("meta"):
        skeleton = Transformer(cfg)
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, p in skeleton.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        if name.endswith("norm.weight"):
            sd[name] = torch.ones(p.shape)
        else:
            std = embed_std if name == "model.embed_tokens.weight" else linear_std
            sd[name] = torch.randn(p.shape, generator=g) * std
    return sd


def demo_meta(preset: dict | None = None) -> dict:
    return {"demo": True, "description": "random-weights demo model", "preset": preset or DEMO_PRESET}


def refresh_meta(file: Path, meta: dict) -> None:
    """Rewrites tuneboard.json (atomically) when it differs from `meta`; unreadable counts as different."""
    try:
        if json.loads(file.read_text(encoding="utf-8")) == meta:
            return
    except (OSError, ValueError):
        pass
    tmp = file.with_name(file.name + ".partial")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(file)


def make_demo_model(out, tokenizer_dir, shape: dict | None = None, embed_std: float = EMBED_STD,
                    linear_std: float = LINEAR_STD, preset: dict | None = None, force: bool = False) -> Path:
    from safetensors.torch import save_file

    out, tokenizer_dir = Path(out), Path(tokenizer_dir)
    meta = demo_meta(preset)
    if not force and all((out / f).exists() for f in FILES):
        # Idempotent: the weights are left untouched. The preset is only metadata the app reads as the
        # Train form's defaults, so a demo model written by an older release gets the current one.
        refresh_meta(out / "tuneboard.json", meta)
        return out
    tok_cfg = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    bos = tok.token_to_id(tok_cfg.get("bos_token", "<|begin_of_text|>"))
    eos_ids = [i for i in (tok.token_to_id("<|end_of_text|>"), tok.token_to_id("<|eom_id|>"),
                           tok.token_to_id("<|eot_id|>")) if i is not None]
    config = hf_config(shape or DEMO_SHAPE, bos, eos_ids)
    config["initializer_range"] = linear_std

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".partial"  # write everything, then move into place: no half-written model on crash
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    sd = random_state_dict(ModelConfig.from_hf(config), embed_std=embed_std, linear_std=linear_std)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (tmp / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": bos, "eos_token_id": eos_ids, "do_sample": True, "temperature": 0.95, "top_p": 0.7},
        indent=2) + "\n")
    shutil.copy(tokenizer_dir / "tokenizer.json", tmp / "tokenizer.json")
    shutil.copy(tokenizer_dir / "tokenizer_config.json", tmp / "tokenizer_config.json")
    (tmp / "tuneboard.json").write_text(json.dumps(meta, indent=2) + "\n")
    for f in FILES:
        (tmp / f).replace(out / f)
    tmp.rmdir()
    return out
