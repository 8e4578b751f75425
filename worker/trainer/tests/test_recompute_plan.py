"""The recompute planner: given costs and a budget, the cheapest plan that fits (checked against every per-block
assignment), never over the budget; the costs measured on a real block count what recompute frees; measuring
changes nothing of the run; without a device clock the fixed rule decides."""

import itertools
import random

import pytest
import torch

from fast_helpers import SMALL, lora_model
from tuneboard_trainer.fast import FastPath
from tuneboard_trainer.fast.recompute_costs import measure_costs
from tuneboard_trainer.fast.recompute_plan import RecomputeCosts, plan_from_costs, plan_need, plan_seconds


def _costs(rng: random.Random) -> RecomputeCosts:
    block = rng.randint(50, 200)
    return RecomputeCosts(block_bytes=block, mlp_bytes=rng.randint(1, block - 10), kept_bytes=rng.randint(1, 9),
                          product_bytes=rng.randint(1, 60), block_s=rng.uniform(0.1, 4.0), mlp_s=rng.uniform(0.05, 2.0),
                          product_s=rng.uniform(0.0, 0.3), source="injected")


def _brute_force(costs: RecomputeCosts, layers: int, budget: int):
    """The cheapest fitting assignment of each block to keep / gate-up recompute / whole recompute (and the
    SwiGLU product kept when no block recomputes), by trying all of them."""
    best = None
    for ways in itertools.product("kmb", repeat=layers):
        k, m = ways.count("b"), ways.count("m")
        for keep in ((False, True) if k == m == 0 else (False,)):
            need = plan_need(costs, layers, k, m, keep)
            if need <= budget:
                s = plan_seconds(costs, layers, k, m, keep)
                best = s if best is None else min(best, s)
    return best


@pytest.mark.parametrize("seed", range(40))
def test_the_plan_is_the_cheapest_that_fits(seed):
    rng = random.Random(seed)
    layers = rng.randint(1, 5)
    costs = _costs(rng)
    low = plan_need(costs, layers, layers, 0)
    high = plan_need(costs, layers, 0, 0, keep=True)
    budget = rng.randint(max(0, low - 20), high + 20)
    plan = plan_from_costs(costs, layers, budget)
    best = _brute_force(costs, layers, budget)
    if best is None:
        assert not plan.fits and (plan.ckpt_layers, plan.mlp_recompute) == (layers, 0)
        return
    assert plan.fits and plan.need_bytes <= budget
    assert plan.need_bytes == plan_need(costs, layers, plan.ckpt_layers, plan.mlp_recompute, plan.keep_product)
    assert plan.extra_s == pytest.approx(best)
    assert plan.ckpt_layers + plan.mlp_recompute <= layers


def test_the_plan_follows_the_price_per_byte():
    # Gate/up frees 40 bytes for 2 s (20 B/s); a whole block frees 95 for 1.5 s (63 B/s).
    c = RecomputeCosts(block_bytes=100, mlp_bytes=40, kept_bytes=5, product_bytes=30, block_s=1.5, mlp_s=2.0,
                       product_s=0.1, source="injected")
    assert plan_from_costs(c, 4, 10_000).keep_product  # ample memory: keep even the SwiGLU products
    plan = plan_from_costs(c, 4, 400)
    assert (plan.ckpt_layers, plan.mlp_recompute, plan.keep_product) == (0, 0, False)
    plan = plan_from_costs(c, 4, 330)  # 70 bytes to free: gate/up of two blocks (4 s) or one block (1.5 s)
    assert (plan.ckpt_layers, plan.mlp_recompute) == (1, 0) and plan.extra_s == 1.5 and plan.need_bytes == 305
    pricey = RecomputeCosts(**{**c.__dict__, "block_s": 30.0})
    plan = plan_from_costs(pricey, 4, 330)
    assert (plan.ckpt_layers, plan.mlp_recompute) == (0, 2)  # gate/up of two blocks instead
    assert not plan_from_costs(c, 4, 10).fits


def test_measured_costs_count_what_recompute_frees_and_change_nothing():
    model = lora_model(SMALL, layers=4, seed=3)
    fp = FastPath(model, max_tokens=100)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    rng = torch.get_rng_state()
    flags = [(b._tb_mlp_recompute, b._tb_keep_product) for b in model.model.layers]
    costs = measure_costs(fp, "cpu", torch.float32, repeats=1)
    T, I, D = 100, SMALL["intermediate_size"], SMALL["hidden_size"]
    assert costs.mlp_bytes == 2 * I * T * 4  # gate and up, fp32
    assert costs.product_bytes == I * T * 4
    assert costs.kept_bytes == D * T * 4  # a recomputed block keeps only its input
    assert costs.block_bytes > costs.mlp_bytes + costs.product_bytes
    assert costs.block_s > 0 and costs.mlp_s > 0 and costs.product_s >= 0
    assert all(p.grad is None for p in params)
    assert all(torch.equal(p, q) for p, q in zip(params, before))
    assert torch.equal(torch.get_rng_state(), rng)
    assert [(b._tb_mlp_recompute, b._tb_keep_product) for b in model.model.layers] == flags


def test_injected_clock_and_the_plan_applied():
    model = lora_model(SMALL, layers=4, seed=4)
    fp = FastPath(model, max_tokens=100)
    seconds = {"keep": 1.0, "mlp": 1.2, "product": 0.9, "block": 2.0}
    costs = measure_costs(fp, "cpu", torch.float32, repeats=1, timer=seconds.get)
    assert (costs.block_s, costs.mlp_s, costs.product_s) == pytest.approx((1.0, 0.2, 0.1))
    budget = plan_need(costs, 4, 0, 0) - 1  # one byte short of keeping everything
    k, m = fp.apply_plan(budget, costs)
    assert (k, m) == (0, 1) and fp.recompute_plan.fits and not fp.keep_product
    assert [b._tb_mlp_recompute for b in model.model.layers] == [True, False, False, False]


def test_without_a_device_clock_the_fixed_rule_decides():
    model = lora_model(SMALL, layers=4)
    fp = FastPath(model, max_tokens=1000)
    budget = 4 * fp.act_bytes_per_token() * 1000 - 2 * 2 * SMALL["intermediate_size"] * 1000
    measured = FastPath(model, 1000, memory_budget=budget, measure_costs=True)
    assert measured.recompute_plan is None
    assert (measured.ckpt_layers, measured.mlp_recompute) == fp.plan_recompute(budget) == (0, 1)


def test_a_quantized_base_keeps_the_fixed_rule():
    """Over a quantized base the projections have no plain weight to time (their kernels cost differently): the
    fixed rule decides, as it does without a device clock."""
    from quant_helpers import quantized_lora_model

    model = quantized_lora_model({**SMALL, "num_hidden_layers": 4}, "nf4")
    fp = FastPath(model, max_tokens=1000)
    budget = 4 * fp.act_bytes_per_token() * 1000 - 2 * 2 * SMALL["intermediate_size"] * 1000
    measured = FastPath(model, 1000, memory_budget=budget, measure_costs=True)
    assert measured.recompute_plan is None
    assert (measured.ckpt_layers, measured.mlp_recompute) == fp.plan_recompute(budget)
