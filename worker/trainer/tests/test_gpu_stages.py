"""GPU correctness of the preference stages on the fast path (`npm run test:gpu`; skipped without CUDA).

Both paths run in bf16 (bf16 weights, bf16 autocast, fp32 adapters); each is compared with the reference path in
fp32 on the same (bf16-rounded) weights, and the fast path (rows packed as documents, chunked log-softmax,
reference pass with the adapters zeroed) must be about as close to it as the bf16 reference path is: the DPO loss
and every adapter gradient. On a small model (every pref_loss, kto, a frozen-adapter reference, recompute,
regional compile, the dpo micro-batch as a CUDA graph, each pair's prompt once or every row on its own) and on one
Llama-3.1-8B-shaped layer with its 128k vocabulary.
"""

import contextlib
import copy

import pytest
import torch

from fast_helpers import SMALL, lora_model, rel_err
from pref_helpers import random_kto, random_pairs, shifted_adapter, step_config, step_loss
from test_gpu_fast import LLAMA8B_LAYER
from tuneboard_trainer.fast import FastPathOptions

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


DEVICE = "cuda"


def _rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).pow(2).mean().sqrt())


def _compare(shape, batch, cfg, seed=0, reference_weights=None, grad_floor=5e-2, **fast_kw):
    """bf16 reference path and bf16 fast path against the fp32 reference path. Summed log-probs of long answers
    carry bf16 noise (about 3e-4 of their size), which a DPO loss turns into beta x the margin's noise: so the
    loss may differ from fp32 by 4 x beta x the noise the bf16 reference path shows in its own log-probs, the
    per-document log-probs by 1e-3 of their size, the gradients by 5 %, or by twice the bf16 reference path's
    error where that is larger."""
    dev = torch.device(DEVICE)
    bf16 = torch.autocast(dev.type, dtype=torch.bfloat16)
    model = lora_model(shape, device=dev, dtype=torch.bfloat16, seed=seed)
    model32 = copy.deepcopy(model).float()  # the same bf16-rounded weights, computed in fp32
    with torch.autocast(dev.type, enabled=False):
        l32, m32, g32 = step_loss(model32, batch, cfg, dev, contextlib.nullcontext(), fast=False,
                                  reference_weights=reference_weights)
    del model32
    lr, mr, gr = step_loss(model, batch, cfg, dev, bf16, fast=False, reference_weights=reference_weights)
    lf, mf, gf = step_loss(model, batch, cfg, dev, bf16, fast=True, reference_weights=reference_weights, **fast_kw)
    for key in ("logps/chosen", "logps/rejected"):
        size = float(m32[key].float().norm())
        e_ref, e_fast = float((mr[key].float() - m32[key].float()).norm()), float((mf[key].float() - m32[key].float()).norm())
        assert e_fast <= max(2 * e_ref, 1e-3 * size), (key, mf[key], mr[key], m32[key])
    noise = max(_rms(mr[k], m32[k]) for k in ("logps/chosen", "logps/rejected"))
    assert abs(lf - l32) <= max(2 * abs(lr - l32), 4 * cfg.pref_beta * noise, 2e-3), (lf, lr, l32, noise)
    assert set(gf) == set(g32)
    worst = []
    for k in g32:
        e_ref, e_fast = rel_err(gr[k], g32[k]), rel_err(gf[k], g32[k])
        worst.append((e_fast, e_ref, k))
        assert torch.isfinite(gf[k]).all(), k
        assert e_fast <= max(2 * e_ref, grad_floor), (k, e_fast, e_ref)
    print(f"\nloss fp32 {l32:.6f} ref-bf16 {lr:.6f} fast {lf:.6f} (log-prob noise {noise:.4f}); "
          f"worst grad rel err fast/ref {max(worst)}")


def small_pairs(seed=1):
    return random_pairs([40, 7, 90], [(60, 25), (130, 200), (33, 64)], SMALL["vocab_size"], seed=seed)


@pytest.mark.parametrize("ckpt", [0, 1])
def test_dpo_on_a_small_model_matches_the_reference_path(ckpt):
    _compare(SMALL, small_pairs(), step_config(), ckpt_layers=ckpt)


@pytest.mark.parametrize("pref_loss, ftx", [("hinge", 0.0), ("ipo", 0.0), ("orpo", 0.1), ("simpo", 0.0),
                                            ("sigmoid", 0.5)])
def test_every_pref_loss_matches_the_reference_path(pref_loss, ftx):
    _compare(SMALL, small_pairs(seed=2), step_config(pref_loss=pref_loss, pref_ftx=ftx))


def test_dpo_with_regional_compile_matches_the_reference_path():
    _compare(SMALL, small_pairs(seed=3), step_config(), compile=True)


@pytest.mark.parametrize("pref_loss", ["sigmoid", "simpo"])
@pytest.mark.parametrize("compile", [False, True])
def test_dpo_through_cuda_graphs_matches_the_reference_path(pref_loss, compile):
    """fast/pair_graph.PairGraphs: reference pass, policy pass, loss and backward recorded once, then replayed."""
    _compare(SMALL, small_pairs(seed=7), step_config(pref_loss=pref_loss), graphs=torch.bfloat16, compile=compile)


def test_dpo_through_cuda_graphs_without_shared_prompts_matches_the_reference_path():
    """FastPathOptions.shared_prompt off: every row its own document, its prompt computed in both rows."""
    _compare(SMALL, small_pairs(seed=10), step_config(), graphs=torch.bfloat16,
             options=FastPathOptions(shared_prompt=False))


def test_dpo_through_cuda_graphs_with_a_frozen_sft_adapter_reference_matches_the_reference_path():
    model = lora_model(SMALL)
    _compare(SMALL, small_pairs(seed=8), step_config(), reference_weights=shifted_adapter(model),
             graphs=torch.bfloat16)


