"""What each block keeps for backward and what it recomputes, chosen from a cost per byte under a memory budget.

A block can keep all its activations, recompute its MLP's gate/up products in backward (frees `mlp_bytes`
for `mlp_s` seconds), or recompute everything from its input (keeps `kept_bytes` for `block_s`); when nothing
is recomputed, blocks may also keep their SwiGLU product (`product_bytes` more, `product_s` saved). The costs
come from `recompute_costs.measure_costs` (timed and counted on the device at the run's start); where nothing
can be timed (the CPU), FastPath.plan_recompute keeps its fixed rule.

`plan_from_costs` returns the plan with the fewest seconds of recompute whose activations fit the budget. The
blocks are alike, so a plan is the pair (blocks recomputed, blocks recomputing gate/up) and the search over
every pair (33 x 33 at 32 blocks) is exact, where a greedy pick by bytes freed per second can miss the optimum
at the budget's edge (a knapsack). Blocks [0, k) recompute everything, the next m only gate/up (FastPath's
layout).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecomputeCosts:
    """Per block, at one micro-batch of max_tokens tokens. Bytes: what backward keeps; seconds: per step."""

    block_bytes: int  # nothing recomputed (SwiGLU product not kept)
    mlp_bytes: int  # freed by recomputing gate/up
    kept_bytes: int  # kept by a block that recomputes everything (its input)
    product_bytes: int  # kept more when the SwiGLU product is kept
    block_s: float  # added by recomputing the whole block
    mlp_s: float  # added by recomputing gate/up
    product_s: float  # saved by keeping the SwiGLU product
    source: str = "measured"  # "measured" (timed on the device) or "injected" (tests)
    work_bytes: int = 0  # one block's forward and backward need this much above what blocks keep (its temporaries)


@dataclass(frozen=True)
class RecomputePlan:
    ckpt_layers: int  # blocks recomputing everything
    mlp_recompute: int  # blocks recomputing gate/up
    keep_product: bool  # whether blocks keep their SwiGLU product
    need_bytes: int  # peak activation bytes of the plan (plan_need)
    extra_s: float  # seconds of recompute per step (minus what keeping the product saves)
    fits: bool  # False: nothing fits, this is the plan that needs least


def plan_need(costs: RecomputeCosts, layers: int, k: int, m: int, keep: bool = False) -> int:
    """Peak activation bytes of a plan: the larger of what all blocks keep at the end of forward and the peaks
    of backward, which reaches the recomputing blocks [0, k + m) last, when only their own kept bytes are left:
    one recomputing gate/up holds them again, one recomputing everything holds a whole block's activations;
    plus the temporaries of the block running forward or backward at that moment (work_bytes)."""
    per_mlp = costs.block_bytes - costs.mlp_bytes
    kept = (layers - k - m) * costs.block_bytes + m * per_mlp + k * costs.kept_bytes
    if keep:
        kept += (layers - k) * costs.product_bytes
    peaks = [kept]
    if m:
        peaks.append(k * costs.kept_bytes + m * per_mlp + costs.mlp_bytes)
    if k:
        peaks.append(k * costs.kept_bytes + costs.block_bytes)
    return max(peaks) + costs.work_bytes


def plan_seconds(costs: RecomputeCosts, layers: int, k: int, m: int, keep: bool = False) -> float:
    return k * costs.block_s + m * costs.mlp_s - (layers * costs.product_s if keep else 0.0)


def plan_from_costs(costs: RecomputeCosts, layers: int, budget: int) -> RecomputePlan:
    """The plan with the fewest seconds of recompute whose peak fits `budget` bytes (ties: the one with more
    headroom); when none fits, every block recomputes (the least memory), with fits=False."""
    best = None
    for k in range(layers + 1):
        for m in range(layers - k + 1):
            for keep in ((False, True) if k == 0 and m == 0 else (False,)):
                need = plan_need(costs, layers, k, m, keep)
                if need > budget:
                    continue
                key = (plan_seconds(costs, layers, k, m, keep), need)
                if best is None or key < best[0]:
                    best = (key, RecomputePlan(k, m, keep, need, key[0], True))
    if best is not None:
        return best[1]
    return RecomputePlan(layers, 0, False, plan_need(costs, layers, layers, 0),
                         plan_seconds(costs, layers, layers, 0), False)

