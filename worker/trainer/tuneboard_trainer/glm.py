"""GLM-4 (GlmForCausalLM: glm-4-9b-chat-hf; Glm4ForCausalLM: GLM-4-0414): model.py's Llama block, but

- RoPE on only the first `partial_rotary_factor` (0.5) of each head, with rotated pairs interleaved
  ((x0, x1), (x2, x3), ...) instead of split in halves; the cos/sin of pair i is frequency i;
- q/k/v carry a bias (`attention_bias`), o_proj does not;
- the MLP is phi3.FusedMLP (`gate_up_proj` = [gate | up], SwiGLU);
- Glm4 adds "sandwich" norms on each branch's output before the residual add: `post_self_attn_layernorm`
  and `post_mlp_layernorm` (plain RMSNorm; `post_attention_layernorm` stays the MLP's input norm).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .model import Attention, ModelConfig, RMSNorm, Transformer
from .phi3 import FusedMLP


def apply_rope_interleaved(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """GLM's RoPE: cos/sin come as model.py builds them, (..., rd) = [f_0..f_{rd/2-1} | same again]; the first rd
    dims of x rotate as interleaved pairs (x[2i], x[2i+1]) by frequency i, the rest pass through."""
    rd = cos.shape[-1]
    cos = cos[..., : rd // 2].repeat_interleave(2, dim=-1)  # (..., rd): f_0, f_0, f_1, f_1, ...
    sin = sin[..., : rd // 2].repeat_interleave(2, dim=-1)
    xr, xp = x[..., :rd], x[..., rd:]
    rotated = torch.stack((-xr[..., 1::2], xr[..., 0::2]), dim=-1).flatten(-2)  # (-x1, x0, -x3, x2, ...)
    return torch.cat((xr * cos + rotated * sin, xp), dim=-1)


class GlmAttention(Attention):
    """model.Attention with GLM's interleaved partial RoPE (o_proj has no bias: ModelConfig.o_bias is False)."""

    rope = staticmethod(apply_rope_interleaved)


class GlmBlock(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.window = cfg.layer_window(layer_idx)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = GlmAttention(cfg, layer_idx)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = FusedMLP(cfg)
        self.sandwich = cfg.architecture == "Glm4ForCausalLM"
        if self.sandwich:
            self.post_self_attn_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
            self.post_mlp_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, cache, start_pos):
        a = self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, start_pos)
        x = x + (self.post_self_attn_layernorm(a) if self.sandwich else a)
        m = self.mlp(self.post_attention_layernorm(x))
        return x + (self.post_mlp_layernorm(m) if self.sandwich else m)


class GlmTransformer(Transformer):
    """model.Transformer (embedding, RoPE frequencies, masks, final norm, lm_head) over GLM blocks."""

    block_class = GlmBlock
