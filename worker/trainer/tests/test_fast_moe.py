"""The fast path on mixture-of-experts models (fast/moe.py), on the CPU in fp32: the packed, grouped path gives the
reference path's (moe.py, one expert after another) loss, adapter gradients and auxiliary load-balancing loss;
torch._grouped_mm gives what the per-expert loop gives; the trainer takes the fast path for a MoE when asked."""

import copy

import pytest
import torch

from fast_helpers import examples, fast_loss, padded_window, reference_loss, rel_err
from moe_helpers import SMALL_MIXTRAL, SMALL_QWEN3_MOE, random_moe
from tuneboard_trainer.fast import FastPath
from tuneboard_trainer.fast import moe as fast_moe
from tuneboard_trainer.loss import lm_loss
from tuneboard_trainer.train import forward_batch

CPU = torch.device("cpu")
FP32 = torch.autocast("cpu", enabled=False)
LENGTHS = [37, 120, 64, 5, 90, 50]


def _assert_same(ref, fast, tol=1e-5):
    (lr, nr, gr), (lf, nf, gf) = ref, fast
    assert nf == nr and abs(lf - lr) <= tol * abs(lr), (lf, lr)
    assert set(gf) == set(gr) and gr
    for k in gr:
        assert rel_err(gf[k], gr[k]) <= 1e-4, (k, rel_err(gf[k], gr[k]))


@pytest.mark.parametrize("shape", [SMALL_QWEN3_MOE, SMALL_MIXTRAL], ids=["qwen3_moe", "mixtral"])
@pytest.mark.parametrize("ckpt", [0, 1])
def test_fast_path_loss_and_adapter_gradients_equal_the_reference_path(shape, ckpt):
    model = random_moe(shape, seed=1)
    fast_model = copy.deepcopy(model)
    window = padded_window(examples(LENGTHS, shape["vocab_size"], seed=2))
    assert FastPath.supported(fast_model) == (True, "")
    ref = reference_loss(model, window, CPU, FP32)
    fast = fast_loss(fast_model, window, CPU, FP32, ckpt_layers=ckpt, max_tokens=200)
    _assert_same(ref, fast)
    experts = [k for k in ref[2] if ".experts." in k]
    # Qwen3-MoE: LoRA on every expert's gate/up/down (as peft on its per-expert linears); Mixtral's w1/w3/w2
    # are no LoRA target
    assert len(experts) == (2 * 3 * 2 * 8 if shape is SMALL_QWEN3_MOE else 0)


