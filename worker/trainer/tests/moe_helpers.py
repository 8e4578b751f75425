"""Random tiny MoE models (Qwen3-MoE, Mixtral) with LoRA, shared by test_fast_moe.py (CPU) and test_gpu_moe.py."""

import torch

from fast_helpers import SMALL
from tuneboard_trainer.lora import apply_lora
from tuneboard_trainer.model import ModelConfig, build_model, rope_inv_freq

# Qwen3-MoE: q/k norm, 8 experts of which each token uses 2, renormalised weights, layer 1 dense (mlp_only_layers).
SMALL_QWEN3_MOE = dict(vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, rope_theta=1000000.0, qk_norm=True, num_experts=8,
                       num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True, dense_layers=[1],
                       router_aux_loss_coef=0.001, architecture="Qwen3MoeForCausalLM")
SMALL_MIXTRAL = dict(SMALL, num_experts=4, num_experts_per_tok=2, architecture="MixtralForCausalLM", rope_scaling=None)

# One Qwen3-30B-A3B layer (Qwen/Qwen3-30B-A3B's config.json) with a small vocabulary.
QWEN3_30B_A3B_LAYER = dict(vocab_size=4096, hidden_size=2048, intermediate_size=6144, num_hidden_layers=1,
                           num_attention_heads=32, num_key_value_heads=4, head_dim=128, rope_theta=1000000.0,
                           qk_norm=True, rms_norm_eps=1e-6, num_experts=128, num_experts_per_tok=8,
                           moe_intermediate_size=768, norm_topk_prob=True, router_aux_loss_coef=0.001,
                           architecture="Qwen3MoeForCausalLM")


def random_moe(shape: dict, device="cpu", dtype=torch.float32, seed=0, lora=True):
    """Random weights (std 0.02; the router std 0.2, so it prefers experts clearly; norms 1), LoRA r8 on every
    projection the family has (the experts' too) with a random (non-zero) B, fp32 adapters, training mode."""
    cfg = ModelConfig(**shape)
    torch.manual_seed(seed)
    with torch.device(device):
        model = build_model(cfg)
        for name, p in model.named_parameters():
            if "norm" in name:
                p.data.fill_(1.0)
            else:
                p.data.normal_(0.0, 0.2 if name.endswith(".gate.weight") else 0.02)
        model.to(dtype)
        model.inv_freq = rope_inv_freq(cfg).to(device)
        if lora:
            apply_lora(model, "all", r=8, alpha=16)
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()
            if "lora_B" in name:
                p.data.normal_(0.0, 0.02)
    return model.train()
