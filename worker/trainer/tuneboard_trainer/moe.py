"""Mixture-of-experts decoders (Qwen3MoeForCausalLM, MixtralForCausalLM): model.py's Llama block with the MLP
replaced by a router and `num_experts` SwiGLU experts, of which each token uses `num_experts_per_tok`.

Routing, as transformers computes it: router logits = gate(x) (N, E); probabilities = softmax in fp32; the top k
experts by probability; their probabilities renormalised to sum to 1 when `norm_topk_prob` (always for Mixtral);
the token's output = sum over its k experts of weight * expert(x).

Checkpoint names are the ones transformers writes: Qwen3-MoE `mlp.gate`, `mlp.experts.{e}.gate_proj|up_proj|
down_proj` (layers in `mlp_only_layers` keep a dense `mlp`); Mixtral `block_sparse_moe.gate`,
`block_sparse_moe.experts.{e}.w1|w3|w2` (gate, up, down). The experts run one after another here (the
reference path); the router logits of the last forward stay in `router_logits` for `load_balancing_loss`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from typing import Optional

from .model import MLP, Attention, ModelConfig, RMSNorm, Transformer


class Expert(nn.Module):
    """One SwiGLU expert; `names` are the checkpoint's (gate, up, down) names."""

    def __init__(self, dim: int, hidden: int, names: tuple):
        super().__init__()
        self.names = names
        for n, (i, o) in zip(names, ((dim, hidden), (dim, hidden), (hidden, dim))):
            setattr(self, n, nn.Linear(i, o, bias=False))

    def forward(self, x):
        gate, up, down = (getattr(self, n) for n in self.names)
        return down(F.silu(gate(x)) * up(x))


class SparseMoE(nn.Module):
    def __init__(self, cfg: ModelConfig, names: tuple):
        super().__init__()
        self.k, self.norm_topk = cfg.num_experts_per_tok, cfg.norm_topk_prob
        self.gate = nn.Linear(cfg.hidden_size, cfg.num_experts, bias=False)
        hidden = cfg.moe_intermediate_size or cfg.intermediate_size
        self.experts = nn.ModuleList(Expert(cfg.hidden_size, hidden, names) for _ in range(cfg.num_experts))

    def route(self, x: torch.Tensor):
        """x (N, D) -> router logits (N, E), top-k weights (N, k) in x's dtype, top-k expert ids (N, k)."""
        logits = self.gate(x)
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
        weights, experts = torch.topk(probs, self.k, dim=-1)
        if self.norm_topk:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return logits, weights.to(x.dtype), experts

    def forward(self, x: torch.Tensor):
        B, T, D = x.shape
        flat = x.reshape(-1, D)  # (N, D)
        logits, weights, experts = self.route(flat)
        out = torch.zeros_like(flat)
        for e in experts.unique().tolist():  # only the experts some token chose
            token, slot = torch.where(experts == e)  # tokens routed to e, and where e sits in their top k
            y = self.experts[e](flat[token]) * weights[token, slot, None]
            out = out.index_add(0, token, y.to(out.dtype))
        return out.reshape(B, T, D), logits


class MoEBlock(nn.Module):
    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        self.window = cfg.layer_window(layer_idx)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, layer_idx)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mixtral = cfg.architecture == "MixtralForCausalLM"
        if self.mixtral:
            self.block_sparse_moe = SparseMoE(cfg, ("w1", "w3", "w2"))
        elif layer_idx in (cfg.dense_layers or ()):
            self.mlp = MLP(cfg)
        else:
            self.mlp = SparseMoE(cfg, ("gate_proj", "up_proj", "down_proj"))
        self.router_logits = None  # (N, E) of the last forward; None for a dense layer

    def forward(self, x, cos, sin, mask, cache, start_pos):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, start_pos)
        ffn = self.block_sparse_moe if self.mixtral else self.mlp
        y = ffn(self.post_attention_layernorm(x))
        if isinstance(ffn, SparseMoE):
            y, self.router_logits = y
        return x + y


class MoETransformer(Transformer):
    """model.Transformer (embedding, RoPE, masks, final norm, lm_head) over MoE blocks."""

    block_class = MoEBlock

    def router_logits(self) -> tuple:
        """Each sparse layer's router logits (N, E) from the last forward, for load_balancing_loss."""
        return tuple(b.router_logits for b in self.model.layers if b.router_logits is not None)

    def aux_loss(self, attention_mask=None) -> torch.Tensor:
        """The load-balancing loss of the last forward (transformers' aux_loss with output_router_logits);
        attention_mask (B, T): 1 = real token, the others are left out."""
        cfg = self.config
        return load_balancing_loss(self.router_logits(), cfg.num_experts, cfg.num_experts_per_tok, attention_mask)


def load_balancing_loss(router_logits: tuple, num_experts: int, top_k: int, attention_mask=None) -> torch.Tensor:
    """Switch Transformer's auxiliary loss as transformers computes it (load_balancing_loss_func): over all sparse
    layers' tokens (real tokens only, given a (B, T) attention_mask), E * sum_e (share of top-k picks of e) *
    (mean router probability of e). LLaMA-Factory adds it times moe_aux_loss_coef (router_aux_loss_coef)."""
    picks = torch.zeros(num_experts, dtype=torch.float32, device=router_logits[0].device)
    probs_sum = torch.zeros_like(picks)
    rows = 0.0
    keep = None if attention_mask is None else attention_mask.reshape(-1).float().to(picks.device)  # (N,)
    for logits in router_logits:
        probs = torch.softmax(logits, dim=-1)  # (N, E)
        chosen = torch.topk(probs, top_k, dim=-1).indices.reshape(-1)  # (N * k,)
        w = torch.ones_like(chosen, dtype=torch.float32) if keep is None else keep.repeat_interleave(top_k)
        picks = picks + torch.zeros_like(picks).scatter_add_(0, chosen, w)
        probs_sum = probs_sum + (probs.float() if keep is None else probs.float() * keep[:, None]).sum(dim=0)
        rows = rows + (probs.shape[0] if keep is None else keep.sum())
    return torch.sum((picks / rows) * (probs_sum / rows)) * num_experts


def aux_loss_coef(coef: Optional[float], model, next_token_stage: bool) -> tuple[float, Optional[str]]:
    """The moe_aux_loss_coef a run applies (0: none) and the log line that says so. As LLaMA-Factory: not set or
    0 adds nothing; set, the loss of each micro-batch gains coef * aux loss per labelled token, so one
    micro-batch per step gives transformers' loss + router_aux_loss_coef * aux_loss exactly."""
    if not coef:
        return 0.0, None
    if not isinstance(model, MoETransformer):
        return 0.0, f"moe_aux_loss_coef {coef} ignored: {model.config.architecture} has no experts"
    if not next_token_stage:
        return 0.0, f"moe_aux_loss_coef {coef} ignored: the preference stages train without the router loss"
    return coef, (f"MoE: the router load-balancing loss x {coef} is added to the loss (aux_loss in "
                  "trainer_log.jsonl)")
