"""Phi-3 / Phi-3.5 / Phi-4 (Phi3ForCausalLM): model.py's Llama block with fused projections.

- q, k and v come from one matrix, `qkv_proj` (out = [q heads | k heads | v heads]);
- the gated MLP's gate and up come from one matrix, `gate_up_proj` (out = [gate | up]);
- Phi-4-mini rotates only the first `partial_rotary_factor` of each head (model.apply_rope handles it);
- `sliding_window`, when set, applies to every layer (as Mistral).

The fused matrices keep transformers' names, so checkpoints load unchanged and LoRA targets are the names
peft uses for this family (`qkv_proj`, `gate_up_proj`, `o_proj`, `down_proj`): a LoRA on `qkv_proj` is one
adapter over the fused output, exactly as peft trains it.
"""

from __future__ import annotations

from typing import Optional

import torch.nn as nn
import torch.nn.functional as F

from .model import KVCache, ModelConfig, RMSNorm, Transformer, attend


class Phi3Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.n_heads, self.n_kv, self.hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.qkv_proj = nn.Linear(cfg.hidden_size, (self.n_heads + 2 * self.n_kv) * self.hd, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.hd, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache: Optional[KVCache], start_pos: int):
        B, T, _ = x.shape
        q, k, v = self.qkv_proj(x).split([self.n_heads * self.hd, self.n_kv * self.hd, self.n_kv * self.hd], dim=-1)
        y = attend(q.view(B, T, self.n_heads, self.hd), k.view(B, T, self.n_kv, self.hd),
                   v.view(B, T, self.n_kv, self.hd), cos, sin, mask, cache, self.layer_idx, start_pos)
        return self.o_proj(y)  # y: (B, T, H*hd)


class FusedMLP(nn.Module):
    """down(act(gate) * up) with [gate | up] = gate_up_proj(x): Phi-3's and GLM's layout."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_up_proj = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)  # each (B, T, intermediate)
        return self.down_proj(F.silu(gate) * up)


class Phi3Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.window = cfg.layer_window(layer_idx)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Phi3Attention(cfg, layer_idx)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = FusedMLP(cfg)

    def forward(self, x, cos, sin, mask, cache, start_pos):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, start_pos)
        return x + self.mlp(self.post_attention_layernorm(x))


class Phi3Transformer(Transformer):
    """model.Transformer (embedding, RoPE, masks, final norm, lm_head) over Phi-3 blocks."""

    block_class = Phi3Block
