"""Gemma 2 / 3 on the fast path (fast/gemma.py), checked on the CPU in fp32: packed loss and adapter gradients
equal the reference path's (gemma.py) and transformers' loss, with sequences longer than the sliding window,
soft-capped scores and logits, every recompute mode; the trainer takes the fast path for Gemma."""

import contextlib

import pytest
import torch

transformers = pytest.importorskip("transformers")

from fast_helpers import examples, fast_loss, graph_loss, padded_window, reference_loss, rel_err  # noqa: E402
from hf_tiny import make_hf  # noqa: E402
from tuneboard_trainer.fast import FastPath  # noqa: E402
from tuneboard_trainer.fast.gemma import GemmaFastPath  # noqa: E402
from tuneboard_trainer.fast.softcap_attention import softcap_attention  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402
from tuneboard_trainer.lora import apply_lora  # noqa: E402
from tuneboard_trainer.templates import IGNORE_INDEX  # noqa: E402

CPU = torch.device("cpu")
NOCAST = contextlib.nullcontext()
# Longer than hf_tiny's sliding window (5) and chunked by softcap_attention's CHUNK_SCORES below.
LENGTHS = [37, 12, 23, 9, 30]


def gemma_lora(tmp_path, arch: str, random_b: bool = True):
    hf = make_hf(arch)
    hf.save_pretrained(tmp_path / arch)
    model = load_pretrained(tmp_path / arch)
    apply_lora(model, "all", r=8, alpha=16)
    g = torch.Generator().manual_seed(3)
    for name, p in model.named_parameters():
        if p.requires_grad and "lora_B" in name and random_b:
            p.data = torch.randn(p.shape, generator=g) * 0.2  # B = 0 would make every A gradient zero
    return hf, model.train()


@pytest.mark.parametrize("arch", ["gemma2", "gemma3"])
@pytest.mark.parametrize("ckpt,mlp,keep", [(0, 0, False), (0, 0, True), (1, 0, False), (0, 3, False)])
def test_fast_gemma_matches_reference_loss_and_grads(tmp_path, arch, ckpt, mlp, keep):
    _, model = gemma_lora(tmp_path, arch)
    window = padded_window(examples(LENGTHS, model.config.vocab_size, seed=1))
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    fp = FastPath(model, 60, ckpt_layers=ckpt, mlp_recompute=mlp)
    assert isinstance(fp, GemmaFastPath)
    fp.set_keep_product(keep)
    l, n, g = fast_loss(model, window, CPU, NOCAST, ckpt_layers=ckpt, mlp_recompute=mlp, max_tokens=60)
    assert n == ref_n
    assert abs(l - ref_l) < 1e-5 * abs(ref_l)
    assert set(g) == set(ref_g) and len(g) == 2 * 7 * model.config.num_hidden_layers
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


@pytest.mark.parametrize("arch", ["gemma2", "gemma3"])
def test_fast_gemma_loss_is_transformers_loss(tmp_path, arch):
    """With fresh adapters (B = 0) the fast path's loss is transformers' (eager attention: the soft-capping one)."""
    hf, model = gemma_lora(tmp_path, arch, random_b=False)
    exs = examples(LENGTHS, model.config.vocab_size, seed=2)
    l, n, _ = fast_loss(model, padded_window(exs), CPU, NOCAST, max_tokens=4096)
    total, count = 0.0, 0
    with torch.no_grad():
        for e in exs:
            labels = torch.tensor([e.labels])
            k = int((labels[:, 1:] != IGNORE_INDEX).sum())
            total += float(hf(input_ids=torch.tensor([e.input_ids]), labels=labels).loss) * k
            count += k
    assert n == count
    assert abs(l - total / count) < 1e-5 * abs(l)


