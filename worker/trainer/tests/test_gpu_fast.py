"""GPU correctness of the fast path (`npm run test:gpu`; skipped without CUDA).

Both paths run in bf16 (bf16 weights, bf16 autocast, fp32 adapters); each is compared with the reference path
in fp32 on the same (bf16-rounded) weights, and the fast path must be about as close to it as the bf16 reference
path is: loss and every adapter gradient. Also: packed (varlen) per-sample losses equal unpacked ones.
"""

import copy

import pytest
import torch

from fast_helpers import SMALL, examples, fast_loss, graph_loss, lora_model, padded_window, reference_loss, rel_err
from tuneboard_trainer.fast import FastPath
from tuneboard_trainer.loss import lm_loss
from tuneboard_trainer.train import forward_batch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

LLAMA8B_LAYER = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=1,
                     num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0,
                     rope_scaling=SMALL["rope_scaling"])


def _compare(shape, lengths, seed, graphs=False, **fast_kw):
    dev = torch.device("cuda")
    bf16 = torch.autocast("cuda", dtype=torch.bfloat16)
    model = lora_model(shape, device=dev, dtype=torch.bfloat16, seed=seed)
    model32 = copy.deepcopy(model).float()  # the same bf16-rounded weights, computed in fp32
    window = padded_window(examples(lengths, shape["vocab_size"], seed=seed))
    with torch.autocast("cuda", enabled=False):
        l32, n32, g32 = reference_loss(model32, window, dev, torch.autocast("cuda", enabled=False))
    lr, nr, gr = reference_loss(model, window, dev, bf16)
    if graphs:  # fast.graph.StepGraphs: the same step recorded once as a CUDA graph, then replayed
        lf, nf, gf, sg = graph_loss(model, window, dev, torch.bfloat16, **fast_kw)
        assert sg.disabled is None and sg.captures >= 1, sg.disabled
    else:
        lf, nf, gf = fast_loss(model, window, dev, bf16, **fast_kw)
    assert nf == nr == n32
    err_ref_loss, err_fast_loss = abs(lr - l32) / l32, abs(lf - l32) / l32
    assert err_fast_loss <= max(2 * err_ref_loss, 2e-3), (lf, lr, l32)
    worst = []
    for k in g32:
        e_ref, e_fast = rel_err(gr[k], g32[k]), rel_err(gf[k], g32[k])
        worst.append((e_fast, e_ref, k))
        assert torch.isfinite(gf[k]).all(), k
        assert e_fast <= max(2 * e_ref, 2e-2), (k, e_fast, e_ref)
    print(f"\nloss fp32 {l32:.6f} ref-bf16 {lr:.6f} fast {lf:.6f}; worst grad rel err fast/ref {max(worst)}")


def test_flash_varlen_matches_per_sample_sdpa():
    """_FlashVarlen (aten's FlashAttention-2 varlen kernels, grouped K/V as they are) against SDPA per sample:
    outputs and q/k/v gradients, 32 query heads over 8 K/V heads as Llama-3 8B."""
    from tuneboard_trainer.fast import _FlashVarlen

    torch.manual_seed(0)
    lens = [5, 300, 128, 1, 700]
    cu = torch.tensor([0] + list(torch.tensor(lens).cumsum(0)), dtype=torch.int32, device="cuda")
    N, H, KV, hd = sum(lens), 32, 8, 128
    q, k, v = (torch.randn(N, h, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True) for h in (H, KV, KV))
    g = torch.randn(N, H, hd, device="cuda", dtype=torch.bfloat16)
    out = _FlashVarlen.apply(q, k, v, cu, max(lens))
    grads = torch.autograd.grad(out, (q, k, v), g)
    ref_out = torch.empty_like(out, dtype=torch.float32)
    qf, kf, vf = (t.detach().float().requires_grad_(True) for t in (q, k, v))
    b = cu.tolist()
    for s, e in zip(b, b[1:]):
        ys = torch.nn.functional.scaled_dot_product_attention(
            qf[s:e].transpose(0, 1)[None], kf[s:e].transpose(0, 1)[None], vf[s:e].transpose(0, 1)[None],
            is_causal=True, enable_gqa=True)  # (1, H, L, hd)
        ref_out[s:e] = ys[0].transpose(0, 1)
    ref_grads = torch.autograd.grad(ref_out, (qf, kf, vf), g.float())
    assert rel_err(out.float(), ref_out) < 2e-2
    for a, r in zip(grads, ref_grads):
        assert rel_err(a.float(), r) < 3e-2


@pytest.mark.parametrize("ckpt", [0, 1])
def test_small_model_matches_reference(ckpt):
    _compare(SMALL, [37, 120, 64, 5, 230, 50, 511, 2], seed=1, ckpt_layers=ckpt, max_tokens=700)


def test_small_model_equal_lengths_matches_reference():
    """Equal-length samples (2 x 256 per micro-batch): the batched cuDNN attention path inside the model."""
    _compare(SMALL, [256, 256, 256, 256], seed=2, ckpt_layers=0, max_tokens=512)


def test_one_llama8b_layer_matches_reference():
    _compare(LLAMA8B_LAYER, [300, 1000, 700, 48, 513, 96], seed=2)


def test_compiled_small_model_matches_reference():
    _compare(SMALL, [37, 120, 64, 5, 230, 50], seed=3, compile=True)


