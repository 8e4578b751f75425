"""training_loss.png: the loss curve a finished run leaves next to its adapter (LLaMA-Factory's smoothing)."""

from __future__ import annotations

import math
from pathlib import Path


def smooth(values: list[float]) -> list[float]:
    """LLaMA-Factory's EMA for loss curves (weight grows with the number of points)."""
    if not values:
        return []
    weight = 1.8 * (1 / (1 + math.exp(-0.05 * len(values))) - 0.5)
    out, last = [], values[0]
    for v in values:
        last = last * weight + (1 - weight) * v
        out.append(last)
    return out


def plot_loss(path: Path, losses: list[float], evals: list[tuple[int, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = list(range(1, len(losses) + 1))
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    ax.plot(steps, losses, color="#1f77b4", alpha=0.35, linewidth=1, label="train loss")
    ax.plot(steps, smooth(losses), color="#1f77b4", linewidth=2, label="train loss (smoothed)")
    if evals:
        ax.plot([s for s, _ in evals], [v for _, v in evals], "o-", color="#d62728", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"training loss of {path.parent.name}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