@pytest.mark.parametrize("cap,window", [(0.5, None), (0.5, 5), (None, 4), (50.0, 7)])
def test_softcap_attention_matches_masked_softmax(cap, window, monkeypatch):
    """Chunked, grouped attention (several chunks a sequence) = dense masked attention, forward and gradients."""
    import tuneboard_trainer.fast.softcap_attention as sa

    monkeypatch.setattr(sa, "CHUNK_SCORES", 4 * 7 * 11)  # chunks of a few queries
    torch.manual_seed(0)
    bounds = [0, 11, 14, 30]
    q = torch.randn(30, 4, 8, requires_grad=True)
    k = torch.randn(30, 2, 8, requires_grad=True)
    v = torch.randn(30, 2, 8, requires_grad=True)
    out = softcap_attention(q, k, v, bounds, 0.3, cap, window)
    g = torch.randn_like(out)
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), g)
    refs = []
    for s, e in zip(bounds, bounds[1:]):
        qs, ks, vs = q[s:e].transpose(0, 1), k[s:e].transpose(0, 1), v[s:e].transpose(0, 1)
        ks, vs = ks.repeat_interleave(2, 0), vs.repeat_interleave(2, 0)  # (H, L, hd)
        sc = qs @ ks.transpose(1, 2) * 0.3
        if cap is not None:
            sc = torch.tanh(sc / cap) * cap
        i = torch.arange(e - s)
        ok = i[None, :] <= i[:, None]
        if window is not None:
            ok &= i[:, None] - i[None, :] < window
        refs.append((sc.masked_fill(~ok, float("-inf")).softmax(-1) @ vs).transpose(0, 1))
    ref = torch.cat(refs)
    rq, rk, rv = torch.autograd.grad(ref, (q, k, v), g)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    for a, b in ((dq, rq), (dk, rk), (dv, rv)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cap,window", [(0.5, None), (None, 4), (50.0, 7)])
@pytest.mark.parametrize("chunk_scores", [4 * 7 * 11, 1 << 26])
@pytest.mark.parametrize("longest", [16, 32])
def test_softcap_attention_on_device_equals_per_sequence(cap, window, chunk_scores, longest, monkeypatch):
    """The CUDA-graph form (sequence ids on the device, chunks over all tokens bounded by the longest-sequence
    bucket) gives softcap_attention's output and gradients; zero-length sequences (a graph's unused offsets)
    own no token."""
    import tuneboard_trainer.fast.softcap_attention as sa

    monkeypatch.setattr(sa, "CHUNK_SCORES", chunk_scores)
    torch.manual_seed(1)
    bounds = [0, 11, 14, 30, 32]
    cu = torch.tensor(bounds + [32, 32, 32], dtype=torch.int32)
    seq = sa.sequence_ids(cu, 32)
    assert seq.tolist() == [0] * 11 + [1] * 3 + [2] * 16 + [3] * 2
    q = torch.randn(32, 4, 8, requires_grad=True)
    k = torch.randn(32, 2, 8, requires_grad=True)
    v = torch.randn(32, 2, 8, requires_grad=True)
    ref = softcap_attention(q, k, v, bounds, 0.3, cap, window)
    out = sa.softcap_attention_on_device(q, k, v, seq, longest, 0.3, cap, window)
    g = torch.randn_like(out)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(out, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["gemma2", "gemma3"])
def test_cuda_graph_layout_of_gemma_matches_the_fast_path(tmp_path, arch):
    """What a CUDA graph records for Gemma (graph.StepGraphs' static buffers: padded tokens, zero-length
    sequences, offsets only on the device, the soft-capped loss over weighted rows) computes the eager fast
    path's loss and adapter gradients; run here on the CPU without the graph."""
    _, model = gemma_lora(tmp_path, arch)
    window = padded_window(examples(LENGTHS, model.config.vocab_size, seed=4))
    ref_l, ref_n, ref_g = fast_loss(model, window, CPU, NOCAST, max_tokens=60)
    l, n, g, sg = graph_loss(model, window, CPU, torch.float32, max_tokens=60)
    assert isinstance(sg.fast, GemmaFastPath)
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    assert set(g) == set(ref_g)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


def test_gemma_supported_and_refusals(tmp_path):
    _, model = gemma_lora(tmp_path, "gemma2")
    assert FastPath.supported(model) == (True, "")
    plain = load_pretrained(tmp_path / "gemma2")
    assert "no LoRA" in FastPath.supported(plain)[1]
    assert "DoRA" in FastPath.supported(apply_lora(load_pretrained(tmp_path / "gemma2"), use_dora=True))[1]
    from tuneboard_trainer.quant.linear import quantized_linear
    from tuneboard_trainer.quant.load import _projection_paths

    quantized = load_pretrained(tmp_path / "gemma2")
    for parent, name, _ in _projection_paths(quantized):
        lin = getattr(parent, name)
        setattr(parent, name, quantized_linear(lin.weight.data, lin.bias, "int8"))
    assert "quantized" in FastPath.supported(apply_lora(quantized, "all"))[1]


def test_trainer_takes_the_fast_path_for_gemma2(tmp_path, tokenizer_dir, dataset_dir):
    from test_families import family_model_dir
    from test_train import make_cfg, run_events

    model_dir = family_model_dir(tmp_path, "gemma2", tokenizer_dir)
    kw = dict(max_steps=3, save_steps=0, lora_dropout=0.0, gradient_accumulation_steps=2, template="llama3")
    ref, _ = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "ref", fast_path="off", **kw))
    fast, events = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "fast", fast_path="on", **kw))
    assert any(e.type == "log" and e.message.startswith("fast path:") for e in events)
    assert len(fast["losses"]) == len(ref["losses"]) == 3
    for a, b in zip(fast["losses"], ref["losses"]):
        assert abs(a - b) < 1e-4 * abs(b)
