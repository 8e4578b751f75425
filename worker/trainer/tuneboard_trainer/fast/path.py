"""FastPath: packed, padding-free training steps for a LoRA Transformer, with the reference path's loss."""

from __future__ import annotations

import functools
from typing import Optional

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from ..loss import _LinearCrossEntropy
from ..lora import LoRALinear
from ..model import GEMMA_ARCHITECTURES, LLAMA_FAMILY, Transformer
from ..rope import STATIC_ROPE_TYPES
from ..templates import IGNORE_INDEX
from .attention import attention, shared_prompt_attention
from .blocks import _post_attn, _pre_attn
from .functions import FUNCTION_MODE, compile_pointwise, rms_norm
from .memory import _OffloadedCheckpoint
from .moe import MOE_FAST_PATH_ARCHITECTURES, is_moe_model, moe_act_bytes, moe_unsupported, plan_moe_recompute
from .options import FastPathOptions
from .packing import pack_window
from .weights import HostEmbedding, fuse_weights, refresh_augmented


# Families whose blocks are model.py's Llama layout (what blocks.py and functions.py compute); Gemma 2 / 3
# (GEMMA_ARCHITECTURES) have fast/gemma.py's GemmaFastPath; the others train on the reference path.
FAST_PATH_ARCHITECTURES = LLAMA_FAMILY


