"""Multi-process training under torchrun (one process per GPU; on the CPU, gloo, for tests).

The worker starts `python -m torch.distributed.run --standalone --nproc-per-node N -m
tuneboard_trainer train ...` when a job asks for N > 1 GPUs; torchrun sets RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Without them (a plain run) everything here is a no-op,
so train.py reads the same either way. What train.py asks of this module:

- `setup()` joins the process group (NCCL on CUDA, gloo on the CPU) and picks the strategy:
    ddp   torch's DistributedDataParallel: every rank holds the whole model, gradients are
          averaged (all-reduce). For LoRA and anything that fits one card.
    fsdp  FSDP2 (`torch.distributed.fsdp.fully_shard` per decoder block, then the root): the
          weights are sharded across ranks. For a model that does not fit one card.
  `train --dist-strategy ddp|fsdp` forces one; "auto" (default) takes fsdp when the model's
  weights need more than half of one GPU's memory, else ddp.
- `device(d)`: cuda:LOCAL_RANK instead of "cuda".
- `quiet(sink)`: metrics come from rank 0 only; other ranks print only their `error` event
  (prefixed "rank N:"), so a failure on any rank reaches the worker with that rank's message.
- `wrap(model)`: the module to run forward passes through (DDP/FSDP); the bare model stays what
  is saved, so parameter names and checkpoints are the same as in a single-process run.
- `share(window)`: one optimizer step's micro-batches split across ranks. The window is
  gradient_accumulation_steps x world_size micro-batches, so the global batch is
  per_device_train_batch_size x gradient_accumulation_steps x world_size (LLaMA-Factory's rule);
  shares are padded to equal length with zero-weight repeats, because every rank must run the
  same number of forward/backward passes (collectives). Loss scaling keeps the gradient equal to
  the single-process one: train.py multiplies by `world` (DDP/FSDP average over ranks).
- `accumulating(fwd, last)`: DDP's no_sync() for all but the last micro-batch of a window.
- `all_sum(*xs)`: loss and token counts of the step summed over ranks (for the logged numbers).
- `is_main`: only rank 0 writes files (checkpoints, the adapter, logs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from dataclasses import dataclass, field

import torch


@dataclass
class Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0
    strategy: str = "single"  # single | ddp | fsdp
    manual: bool = False  # ddp without a DDP wrapper: gradients averaged by sync_grads (see wrap)
    requested: str = "auto"  # auto | ddp | fsdp (train --dist-strategy)
    _wrapped: list = field(default_factory=list)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def device(self, device: torch.device) -> torch.device:
        if self.enabled and device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def quiet(self, sink):
        """Rank 0 keeps its sink; the others emit only errors, labelled with their rank (in place,
        so cli.py's error handler, which holds the same sink, is covered too)."""
        if not self.enabled or self.is_main:
            return sink
        emit = sink.emit
        rank = self.rank

        def emit_errors_only(event):
            from .events import to_dict

            d = to_dict(event)
            if d.get("type") != "error":
                return d
            if not str(event.message).startswith(f"rank {rank}: "):
                event = dataclasses.replace(event, message=f"rank {rank}: {event.message}")
            return emit(event)

        sink.emit = emit_errors_only
        return sink

    def pick_strategy(self, model, device: torch.device) -> str:
        if not self.enabled:
            return "single"
        if self.requested in ("ddp", "fsdp"):
            return self.requested
        if device.type == "cuda":
            weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
            total = torch.cuda.get_device_properties(device).total_memory
            if weight_bytes > 0.5 * total:
                return "fsdp"
        return "ddp"

    def wrap(self, model, device: torch.device, *, manual_grads: bool = False):
        """The module forward passes go through. Call after LoRA is applied (and before the optimizer
        for fsdp, which replaces parameters by sharded ones).

        manual_grads: the caller runs the model's blocks itself (fast/'s packed path), so DDP's forward
        hooks would never fire: no wrapper; the ranks start from rank 0's trainable weights and the caller
        averages gradients with `sync_grads` once per optimizer step (LoRA gradients are a few MB: one
        all-reduce after the last backward costs well under a millisecond on NVLink)."""
        self.strategy = self.pick_strategy(model, device)
        if self.strategy == "ddp" and manual_grads:
            self.manual = True
            for p in model.parameters():
                if p.requires_grad:
                    torch.distributed.broadcast(p.data, src=0)
            return model
        if self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            fwd = DDP(model, device_ids=ids, output_device=ids[0] if ids else None)
            self._wrapped.append(fwd)
            return fwd
        if self.strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard

            layers = getattr(getattr(model, "model", model), "layers", [])
            for block in layers:
                fully_shard(block)
            fully_shard(model)
            return model
        return model

    def share(self, window: list) -> list[tuple[object, float]]:
        """This rank's micro-batches of a window, as (batch, weight) pairs of equal count on every rank."""
        if not self.enabled:
            return [(b, 1.0) for b in window]
        per_rank = -(-len(window) // self.world)
        mine = [(b, 1.0) for b in window[self.rank :: self.world]]
        while len(mine) < per_rank:  # same number of passes on every rank: weight 0 repeats
            mine.append((window[0], 0.0))
        return mine

    def share_batches(self, window: list) -> list:
        """This rank's micro-batches of a window, unpadded (for manual_grads: ranks may run different
        numbers of passes, since the only collective is `sync_grads`)."""
        return window[self.rank :: self.world] if self.enabled else window

    def sync_grads(self, params: list) -> None:
        """Average the trainable parameters' gradients over ranks (manual_grads only): one flat all-reduce.
        A rank that had no samples this step contributes zeros."""
        if not (self.enabled and self.manual):
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])  # (sum of numels,)
        torch.distributed.all_reduce(flat)  # SUM: gloo has no AVG
        flat /= self.world
        i = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[i : i + n].view_as(g))
            i += n

    def accumulating(self, fwd, last: bool):
        if self.manual:
            return contextlib.nullcontext()
        if self.strategy == "ddp" and not last:
            return fwd.no_sync()
        return contextlib.nullcontext()

    def all_sum(self, *xs: float) -> tuple[float, ...]:
        if not self.enabled:
            return xs
        t = torch.tensor([float(x) for x in xs], dtype=torch.float64,
                         device=torch.device("cuda", self.local_rank) if torch.distributed.get_backend() == "nccl"
                         else torch.device("cpu"))
        torch.distributed.all_reduce(t)
        return tuple(float(v) for v in t.tolist())

    def step_totals(self, loss_sum: float, tokens: int, tokens_before: int) -> tuple[float, int]:
        """The step's loss sum and token count over all ranks (identity in a single process)."""
        if not self.enabled:
            return loss_sum, tokens
        total_loss, new_tokens = self.all_sum(loss_sum, tokens - tokens_before)
        return total_loss, tokens_before + int(new_tokens)

    def saving(self, save, model):
        """`save(path, ...)` run by rank 0 only; under fsdp every rank first gathers the full weights."""
        if not self.enabled:
            return save

        def wrapped(path, *args, **kwargs):
            with self.full_params(model):
                if self.is_main:
                    save(path, *args, **kwargs)
            return path

        return wrapped

    @contextlib.contextmanager
    def full_params(self, model):
        """For saving under fsdp: every rank gathers each sharded parameter (DTensor.full_tensor(), a
        collective, same order on all ranks) and the module holds plain full tensors until the
        block ends; then the sharded parameters are put back. Memory: one full copy of the weights."""
        if self.strategy != "fsdp":
            yield
            return
        from torch.distributed.tensor import DTensor

        swapped = []
        for module in model.modules():
            for name, p in list(module._parameters.items()):
                if isinstance(p, DTensor):
                    full = torch.nn.Parameter(p.full_tensor().detach().clone(), requires_grad=p.requires_grad)
                    module._parameters[name] = full
                    swapped.append((module, name, p))
        try:
            yield
        finally:
            for module, name, p in swapped:
                module._parameters[name] = p

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            # The ranks leave the group together: a rank that destroys its gloo group while rank 0 still writes
            # its files (the loss plot) can abort ("terminate called without an active exception", SIGABRT).
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


DIST_STRATEGIES = ("auto", "ddp", "fsdp")


def setup(strategy: str = "auto") -> Dist:
    """Join torchrun's process group (WORLD_SIZE, RANK, LOCAL_RANK, set by torchrun); strategy: auto | ddp | fsdp."""
    if strategy not in DIST_STRATEGIES:
        raise ValueError(f"dist strategy {strategy!r}: expected one of {', '.join(DIST_STRATEGIES)}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(requested=strategy)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    torch.distributed.init_process_group(backend=backend)
    if rank != 0:
        print(f"[rank {rank}] joined ({backend}, world {world})", file=sys.stderr, flush=True)
    return Dist(world=world, rank=rank, local_rank=local_rank, strategy="ddp", requested=strategy)