def test_dpo_through_cuda_graphs_on_a_llama_8b_layer_matches_the_reference_path():
    batch = random_pairs([128, 128], [(384, 384), (384, 300)], LLAMA8B_LAYER["vocab_size"], seed=9)
    _compare(LLAMA8B_LAYER, batch, step_config(), graphs=torch.bfloat16)


def test_a_frozen_sft_adapter_reference_matches_the_reference_path():
    model = lora_model(SMALL)
    _compare(SMALL, small_pairs(seed=4), step_config(), reference_weights=shifted_adapter(model))


def test_kto_matches_the_reference_path():
    batch = random_kto([12, 50, 7, 90], [40, 120, 33, 64], SMALL["vocab_size"], seed=5)
    _compare(SMALL, batch, step_config(stage="kto"))


def test_dpo_on_a_llama_8b_layer_matches_the_reference_path():
    """One Llama-3.1-8B-shaped block with the 128,256-token vocabulary: 2 pairs of 512-token rows, as the
    benchmark's step."""
    batch = random_pairs([128, 128], [(384, 384), (384, 300)], LLAMA8B_LAYER["vocab_size"], seed=6)
    _compare(LLAMA8B_LAYER, batch, step_config())


def test_a_dpo_run_on_cuda_replays_its_micro_batches_as_cuda_graphs(tmp_path, tiny_model_dir):
    """The real trainer on CUDA: a dpo run takes the fast path with PairGraphs by default, and its losses and
    margins are the reference path's within bf16 noise."""
    from test_stages_train import cfg, log_lines, run, stage_data_dir

    data = stage_data_dir(tmp_path / "data")
    kw = dict(stage="dpo", dataset=["identity_pref"], max_samples=8, max_steps=4, device="cuda", lora_dropout=0.0,
              learning_rate=5e-3)
    run(cfg(tmp_path, tiny_model_dir, data, "ref", fast_path="off", **kw))
    _, events = run(cfg(tmp_path, tiny_model_dir, data, "fast", **kw))
    logs = [e.message for e in events if e.type == "log"]
    assert any(m.startswith("CUDA graphs: one replay per packed pair micro-batch") for m in logs), logs
    recorded = [m for m in logs if m.startswith("CUDA graphs: ") and "recorded" in m]
    assert recorded and "turned off" not in recorded[0] and not recorded[0].startswith("CUDA graphs: 0 "), logs
    ref, fast = log_lines(tmp_path / "ref"), log_lines(tmp_path / "fast")
    assert len(ref) == len(fast) == 4
    from tuneboard_trainer.config import TrainConfig

    beta = TrainConfig.__dataclass_fields__["pref_beta"].default  # the run's pref_beta
    for r, f in zip(ref, fast):
        # bf16 summed log-probs carry about 3e-4 of their size in noise (the module docstring), and the reference
        # and policy passes round differently (no-grad and grad kernels): a margin may differ by beta x 4 x that
        # even at step 1, where policy and reference are one model.
        noise = 3e-4 * (abs(r["logps/chosen"]) + abs(r["logps/rejected"]))
        assert abs(f["loss"] - r["loss"]) <= 2e-2 * abs(r["loss"]) + 5e-3, (f, r)
        assert abs(f["rewards/margins"] - r["rewards/margins"]) <= 5e-2 * abs(r["rewards/margins"]) + 4 * beta * noise, (f, r)


def test_shared_prompt_flash_function_matches_the_gather_attention_pick_chain():
    """_SharedPromptFlash (saves the unique q/k/v and the output, rebuilds the expanded output in backward)
    against gather -> varlen attention -> pick under autograd; padding tokens picking a real token's slot (as a
    CUDA-graph layout without expanded padding does) with a zero gradient leave the real gradients alone."""
    from tuneboard_trainer.fast.attention import _SharedPromptFlash, attention
    from tuneboard_trainer.fast.shared_prompt import pack_pairs

    batch = random_pairs([40, 7, 90], [(60, 25), (130, 200), (33, 64)], 1000, seed=12)
    mb = pack_pairs(batch["input_ids"], batch["labels"], batch["attention_mask"])
    dev = torch.device(DEVICE)
    n, pad = mb["input_ids"].shape[1], 5
    expand = mb["expand"].to(dev)
    pick = torch.cat([mb["pick"], torch.zeros(pad, dtype=torch.long)]).to(dev)  # padding picks slot 0
    cu, L = mb["cu_seqlens"].to(dev), mb["max_len"]
    g = torch.Generator(device=dev).manual_seed(0)
    q, k, v = (torch.randn(n + pad, h, 64, generator=g, device=dev, dtype=torch.bfloat16) for h in (8, 2, 2))
    up = torch.randn(n + pad, 8, 64, generator=g, device=dev, dtype=torch.bfloat16)
    up[n:] = 0
    outs = []
    for fn in (lambda a, b, c: _SharedPromptFlash.apply(a, b, c, expand, pick, cu, L),
               lambda a, b, c: attention(a.index_select(0, expand), b.index_select(0, expand),
                                         c.index_select(0, expand), cu, L, dense=False).index_select(0, pick)):
        leaves = [t.detach().clone().requires_grad_(True) for t in (q, k, v)]
        y = fn(*leaves)
        (y.float() * up.float()).sum().backward()
        outs.append((y.detach(), [t.grad for t in leaves]))
    (y_f, g_f), (y_c, g_c) = outs
    assert torch.equal(y_f, y_c)
    for a, b in zip(g_f, g_c):
        assert torch.isfinite(a).all() and rel_err(a.float(), b.float()) < 1e-2