@pytest.mark.parametrize("ckpt", [0, 1])
def test_cuda_graphs_small_model_match_reference(ckpt):
    _compare(SMALL, [37, 120, 64, 5, 230, 50, 511, 2], seed=1, ckpt_layers=ckpt, max_tokens=700, graphs=True)


def test_cuda_graphs_one_llama8b_layer_match_reference():
    _compare(LLAMA8B_LAYER, [300, 1000, 700, 48, 513, 96], seed=2, graphs=True)


def test_cuda_graphs_compiled_small_model_match_reference():
    _compare(SMALL, [37, 120, 64, 5, 230, 50], seed=3, compile=True, graphs=True)


def test_cuda_graph_replays_new_data_in_the_same_buffers():
    """A second window with the same shapes replays the recorded graph on new tokens: its loss and gradients
    are that window's (eager fast path), not the first one's."""
    dev = torch.device("cuda")
    bf16 = torch.autocast("cuda", dtype=torch.bfloat16)
    model = lora_model(SMALL, device=dev, dtype=torch.bfloat16, seed=6)
    lengths = [90, 33, 200, 61]
    wa = padded_window(examples(lengths, SMALL["vocab_size"], seed=7))
    wb = padded_window(examples(lengths, SMALL["vocab_size"], seed=8))
    la, _, _, sg = graph_loss(model, wa, dev, torch.bfloat16)
    captured = sg.captures
    lb, nb, gb, sg = graph_loss(model, wb, dev, torch.bfloat16, sg=sg)
    assert sg.captures == captured and sg.disabled is None  # replayed, not recorded again
    ref_l, ref_n, ref_g = fast_loss(model, wb, dev, bf16)
    assert nb == ref_n and abs(lb - ref_l) <= 2e-3 * abs(ref_l) and abs(lb - la) > 1e-3
    for k in ref_g:
        assert rel_err(gb[k], ref_g[k]) <= 2e-2, k


def test_packed_per_sample_losses_match_unpacked():
    dev = torch.device("cuda")
    bf16 = torch.autocast("cuda", dtype=torch.bfloat16)
    model = lora_model(SMALL, device=dev, dtype=torch.bfloat16, seed=4)
    exs = examples([17, 400, 8, 290, 1024, 3], SMALL["vocab_size"], seed=5)
    fp = FastPath(model, max_tokens=10_000)
    with torch.no_grad(), bf16:
        (mb,) = fp.pack(padded_window(exs))
        h = fp.hidden(mb, dev)
        y = mb["targets"].to(dev)
        cu = mb["cu_seqlens"].tolist()
        for e, s, t in zip(exs, cu, cu[1:]):
            keep = y[s:t] != -100
            packed = torch.nn.functional.cross_entropy((h[s:t][keep] @ model.lm_head.weight.T).float(),
                                                       y[s:t][keep], reduction="sum")
            b = padded_window([e], batch=1)[0]
            alone, _ = lm_loss(model, forward_batch(model, b, dev), b["labels"].to(dev))
            assert abs(float(packed) - float(alone)) <= 1e-2 * abs(float(alone)), (len(e.input_ids), packed, alone)


def test_train_loop_on_cuda_uses_fast_path_and_reports_gpu_memory(tmp_path, tiny_model_dir, dataset_dir):
    """The real trainer on CUDA: fast path on by default, step events carry gpu_mem_gib, and the losses follow
    the reference path (fast_path off) within bf16 noise."""
    from test_train import make_cfg, run_events

    kw = dict(gradient_accumulation_steps=2, max_steps=3, save_steps=0, learning_rate=1e-3, device="cuda")
    ref, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "ref", fast_path="off", **kw))
    fast, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "fast", **kw))
    assert any(e.type == "log" and e.message.startswith("fast path:") for e in events)
    recorded = [e.message for e in events if e.type == "log" and e.message.startswith("CUDA graphs: ")]
    assert recorded and "recorded" in recorded[-1] and "turned off" not in recorded[-1], recorded
    steps = [e for e in events if e.type == "step"]
    assert steps and all(s.gpu_mem_gib is not None and s.gpu_mem_gib > 0 for s in steps)
    for a, b in zip(fast["losses"], ref["losses"]):
        assert abs(a - b) <= 2e-2 * abs(b)


def test_dense_attention_matches_flash_varlen():
    """Micro-batches of equal-length sequences go to batched SDPA (cuDNN attention): the same outputs and q/k/v
    gradients as the varlen FlashAttention kernels, 32 query heads over 8 K/V heads as Llama-3 8B."""
    from tuneboard_trainer.fast import _FlashVarlen, attention, dense_ok

    torch.manual_seed(1)
    L, S, H, KV, hd = 512, 3, 32, 8, 128
    N = L * S
    cu = torch.arange(0, N + 1, L, dtype=torch.int32, device="cuda")
    assert dense_ok(N, S, L) and not dense_ok(N - 1, S, L)
    q, k, v = (torch.randn(N, h, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True) for h in (H, KV, KV))
    g = torch.randn(N, H, hd, device="cuda", dtype=torch.bfloat16)
    out = attention(q, k, v, cu, L)
    grads = torch.autograd.grad(out, (q, k, v), g)
    ref = _FlashVarlen.apply(q, k, v, cu, L)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g)
    assert rel_err(out.float(), ref.float()) < 1e-2
    for a, r in zip(grads, ref_grads):
        assert rel_err(a.float(), r.float()) < 2e-2
