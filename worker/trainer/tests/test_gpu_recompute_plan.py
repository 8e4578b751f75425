"""The measured recompute planner on a GPU (skipped without CUDA): the costs measured on Llama-3.1-8B-shaped
blocks count the bytes that recompute frees, and a step run with the plan stays within its budget."""

import pytest
import torch

from fast_helpers import SMALL, examples, lora_model, padded_window
from tuneboard_trainer.fast import FastPath
from tuneboard_trainer.fast.memory import transient_bytes
from tuneboard_trainer.fast.recompute_costs import measure_costs

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

LLAMA8B_BLOCKS = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=4,
                      num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0,
                      rope_scaling=SMALL["rope_scaling"])
T = 2048


def _model():
    return lora_model(LLAMA8B_BLOCKS, device=torch.device("cuda"), dtype=torch.bfloat16, seed=0)


def test_measured_costs_on_8b_blocks():
    model = _model()
    fp = FastPath(model, max_tokens=T)
    rng = torch.cuda.get_rng_state()
    costs = measure_costs(fp, torch.device("cuda"), torch.bfloat16)
    I, D = LLAMA8B_BLOCKS["intermediate_size"], LLAMA8B_BLOCKS["hidden_size"]
    print(f"\n{costs}")
    assert costs.mlp_bytes == pytest.approx(4 * I * T, rel=0.1)  # gate and up, bf16
    assert costs.product_bytes == pytest.approx(2 * I * T, rel=0.1)
    assert costs.kept_bytes == pytest.approx(2 * D * T, rel=0.1)
    assert costs.block_bytes > costs.mlp_bytes + costs.kept_bytes
    assert costs.block_s > costs.mlp_s > 1e-6  # a block's forward costs more than its gate/up GEMM
    assert torch.equal(torch.cuda.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("share", [1.0, 0.7, 0.4])
def test_a_planned_step_stays_within_its_budget(share):
    model = _model()
    dev = torch.device("cuda")
    fp = FastPath(model, max_tokens=T)
    costs = measure_costs(fp, dev, torch.bfloat16)
    layers = LLAMA8B_BLOCKS["num_hidden_layers"]
    budget = int(share * layers * (costs.block_bytes + costs.product_bytes))
    fp.apply_plan(budget, costs)
    plan = fp.recompute_plan
    print(f"\nbudget {budget / 2**20:.0f} MiB: {plan}")
    assert plan.fits and plan.need_bytes <= budget
    (mb,) = fp.pack(padded_window(examples([T // 2, T // 2], LLAMA8B_BLOCKS["vocab_size"], seed=1)))
    params = [p for p in model.parameters() if p.requires_grad]
    grads = sum(p.numel() * 4 for p in params)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, _ = fp.loss(mb, dev)
    loss.backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    allowed = plan.need_bytes + transient_bytes(model, T) + grads + 256 * 2**20
    print(f"peak {peak / 2**20:.0f} MiB, allowed {allowed / 2**20:.0f} MiB")
    assert peak <= allowed