def test_aux_loss_on_the_fast_path_equals_the_reference_path():
    """moe_aux_loss_coef: loss + coef * labelled tokens * aux loss, over the same samples (one micro-batch), with
    the aux loss's gradient (through the router into the attention adapters)."""
    coef = 0.37
    model = random_moe(SMALL_QWEN3_MOE, seed=3)
    fast_model = copy.deepcopy(model)
    (batch,) = padded_window(examples([40, 70], SMALL_QWEN3_MOE["vocab_size"], seed=4))
    loss, n = lm_loss(model, forward_batch(model, batch, CPU), batch["labels"])
    aux = model.aux_loss(batch["attention_mask"])
    (loss + coef * n * aux).backward()
    ref_grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

    fp = FastPath(fast_model, max_tokens=4096, ckpt_layers=1)
    fp.aux_coef = coef
    (mb,) = fp.pack([batch])
    fast, n_fast = fp.loss(mb, CPU)
    fast.backward()
    assert n_fast == n
    torch.testing.assert_close(fp.aux, aux.detach(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(fast.detach(), (loss + coef * n * aux).detach(), atol=1e-4, rtol=1e-5)
    grads = {k: p.grad for k, p in fast_model.named_parameters() if p.grad is not None}
    assert set(grads) == set(ref_grads)
    for k in ref_grads:
        assert rel_err(grads[k], ref_grads[k]) <= 1e-4, k


def test_grouped_gemm_equals_the_per_expert_loop(monkeypatch):
    """torch._grouped_mm (what CUDA bf16 on Hopper uses; this torch also runs it on the CPU in bf16) gives the
    per-expert loop's loss and gradients on the same bf16 model."""
    if not hasattr(torch, "_grouped_mm"):
        pytest.skip("this torch has no torch._grouped_mm")
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    model = random_moe(SMALL_QWEN3_MOE, dtype=torch.bfloat16, seed=5)
    grouped_model = copy.deepcopy(model)
    window = padded_window(examples(LENGTHS, SMALL_QWEN3_MOE["vocab_size"], seed=6))
    looped = fast_loss(model, window, CPU, bf16)
    calls = []
    real = torch._grouped_mm
    monkeypatch.setattr(fast_moe, "grouped_ok", lambda x, *dims: x.dtype == torch.bfloat16)
    monkeypatch.setattr(torch, "_grouped_mm", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setitem(fast_moe.GROUPED, "disabled", None)
    grouped = fast_loss(grouped_model, window, CPU, bf16)
    if fast_moe.GROUPED["disabled"]:  # a torch whose CPU build lacks the bf16 kernel: the loop ran instead
        pytest.skip(f"torch._grouped_mm on the CPU: {fast_moe.GROUPED['disabled']}")
    assert calls  # 2 sparse layers x 6 grouped GEMMs per micro-batch
    assert abs(grouped[0] - looped[0]) <= 1e-3 * abs(looped[0])
    for k in looped[2]:
        assert rel_err(grouped[2][k], looped[2][k]) <= 1e-2, k


def test_expert_gradients_accumulate_and_reach_each_expert_parameter():
    """Two micro-batches' gradients add up in the per-expert parameters (views of the stacked gradient), the
    optimizer's in-place update reaches the stacked weights the next forward reads, and zero_grad(set_to_none)
    starts over."""
    model = random_moe(SMALL_QWEN3_MOE, seed=7)
    ref_model = copy.deepcopy(model)
    wa = padded_window(examples([30, 44], SMALL_QWEN3_MOE["vocab_size"], seed=8))
    wb = padded_window(examples([51, 12], SMALL_QWEN3_MOE["vocab_size"], seed=9))
    fp = FastPath(model, max_tokens=4096)

    def both(window, zero):
        if zero:
            model.zero_grad(set_to_none=True)
            ref_model.zero_grad(set_to_none=True)
        for b in window:
            loss, _ = lm_loss(ref_model, forward_batch(ref_model, b, CPU), b["labels"])
            loss.backward()
        for mb in fp.pack(window):
            loss, _ = fp.loss(mb, CPU)
            loss.backward()
    both(wa, zero=True)
    both(wb, zero=False)  # accumulated
    for (k, p), (_, q) in zip(model.named_parameters(), ref_model.named_parameters()):
        if q.grad is not None:
            assert rel_err(p.grad, q.grad) <= 1e-4, k
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    ref_opt = torch.optim.SGD([p for p in ref_model.parameters() if p.requires_grad], lr=0.5)
    opt.step()
    ref_opt.step()
    both(wb, zero=True)
    for (k, p), (_, q) in zip(model.named_parameters(), ref_model.named_parameters()):
        if q.grad is not None:
            assert rel_err(p.grad, q.grad) <= 1e-4, k


def test_experts_with_dropout_stay_on_the_reference_path():
    from tuneboard_trainer.lora import apply_lora

    model = random_moe(SMALL_QWEN3_MOE, lora=False)
    apply_lora(model, "all", r=8, alpha=16, dropout=0.1)
    ok, why = FastPath.supported(model)
    assert not ok and why.startswith("Qwen3MoeForCausalLM with DoRA or dropout on the experts")


def test_trainer_takes_the_fast_path_for_a_moe_and_follows_the_reference_path(tmp_path, tokenizer_dir, dataset_dir):
    from test_families import family_model_dir
    from test_train import make_cfg, run_events

    model_dir = family_model_dir(tmp_path, "qwen3_moe", tokenizer_dir)
    kw = dict(max_steps=3, save_steps=0, template="llama3", moe_aux_loss_coef=0.5, gradient_checkpointing=False)
    ref, _ = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "ref", fast_path="off", **kw))
    fast, events = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "fast", fast_path="on", **kw))
    assert any(e.type == "log" and e.message.startswith("fast path: packed") for e in events)
    assert fast["losses"] == pytest.approx(ref["losses"], rel=1e-4)
