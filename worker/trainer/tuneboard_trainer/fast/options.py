"""FastPathOptions (the trainer's performance choices, one frozen object per run) and the FastPath a run uses.

A run's options are built once from its config (`FastPathOptions.from_config`), reported in its `started`
event and stored with the run, so two workers run the same config the same way. Benchmarks build their own
(`with_overrides`). Nothing in the fast path reads the environment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

# Compiling the regions of an 8B model takes about a minute (H200) and cuts a 2 x 1,024-token step by about a
# quarter; at ~8k tokens/s eager it pays after ~2M tokens, so runs below 5M tokens train without it.
COMPILE_MIN_TOKENS = 5_000_000

FAST_PATH_MODES = ("auto", "on", "off")
COMPILE_FUNCTION_MODES = ("trace", "break")
WEIGHT_READERS = ("auto", "staged", "safe_open")


@dataclass(frozen=True)
class FastPathOptions:
    """How the fast path runs. The defaults are the tuned choices; each field can be switched off to compare
    or to work around a kernel that misbehaves on some hardware.

    mode: "auto" = on CUDA when the model qualifies, "on" = also on the CPU (tests), "off" = reference path.
    gradient_checkpointing: recompute only as many blocks as the free GPU memory requires (else none).
    compile: regional torch.compile of a block's attention-free halves; None = for runs of at least
        COMPILE_MIN_TOKENS tokens (CUDA only).
    compile_functions: how compiled regions meet the LoRA Functions: "trace" (traced into them) or "break"
        (graph breaks with compiled elementwise kernels of their own).
    cuda_graphs: record each packed micro-batch shape's forward + backward once and replay it (CUDA).
    augmented_weights: gate/up and down_proj carry their LoRA terms in augmented weights (one GEMM each).
    keep_swiglu: keep the SwiGLU product for backward; None = only when nothing is recomputed.
    dense_attention: batched cuDNN attention when all sequences of a micro-batch have the same length.
    host_embedding: the frozen input embedding in pinned host memory (CUDA).
    weight_reader: how checkpoints are read onto the device: "auto" (staged on CUDA), "staged", "safe_open".
    shared_prompt: a dpo pair's chosen and rejected rows compute their shared prompt once (fast/shared_prompt.py).
    """

    mode: str = "auto"
    gradient_checkpointing: bool = True
    compile: Optional[bool] = None
    compile_functions: str = "trace"
    cuda_graphs: bool = True
    augmented_weights: bool = True
    keep_swiglu: Optional[bool] = None
    dense_attention: bool = True
    host_embedding: bool = True
    weight_reader: str = "auto"
    shared_prompt: bool = True

    def __post_init__(self):
        for name, allowed in (("mode", FAST_PATH_MODES), ("compile_functions", COMPILE_FUNCTION_MODES),
                              ("weight_reader", WEIGHT_READERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"fast-path option {name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}")

    @classmethod
    def from_config(cls, cfg) -> "FastPathOptions":
        """The options of a run from its TrainConfig (fast_path, gradient_checkpointing); the rest as tuned."""
        return cls(mode=getattr(cfg, "fast_path", "auto"), gradient_checkpointing=bool(cfg.gradient_checkpointing))

    def with_overrides(self, pairs: list[str]) -> "FastPathOptions":
        """A copy with "name=value" pairs applied (benchmark flags): booleans as 1/0/true/false, optional
        booleans also as auto, strings as they are."""
        changes: dict[str, Any] = {}
        fields = {f.name: f for f in dataclasses.fields(self)}
        for pair in pairs:
            name, sep, raw = pair.partition("=")
            if not sep or name not in fields:
                raise ValueError(f"fast-path option {pair!r}: expected name=value, name one of {', '.join(fields)}")
            current = getattr(FastPathOptions(), name)
            if isinstance(current, str):
                changes[name] = raw
            elif raw.lower() in ("auto", "none") and current is None:
                changes[name] = None
            elif raw.lower() in ("1", "true", "on", "0", "false", "off"):
                changes[name] = raw.lower() in ("1", "true", "on")
            else:
                raise ValueError(f"fast-path option {name}: {raw!r} is not a boolean")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_max_tokens(batch_size: int, cutoff_len: int) -> int:
    """Tokens per packed micro-batch: the most a padded reference micro-batch could hold."""
    return max(batch_size * cutoff_len, 2048)


def resolved_options(options: FastPathOptions, fast, graphs) -> dict:
    """What a run used: its options with the choices made at setup resolved (for the `started` event)."""
    out = options.as_dict()
    out["active"] = fast is not None
    if fast is None:
        return {**out, "compile": False, "cuda_graphs": False, "host_embedding": False}
    return {**out, "compile": bool(fast.compiled), "cuda_graphs": graphs is not None,
            "keep_swiglu": bool(fast.keep_product), "host_embedding": bool(fast.host_embedding),
            "max_tokens": fast.max_tokens, "recomputed_blocks": fast.ckpt_layers,
            "gate_up_recomputed_blocks": fast.mlp_recompute}


def for_training(options: FastPathOptions, cfg, model, device, total_tokens: int, dist=None):
    """The FastPath a run should use (None: the reference path), and a line for the log.

    Recompute: with gradient_checkpointing on, only as many blocks as the free GPU memory requires. dist:
    distributed.Dist of a torchrun run (DDP keeps the fast path; FSDP2 does not).
    """
    from .memory import free_memory_bytes, reserve_bytes
    from .path import FastPath
    from .weights import embed_on_host

    if options.mode == "off" or (options.mode == "auto" and device.type != "cuda"):
        return None, ""
    ok, why = FastPath.supported(model)
    if not ok:
        return None, f"fast path off: {why}"
    if dist is not None and dist.enabled and dist.pick_strategy(model, device) != "ddp":
        # FSDP2 shards the weights and gathers them in its module hooks, which the packed path (calling the
        # blocks' pieces itself) would bypass. DDP is fine: train.py averages gradients itself (sync_grads).
        return None, "fast path off: FSDP2 (sharded weights)"
    max_tokens = default_max_tokens(cfg.per_device_train_batch_size, cfg.cutoff_len)
    # Before measuring free memory: the embedding table's GB go to activations (HostEmbedding).
    host_embed = device.type == "cuda" and options.host_embedding and embed_on_host(model)
    ckpt, budget = 0, None
    if device.type == "cuda" and options.gradient_checkpointing:
        budget = free_memory_bytes(device) - reserve_bytes(model, max_tokens)
        ckpt = None
    wanted = options.compile if options.compile is not None else total_tokens >= COMPILE_MIN_TOKENS
    fp = FastPath(model, max_tokens, ckpt_layers=ckpt, memory_budget=max(budget, 0) if budget is not None else None,
                  compile=device.type == "cuda" and wanted, options=options, measure_costs=True)
    fp.host_embedding = host_embed
    if fp.moe:  # next-token stages only call fp.loss(), where the router's load-balancing loss joins
        from ..moe import aux_loss_coef

        fp.aux_coef = aux_loss_coef(getattr(cfg, "moe_aux_loss_coef", None), model, True)[0]
    return fp, (f"fast path: packed micro-batches of <= {max_tokens} tokens, varlen attention, "
                f"{fp.ckpt_layers}/{len(model.model.layers)} blocks recomputed"
                f"{f' (+ gate/up of {fp.mlp_recompute})' if fp.mlp_recompute else ''}"
                f"{' (planned from measured costs)' if fp.recompute_costs is not None else ''}, "
                f"compile {'on' if fp.compiled else 'off'}"
                f"{', input embedding in host memory' if host_embed else ''}")
