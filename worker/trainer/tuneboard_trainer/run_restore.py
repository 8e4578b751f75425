"""Putting a saved run state (run_state.py: a checkpoint's trainer_state.pt, or a finished run's) back into a
TrainingRun (train.py): its trainable weights, optimizer, scheduler, scaler, counters, history and RNG."""

from __future__ import annotations

import torch

from .run_state import check_trainable, set_rng_state


def restore_run(run, state: dict, field: str) -> None:
    """`state` into `run` (`field` names the setting it came from, for errors)."""
    named = dict(run.model.named_parameters())
    check_trainable(state, named, field)
    with torch.no_grad():
        for n, t in state["trainable"].items():
            named[n].copy_(t)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if run.scaler is not None and state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.step, run.epoch, run.step_in_epoch = state["global_step"], state["epoch"], state["step_in_epoch"]
    run.tokens, run.losses = state["tokens"], list(state["losses"])
    run.evals = [tuple(e) for e in state["evals"]]
    set_rng_state(state["rng"])  # last: everything above may have drawn random numbers


def rescale_lr(optimizer, scheduler) -> None:
    """The learning rate of the next step under a continued run's schedule (the state holds the earlier run's,
    which ended with its own, shorter schedule)."""
    lam = scheduler.lr_lambdas[0]
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * lam(scheduler.last_epoch)
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
