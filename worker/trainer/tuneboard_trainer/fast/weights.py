"""Weight layouts of the fast path: fused q/k/v and gate/up weights, augmented MLP weights, the host embedding.

The modules' weights become views of the fused (and augmented) tensors, so these layouts cost no extra memory
beyond the LoRA columns/rows of the augmented weights.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..lora import LoRALinear
from ..model import Transformer


def _lora_fusable(mods) -> bool:
    return all(isinstance(m, LoRALinear) and isinstance(m.dropout, nn.Identity) for m in mods)


def augment_mlp(mlp: nn.Module) -> bool:
    """Give a fused MLP (fuse_weights) augmented weights for _MLPLoRA: gate/up's [W | B] (2I, D + R) and
    down_proj's [W ; A] (D + r, I). The modules' weights become views of them (no extra memory beyond the
    R columns / r rows); the LoRA parts are written by refresh_augmented before each forward. False when the
    MLP does not qualify (as _post_attn's fused MLP path: LoRA on all three, no dropout, DoRA or biases)."""
    if hasattr(mlp, "_tb_gate_up_aug"):
        return True
    mods = [mlp.gate_proj, mlp.up_proj, mlp.down_proj]
    W = getattr(mlp, "_tb_gate_up", None)
    if (W is None or getattr(mlp, "_tb_gate_up_bias", None) is not None or not _lora_fusable(mods)
            or any(m.use_dora or m.bias is not None for m in mods) or mlp.down_proj.weight.requires_grad
            or mlp.down_proj.weight.dtype != W.dtype):
        return False
    O, D = W.shape
    R = sum(m.rank for m in mods[:2])
    M_gu = torch.zeros((O, D + R), dtype=W.dtype, device=W.device)  # [W | B]
    M_gu[:, :D] = W
    r0 = 0
    for m in mods[:2]:
        m.weight = nn.Parameter(M_gu[r0 : r0 + m.weight.shape[0], :D], requires_grad=False)
        r0 += m.weight.shape[0]
    down = mlp.down_proj
    Wd = down.weight
    M_d = torch.zeros((Wd.shape[0] + down.rank, Wd.shape[1]), dtype=Wd.dtype, device=Wd.device)  # [W ; A]
    M_d[: Wd.shape[0]] = Wd
    down.weight = nn.Parameter(M_d[: Wd.shape[0]], requires_grad=False)
    mlp.register_buffer("_tb_gate_up", M_gu[:, :D], persistent=False)
    mlp.register_buffer("_tb_gate_up_aug", M_gu, persistent=False)
    mlp.register_buffer("_tb_down_aug", M_d, persistent=False)
    return True


@torch.no_grad()
def refresh_augmented(model: Transformer) -> None:
    """Write the adapters' current values into the augmented weights (augment_mlp): gate/up's LoRA B blocks
    (scaled, in the weight dtype) and down_proj's LoRA A. Three small copies per block, before each forward
    (so they are part of a recorded CUDA graph and follow every optimizer step)."""
    for blk in model.model.layers:
        mlp = getattr(blk, "mlp", None)  # Mixtral's blocks have block_sparse_moe instead
        M_gu = getattr(mlp, "_tb_gate_up_aug", None)
        if M_gu is None:
            continue
        D = mlp.gate_proj.weight.shape[1]
        r0, c0 = 0, D
        for m in (mlp.gate_proj, mlp.up_proj):
            O = m.weight.shape[0]
            torch.mul(m.lora_B.weight, m.scaling, out=M_gu[r0 : r0 + O, c0 : c0 + m.rank])
            r0, c0 = r0 + O, c0 + m.rank
        M_d, down = mlp._tb_down_aug, mlp.down_proj
        M_d[down.weight.shape[0] :].copy_(down.lora_A.weight)


def fuse_group_weights(mods, owner: nn.Module, name: str) -> bool:
    """Concatenate the frozen weights (and biases) of linears that read the same input into one (O, D) tensor,
    registered on `owner` as a non-persistent buffer `name` (+ `name`_bias), and make each module's weight a
    view of its rows: one GEMM instead of len(mods), no extra memory. False (nothing changed) when the modules
    do not qualify (trainable or mismatched weights)."""
    ws = [m.weight for m in mods]
    if any(w is None for w in ws):  # a quantized base (LoRALinear.quantized): its kernels read its own bytes
        return False
    if any(w.requires_grad for w in ws) or len({(w.dtype, w.device, w.shape[1]) for w in ws}) != 1:
        return False
    biases = [getattr(m, "bias", None) for m in mods]
    if any(b is not None and b.requires_grad for b in biases) or len({b is None for b in biases}) != 1:
        return False
    W = torch.cat([w.detach() for w in ws])  # (O, D)
    bias = torch.cat([b.detach() for b in biases]) if biases[0] is not None else None
    r0 = 0
    for m, w in zip(mods, ws):
        m.weight = nn.Parameter(W[r0 : r0 + w.shape[0]], requires_grad=False)
        if bias is not None:
            m.bias = nn.Parameter(bias[r0 : r0 + w.shape[0]], requires_grad=False)
        r0 += w.shape[0]
    owner.register_buffer(name, W, persistent=False)
    owner.register_buffer(name + "_bias", bias, persistent=False)
    return True


def fuse_weights(model: Transformer, augment: bool = True) -> None:
    """fuse_group_weights for q/k/v and gate/up of every block (their weights become views: same memory);
    augment: also give each MLP augmented weights (augment_mlp)."""
    from .moe import sparse_moe, stack_experts

    for blk in model.model.layers:
        a, mlp = blk.self_attn, getattr(blk, "mlp", None)
        if not hasattr(a, "_tb_qkv"):
            fuse_group_weights([a.q_proj, a.k_proj, a.v_proj], a, "_tb_qkv")
        moe = sparse_moe(blk)
        if moe is not None:  # the experts' weights stacked for grouped GEMMs (fast/moe.py)
            stack_experts(moe)
            continue
        if not hasattr(mlp, "_tb_gate_up"):
            fuse_group_weights([mlp.gate_proj, mlp.up_proj], mlp, "_tb_gate_up")
        if augment:
            augment_mlp(mlp)


class HostEmbedding(nn.Module):
    """A frozen, untied embedding table kept in pinned host memory (1 GB at Llama-3 8B's 128k x 4096 in bf16).

    Each step needs only the rows of its tokens: looked up on the host and copied over (16 MB for 2,048 tokens),
    so the GPU memory goes to activations instead (fewer recomputed blocks at the same peak). Also serves the
    reference path (eval loss) by moving its result to the ids' device.
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        host = torch.empty(weight.shape, dtype=weight.dtype, pin_memory=torch.cuda.is_available())
        host.copy_(weight.detach())
        self.weight = nn.Parameter(host, requires_grad=False)

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows of host `ids` (any shape), on the host (pinned when CUDA exists)."""
        x = F.embedding(ids, self.weight)
        return x.pin_memory() if torch.cuda.is_available() else x

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lookup(ids.cpu()).to(ids.device, non_blocking=True)


def embed_on_host(model: Transformer) -> bool:
    """Move an untied, frozen input embedding to pinned host memory (HostEmbedding); False if not applicable."""
    emb = model.model.embed_tokens
    if isinstance(emb, HostEmbedding):
        return True
    if emb.weight.requires_grad or model.lm_head.weight is emb.weight or not emb.weight.is_cuda:
        return False
    model.model.embed_tokens = HostEmbedding(emb.weight)
    del emb
    torch.cuda.empty_cache()
    return True


def embed_on_device(model: Transformer, device) -> None:
    """Undo embed_on_host (benchmarks switch between variants)."""
    emb = model.model.embed_tokens
    if isinstance(emb, HostEmbedding):
        new = nn.Embedding(*emb.weight.shape, device=device, dtype=emb.weight.dtype)
        new.weight.data.copy_(emb.weight)
        new.weight.requires_grad_(False)
        model.model.embed_tokens = new
