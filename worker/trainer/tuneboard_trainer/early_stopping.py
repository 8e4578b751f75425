"""Early stopping on the held-out split's loss (HF's EarlyStoppingCallback rule).

An evaluation improves when its loss is below the best so far by more than `min_delta`; the run stops once
`patience` evaluations in a row did not improve. The best evaluation is the last one that improved: its weights
are the ones a stopped run saves (transformers' load_best_model_at_end), see train.py.
"""

from __future__ import annotations

from typing import Optional

import torch


def best_eval(evals: list[tuple[int, float]], min_delta: float) -> tuple[int, float, int]:
    """(step, loss) of the best evaluation of a non-empty history [(step, loss), ...] in order, and how many
    evaluations since did not improve on it."""
    best_step, best_loss = evals[0]
    waited = 0
    for step, loss in evals[1:]:
        if loss < best_loss - min_delta:
            best_step, best_loss, waited = step, loss, 0
        else:
            waited += 1
    return best_step, best_loss, waited


def early_stop(evals: list[tuple[int, float]], patience: int, min_delta: float) -> Optional[dict]:
    """The stop report for this eval history [(step, loss), ...] in order, or None to keep training."""
    if patience <= 0 or not evals:
        return None
    best_step, best_loss, waited = best_eval(evals, min_delta)
    if waited < patience:
        return None
    return {"patience": patience, "min_delta": min_delta, "best_eval_loss": round(best_loss, 4), "best_step": best_step}


def stop_message(stop: dict) -> str:
    """The stop report in words, as the dashboard shows it."""
    return (f"stopped early: eval loss did not improve by {stop['min_delta']:g} for {stop['patience']} evaluations "
            f"(best {stop['best_eval_loss']:.4f} at step {stop['best_step']})")


def saved_message(stop: dict, last_step: int, lora: bool) -> str:
    """Which step's weights a stopped run saved, in words (stop["saved_step"] set by train.py)."""
    if stop["saved_step"] == stop["best_step"]:
        if stop["best_step"] == last_step:
            return f"saved the weights of step {last_step}, the best evaluation"
        return (f"saved the weights of step {stop['best_step']}, the best evaluation, "
                f"not those of the last step {last_step}")
    if lora:  # the best evaluation came before the run was resumed from a checkpoint
        return (f"saved the weights of the last step {last_step}: the best evaluation (step {stop['best_step']}) "
                "came before the run resumed, and its weights were not kept")
    return (f"saved the weights of the last step {last_step}: only LoRA adapters are kept in memory at their best "
            f"evaluation (step {stop['best_step']})")


class BestWeights:
    """The trainable weights of the best evaluation so far, kept in memory (a LoRA adapter is small) so that a run
    stopped early saves them rather than the last step's."""

    def __init__(self):
        self.kept: tuple[int, dict[str, torch.Tensor]] | None = None

    def keep_if_best(self, model: torch.nn.Module, step: int, evals: list[tuple[int, float]], patience: int,
                     min_delta: float) -> None:
        """A copy of the trainable weights when the newest evaluation (at `step`) is the best of `evals`."""
        if patience > 0 and best_eval(evals, min_delta)[0] == step:
            self.kept = (step, {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})

    def restore(self, model: torch.nn.Module, stop: dict, step: int) -> None:
        """Puts the kept weights back when they are the stop report's best step; records the step whose weights
        the run saves in stop["saved_step"] (the last step when none were kept)."""
        saved_step = step
        if self.kept is not None and self.kept[0] == stop["best_step"]:
            saved_step, weights = self.kept
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if n in weights:
                        p.copy_(weights[n])
            self.kept = None
        stop["saved_step"] = saved_step