class FastPath:
    """Packed, padding-free training steps for a LoRA `Transformer` (same loss as the reference path).

    max_tokens: tokens per packed micro-batch (the window's samples are split at sample boundaries).
    ckpt_layers: how many blocks recompute their activations in backward; None = as few as `memory_budget`
        (bytes for activations) allows, after recomputing gate/up first (plan_recompute); 0 = none.
    mlp_recompute: how many of the other blocks recompute only their gate/up products in backward.
    compile: regional torch.compile of the attention-free halves of a block (CUDA only; falls back to eager
        if compiling fails).
    offload: checkpointed blocks keep their input in pinned host memory instead of on the GPU (long contexts).
    options: the run's FastPathOptions (kernel choices: augmented weights, dense attention, how compiled
        regions meet the LoRA Functions, keeping the SwiGLU product).
    """

    def __new__(cls, model=None, *args, **kw):
        # Gemma 2 / 3 blocks are gemma.py's: FastPath(model, ...) builds their subclass (fast/gemma.py).
        if cls is FastPath and getattr(getattr(model, "config", None), "architecture", None) in GEMMA_ARCHITECTURES:
            from .gemma import GemmaFastPath

            cls = GemmaFastPath
        return super().__new__(cls)

    def __init__(self, model: Transformer, max_tokens: int, *, ckpt_layers: Optional[int] = None,
                 memory_budget: Optional[int] = None, compile: bool = False, loss_chunk: int = 256,
                 offload: bool = False, mlp_recompute: Optional[int] = None,
                 options: Optional[FastPathOptions] = None, measure_costs: bool = False):
        self.model, self.max_tokens, self.loss_chunk, self.offload = model, int(max_tokens), loss_chunk, offload
        self.options = options or FastPathOptions()
        # A quantized base (quant/) runs its projections through the layer's kernels, unfused: see act_bytes_per_token.
        self.quantized = any(getattr(m, "quantized", None) is not None for m in model.modules())
        self.host_embedding = False  # set by for_training when the embedding moved to host memory
        self.moe = is_moe_model(model)
        if self.moe:  # fast/graph.py: the aux loss and the experts' gradient hooks stay out of CUDA graphs
            self.graphs_ok = False
        # measure_costs: plan from costs measured on the device (plan_measured); the fixed rule where it cannot.
        self.recompute_plan, self.recompute_costs = None, None
        plan = self.plan_measured(memory_budget) if ckpt_layers is None and memory_budget is not None \
            and measure_costs else None
        if plan is not None:
            ckpt_layers, mlp_recompute = plan.ckpt_layers, plan.mlp_recompute
        elif ckpt_layers is None:
            ckpt_layers, mlp_recompute = ((0, mlp_recompute) if memory_budget is None
                                          else plan_moe_recompute(self, memory_budget) if self.moe
                                          else self.plan_recompute(memory_budget))
        self.set_recompute(ckpt_layers, mlp_recompute or 0)
        if plan is not None:
            self.set_keep_product(plan.keep_product)
        elif memory_budget is not None and self.ckpt_layers == 0 and self.mlp_recompute == 0:
            # Keep the SwiGLU products only if they fit on top of everything else.
            c = model.config
            product = 2 * c.intermediate_size * self.max_tokens * c.num_hidden_layers
            self.set_keep_product(self.act_bytes_per_token() * self.max_tokens * c.num_hidden_layers + product
                                  <= memory_budget)
        self.pre, self.post = _pre_attn, _post_attn
        # Dropout on any adapter: recompute must replay the same random masks.
        self.uses_rng = any(isinstance(m, LoRALinear) and not isinstance(m.dropout, nn.Identity)
                            for m in model.modules())
        self.compiled = False
        # MoE: moe_aux_loss_coef (for_training sets it, as moe.aux_loss_coef says) times the router's
        # load-balancing loss per labelled token joins loss(); `aux` is the last micro-batch's (metrics()).
        self.aux_coef, self.aux = 0.0, None
        fuse_weights(model, self.options.augmented_weights)  # q/k/v and gate/up: one GEMM each (the modules' weights become views)
        if compile:
            compile_pointwise()
            self.pre = torch.compile(_pre_attn, dynamic=True)
            # MoE blocks: the routing and the grouped GEMMs run eagerly (only the attention half is compiled).
            self.post = _post_attn if self.moe else torch.compile(_post_attn, dynamic=True)
            self.compiled = True

    @property
    def shares_prompts(self) -> bool:
        """Whether a dpo pair batch runs with each pair's prompt once (shared_prompt.py): this class's blocks
        gather for attention (FastPath._block); Gemma's blocks do not."""
        return self.options.shared_prompt and type(self) is FastPath

    @property
    def logit_softcap(self) -> Optional[float]:
        """The final logits' soft-cap (Gemma 2's final_logit_softcapping), None for plain logits."""
        return getattr(self.model.config, "final_logit_softcapping", None)

    @staticmethod
    def supported(model) -> tuple[bool, str]:
        arch = getattr(getattr(model, "config", None), "architecture", None)
        if arch in GEMMA_ARCHITECTURES:
            from .gemma import gemma_supported

            return gemma_supported(model)
        if arch not in FAST_PATH_ARCHITECTURES:
            # Qwen3-MoE and Mixtral: model.py's Llama layout with moe.SparseMoE as the MLP (fast/moe.py)
            why = (moe_unsupported(model) if arch in MOE_FAST_PATH_ARCHITECTURES
                   else f"{arch} has no fast path yet; training on the reference path")
            if why:
                return False, why
        if not isinstance(model, Transformer):
            return False, "not a tuneboard Transformer"
        rope = (model.config.rope_scaling or {}).get("rope_type", "default")
        if rope not in STATIC_ROPE_TYPES:  # the packed path rotates with the fixed model.inv_freq, unscaled
            return False, f"{rope} RoPE has no fast path yet; training on the reference path"
        if any(layer.window is not None for layer in model.model.layers):
            return False, "sliding-window attention"
        loras = [m for m in model.modules() if isinstance(m, LoRALinear)]
        if not loras:
            return False, "no LoRA layers (freeze/full fine-tuning use the reference path)"
        if any(m.use_dora for m in loras):
            return False, "DoRA"
        return True, ""

    # Bytes kept per token per un-checkpointed block (bf16): the residual stream before each half (the normed
    # inputs are recomputed from it), q/k/v, the attention output (+ its fp32 logsumexp), gate and up (the
    # SwiGLU product is recomputed in backward). At 8B this counts 92 KB; 10 % is added for what the count
    # misses (allocator rounding, small saved tensors, the LoRA products).
    def act_bytes_per_token(self) -> int:
        c = self.model.config
        qkv = (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim
        attn = c.num_attention_heads * c.head_dim
        if self.moe:  # the experts' activations instead of gate/up (fast/moe.py)
            return int(1.1 * (2 * (2 * c.hidden_size + qkv + attn) + 4 * c.num_attention_heads)) + moe_act_bytes(c)
        # Quantized projections (unfused: LoRA A reads the normed inputs, autograd keeps silu(g) and the SwiGLU
        # product) keep two normed inputs and two intermediate-wide tensors more.
        unfused = 2 * (2 * c.hidden_size + 2 * c.intermediate_size) if self.quantized else 0
        return int(1.1 * (2 * (2 * c.hidden_size + qkv + attn + 2 * c.intermediate_size) + unfused
                          + 4 * c.num_attention_heads))

    def plan_recompute(self, budget: int) -> tuple[int, int]:
        """(blocks recomputed, blocks whose MLP recomputes gate/up) so that max_tokens of activations fit in
        `budget` bytes, cheapest first: recomputing gate/up frees 4 x intermediate bytes per token for about a
        quarter of a block's forward, recomputing a block frees about 1.8x that for the whole forward, so
        MLP recompute comes first and whole blocks only once every block's MLP recomputes."""
        c = self.model.config
        T, L = self.max_tokens, c.num_hidden_layers
        full = self.act_bytes_per_token() * T  # one block, nothing recomputed
        mlp = 0 if self.quantized else 2 * 2 * c.intermediate_size * T  # what recomputing gate/up frees (the
        # fused MLP only: a quantized base's unfused MLP keeps its activations)
        kept = 2 * c.hidden_size * T  # a checkpointed block keeps only its input
        for k in range(L + 1):
            for m in range(L - k + 1):
                # Recompute needs one block's full activations on top of what is kept.
                need = (L - k) * full - m * mlp + k * kept + (full if k else 0)
                if need <= budget:
                    return k, m
        return L, 0

    def plan_measured(self, budget: int, costs=None):
        """The recompute plan from costs measured on the model's device (recompute_costs.measure_costs, unless
        `costs` are given) under `budget` bytes of activations: the fewest seconds of recompute that fit
        (recompute_plan.plan_from_costs). None where nothing can be timed (the CPU, or blocks other than the
        Llama block): plan_recompute's fixed rule decides there. Kept as self.recompute_plan (and the costs as self.recompute_costs); apply it
        with apply_plan."""
        from .recompute_costs import measure_costs
        from .recompute_plan import RecomputePlan, plan_from_costs

        weight = self.model.model.layers[0].mlp.down_proj.weight  # None over a quantized base
        # What gets timed is this class's Llama block with plain weights (recompute_costs._block): other families
        # and quantized bases, whose kernels cost differently, keep their rules.
        if costs is None and (weight is None or weight.device.type != "cuda" or type(self) is not FastPath
                              or getattr(self, "moe", False)):
            self.recompute_plan = None
            return None
        c = self.model.config
        everything = (self.act_bytes_per_token() + 2 * c.intermediate_size) * self.max_tokens * c.num_hidden_layers
        if costs is None and everything <= budget:  # all activations fit by the generous count: nothing to time
            self.recompute_plan, self.recompute_costs = RecomputePlan(0, 0, True, everything, 0.0, True), None
            return self.recompute_plan
        if costs is None:
            try:
                costs = measure_costs(self, weight.device, weight.dtype)
            except torch.cuda.OutOfMemoryError:  # no room to time one block: the fixed rule decides
                torch.cuda.empty_cache()
                self.recompute_plan = None
                return None
        self.recompute_plan = plan_from_costs(costs, len(self.model.model.layers), budget)
        self.recompute_costs = costs
        return self.recompute_plan

    def apply_plan(self, budget: int, costs=None) -> tuple[int, int]:
        """plan_measured, then its recompute and SwiGLU-product choice applied (the fixed rule's where it
        returns None); returns (blocks recomputed, blocks recomputing gate/up)."""
        plan = self.plan_measured(budget, costs)
        if plan is None:
            self.set_recompute(*self.plan_recompute(budget))
        else:
            self.set_recompute(plan.ckpt_layers, plan.mlp_recompute)
            self.set_keep_product(plan.keep_product)
        return self.ckpt_layers, self.mlp_recompute

    def set_recompute(self, ckpt_layers: int, mlp_recompute: int = 0) -> None:
        """Blocks [0, ckpt_layers) recompute everything; the next mlp_recompute blocks only their gate/up."""
        L = len(self.model.model.layers)
        self.ckpt_layers = max(0, min(L, int(ckpt_layers)))
        self.mlp_recompute = max(0, min(L - self.ckpt_layers, int(mlp_recompute)))
        for i, blk in enumerate(self.model.model.layers):
            blk._tb_mlp_recompute = self.ckpt_layers <= i < self.ckpt_layers + self.mlp_recompute
        self.set_keep_product(self.ckpt_layers == 0 and self.mlp_recompute == 0)
        # How compiled regions meet the LoRA Functions (FUNCTION_MODE): traced (faster; the recompute is spelt so
        # that CSE cannot merge it, so they keep no more than eager), or graph breaks with compiled pointwise
        # kernels (options.compile_functions == "break").
        self.trace_functions = self.options.compile_functions != "break"

    def set_keep_product(self, keep: bool) -> None:
        """Whether blocks keep their SwiGLU product for backward (2 bytes x intermediate per token more, one
        elementwise pass less): by default only when nothing is recomputed (memory is not short);
        options.keep_swiglu overrides."""
        forced = self.options.keep_swiglu
        self.keep_product = bool(keep) if forced is None else forced
        for blk in self.model.model.layers:
            blk._tb_keep_product = self.keep_product

    def _block(self, blk, x, cos, sin, cu, max_len, expand=None, pick=None):
        q, k, v = self.pre(blk, x, cos, sin)
        if expand is not None:  # shared_prompt.py: attention over the rows as they are, the rest per unique token
            y = shared_prompt_attention(q, k, v, expand, pick, cu, max_len, self.options.dense_attention)
        else:
            y = attention(q, k, v, cu, max_len, self.options.dense_attention)
        return self.post(blk, x, y)

    def hidden(self, mb: dict, device) -> torch.Tensor:
        """Final normed hidden states (N, D) of a packed micro-batch."""
        FUNCTION_MODE["trace"] = self.compiled and self.trace_functions
        FUNCTION_MODE["compiled"] = self.compiled
        m = self.model
        if torch.is_grad_enabled():
            refresh_augmented(m)  # the adapters' current values into the augmented weights
        pos = mb["position_ids"].to(device, non_blocking=True)  # (N,)
        cu = mb["cu_seqlens"].to(device, non_blocking=True)
        emb = m.model.embed_tokens
        if "inputs_embeds" in mb:  # fast/graph.py: looked up before the replay, in a static buffer
            x = mb["inputs_embeds"]  # (N, D)
        elif isinstance(emb, HostEmbedding):
            x = emb.lookup(mb["input_ids"][0]).to(device, non_blocking=True)  # (N, D)
        else:
            x = emb(mb["input_ids"].to(device, non_blocking=True)[0])  # (N, D)
        freqs = pos[:, None].float() * m.inv_freq.to(device)  # (N, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (N, hd)
        cos, sin = emb.cos().to(x.dtype)[:, None], emb.sin().to(x.dtype)[:, None]  # (N, 1, hd)
        if self.offload and torch.is_grad_enabled() and not x.requires_grad:
            x = x.detach().requires_grad_(True)  # the frozen embedding's output: make the Function's graph exist
        run = self._block
        if "expand" in mb:  # a pair batch with its prompts once (shared_prompt.py): attention gathers, picks back
            run = functools.partial(self._block, expand=mb["expand"].to(device, non_blocking=True),
                                    pick=mb["pick"].to(device, non_blocking=True))
        for i, blk in enumerate(m.model.layers):
            if i < self.ckpt_layers and torch.is_grad_enabled() and self.offload:
                x = _OffloadedCheckpoint.apply(x, run, blk, cos, sin, cu, mb["max_len"])
            elif i < self.ckpt_layers and torch.is_grad_enabled():
                # The RNG state is saved only when dropout needs it (reading it is not allowed while a CUDA
                # graph is being captured: fast/graph.py).
                x = checkpoint(run, blk, x, cos, sin, cu, mb["max_len"], use_reentrant=False,
                               preserve_rng_state=self.uses_rng)
            else:
                x = run(blk, x, cos, sin, cu, mb["max_len"])
        return rms_norm(m.model.norm, x)

    def loss(self, mb: dict, device) -> tuple[torch.Tensor, int]:
        """Summed next-token cross-entropy over the labelled positions of a packed micro-batch, and their count."""
        try:
            h = self.hidden(mb, device)
        except Exception:
            if not self.compiled:
                raise
            # A compile failure must not stop training: fall back to eager once, for good.
            self.pre, self.post, self.compiled = _pre_attn, _post_attn, False
            h = self.hidden(mb, device)
        # Labelled positions are known on the host: indexing with them avoids the device sync that a boolean
        # mask on the GPU costs (the host would wait for the whole forward before queueing the loss).
        y = mb["targets"]
        idx = (y != IGNORE_INDEX).nonzero().squeeze(1)  # (n,)
        n = len(idx)
        if n == 0:
            return h.sum() * 0.0, 0
        idx_d = idx.to(device, non_blocking=True)
        y_d = y[idx].to(device, non_blocking=True)
        ce = _LinearCrossEntropy.apply(h.index_select(0, idx_d), self.model.lm_head.weight, y_d, self.loss_chunk)
        if self.moe and self.aux_coef:  # a packed micro-batch holds real tokens only: no mask
            self.aux = self.model.aux_loss()
            return ce + self.aux_coef * n * self.aux, n
        return ce, n

    def metrics(self) -> list[dict]:
        """What the last loss() adds to the run's log: MoE's aux loss when it joined the loss."""
        return [{"aux_loss": self.aux.detach()}] if self.moe and self.aux_coef and self.aux is not None else []

    def pack(self, batches: list[dict]) -> list[dict]:
        return pack_window(batches, self.max_tokens)
