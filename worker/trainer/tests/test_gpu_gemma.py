"""GPU correctness of Gemma 2's fast path (fast/gemma.py; `npm run test:gpu`, skipped without CUDA).

As test_gpu_fast.py: both paths in bf16 (bf16 weights and autocast, fp32 adapters), each compared with the
reference path in fp32 on the same bf16-rounded weights; the fast path must be about as close to it as the bf16
reference path is (loss and every adapter gradient). A small Gemma 2 whose caps and window bind, eager and
compiled, and two Gemma-2-9B-shaped layers (one sliding, one global) with a sequence past the 4,096 window.
"""

import copy

import pytest
import torch

from fast_helpers import examples, graph_loss, padded_window, reference_loss, rel_err
from tuneboard_trainer.fast import FastPath
from tuneboard_trainer.fast.softcap_attention import softcap_attention
from tuneboard_trainer.lora import apply_lora
from tuneboard_trainer.model import ModelConfig, build_model
from tuneboard_trainer.templates import IGNORE_INDEX

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

GEMMA2_9B_LAYERS = dict(architectures=["Gemma2ForCausalLM"], model_type="gemma2", hidden_size=3584,
                        intermediate_size=14336, num_hidden_layers=2, num_attention_heads=16, num_key_value_heads=8,
                        head_dim=256, vocab_size=256000, query_pre_attn_scalar=256, sliding_window=4096,
                        attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                        hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6, rope_theta=10000.0,
                        tie_word_embeddings=True, max_position_embeddings=8192)
# Caps small enough, and weights large enough, that tanh bends; a window the samples pass.
GEMMA2_SMALL = {**GEMMA2_9B_LAYERS, "hidden_size": 128, "intermediate_size": 320, "num_hidden_layers": 3,
                "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 512,
                "query_pre_attn_scalar": 48, "sliding_window": 64, "attn_logit_softcapping": 2.0,
                "final_logit_softcapping": 3.0}


def gemma_lora(shape: dict, dev, std: float, seed: int, model=None):
    """A random Gemma model of `shape` (or `model`, moved to dev) in bf16 with random fp32 LoRA r8 adapters."""
    torch.manual_seed(seed)
    with torch.device(dev):
        if model is None:
            model = build_model(ModelConfig.from_hf(dict(shape)))
            for name, p in model.named_parameters():
                p.data.normal_(0.0, 0.1 if "norm" in name else std)  # Gemma norms: offsets from 1
        model.to(dev, torch.bfloat16)
        model.init_rope(dev)
        apply_lora(model, "all", r=8, alpha=16)
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()
            if "lora_B" in name:
                p.data.normal_(0.0, 0.02)
    return model.train()


def fast_loss(model, window, dev, **kw):
    model.zero_grad(set_to_none=True)
    fp = FastPath(model, **{"max_tokens": 8192, **kw})
    n_window = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
    total = 0.0
    for mb in fp.pack(window):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss, _ = fp.loss(mb, dev)
        (loss / n_window).backward()
        total += float(loss.detach())
    grads = {n: p.grad.detach().float().clone() for n, p in model.named_parameters() if p.grad is not None}
    return total / n_window, n_window, grads, fp


def _compare(shape, lengths, seed, std, model=None, graphs=False, **fast_kw):
    dev = torch.device("cuda")
    model = gemma_lora(shape, dev, std, seed, model)
    model32 = copy.deepcopy(model).float()
    window = padded_window(examples(lengths, shape["vocab_size"], seed=seed))
    off = torch.autocast("cuda", enabled=False)
    with off:
        l32, n32, g32 = reference_loss(model32, window, dev, off)
    del model32
    lr, nr, gr = reference_loss(model, window, dev, torch.autocast("cuda", dtype=torch.bfloat16))
    if graphs:  # fast.graph.StepGraphs: recorded once as a CUDA graph (offsets on the device), then replayed
        lf, nf, gf, sg = graph_loss(model, window, dev, torch.bfloat16, **fast_kw)
        assert sg.disabled is None and sg.captures >= 1, sg.disabled
        fp = sg.fast
    else:
        lf, nf, gf, fp = fast_loss(model, window, dev, **fast_kw)
    assert fp.compiled == bool(fast_kw.get("compile")), "the compiled regions fell back to eager"
    assert nf == nr == n32
    err_ref, err_fast = abs(lr - l32) / l32, abs(lf - l32) / l32
    assert err_fast <= max(2 * err_ref, 2e-3), (lf, lr, l32)
    worst = []
    for k in g32:
        e_ref, e_fast = rel_err(gr[k], g32[k]), rel_err(gf[k], g32[k])
        worst.append((e_fast, e_ref, k))
        assert torch.isfinite(gf[k]).all(), k
        assert e_fast <= max(2 * e_ref, 2e-2), (k, e_fast, e_ref)
    print(f"\nloss fp32 {l32:.6f} ref-bf16 {lr:.6f} fast {lf:.6f}; worst grad rel err fast/ref {max(worst)}")


def test_softcap_attention_bf16_matches_fp32():
    """The capped, windowed attention at Gemma-2-9B's heads (16 over 8 K/V, head_dim 256) in bf16 against
    itself in fp32 on the same inputs, and the fp32 result against dense masked softmax (a cap that binds)."""
    torch.manual_seed(0)
    lens = [5, 700, 1, 300]
    bounds = [0] + torch.tensor(lens).cumsum(0).tolist()
    N = bounds[-1]
    q, k, v = (torch.randn(N, h, 256, device="cuda", dtype=torch.bfloat16, requires_grad=True) for h in (16, 8, 8))
    g = torch.randn(N, 16, 256, device="cuda", dtype=torch.bfloat16)
    out = softcap_attention(q, k, v, bounds, 256 ** -0.5, 2.0, 256)
    grads = torch.autograd.grad(out, (q, k, v), g)
    qf, kf, vf = (t.detach().float().requires_grad_(True) for t in (q, k, v))
    ref = softcap_attention(qf, kf, vf, bounds, 256 ** -0.5, 2.0, 256)
    ref_grads = torch.autograd.grad(ref, (qf, kf, vf), g.float())
    assert rel_err(out.float(), ref) < 2e-2
    for a, r in zip(grads, ref_grads):
        assert rel_err(a.float(), r) < 3e-2
    s, e = bounds[1], bounds[2]  # the 700-token sequence: window 256 binds
    qs, ks, vs = (t[s:e].transpose(0, 1) for t in (qf, kf.repeat_interleave(2, 1), vf.repeat_interleave(2, 1)))
    sc = torch.tanh(qs @ ks.transpose(1, 2) / 16 / 2.0) * 2.0  # scores of std 1: the cap of 2 bends them
    i = torch.arange(e - s, device="cuda")
    ok = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < 256)
    dense = (sc.masked_fill(~ok, float("-inf")).softmax(-1) @ vs).transpose(0, 1)
    assert rel_err(ref[s:e].detach(), dense.detach()) < 1e-5


@pytest.mark.parametrize("ckpt,mlp", [(0, 0), (1, 1)])
def test_small_gemma2_matches_reference(ckpt, mlp):
    _compare(GEMMA2_SMALL, [37, 120, 64, 5, 230, 50, 511, 2], seed=1, std=0.08, ckpt_layers=ckpt, mlp_recompute=mlp,
             max_tokens=700)


def test_compiled_small_gemma2_matches_reference():
    _compare(GEMMA2_SMALL, [37, 120, 64, 5, 230, 50], seed=3, std=0.08, compile=True, max_tokens=700)


@pytest.mark.parametrize("compile", [False, True])
def test_cuda_graphs_small_gemma2_match_reference(compile):
    _compare(GEMMA2_SMALL, [37, 120, 64, 5, 230, 50, 511, 2], seed=6, std=0.08, max_tokens=700, graphs=True,
             compile=compile)


def test_cuda_graphs_two_gemma2_9b_layers_match_reference():
    _compare(GEMMA2_9B_LAYERS, [1024, 1024, 700], seed=7, std=0.02, max_tokens=2048, graphs=True)


def test_two_gemma2_9b_layers_match_reference():
    """One sliding (4,096) and one global layer of Gemma-2-9B's shape, with a 4,200-token sample."""
    _compare(GEMMA2_9B_LAYERS, [300, 4200, 1000], seed=2, std=0.02)


def test_compiled_two_gemma2_9b_layers_match_reference():
    _compare(GEMMA2_9B_LAYERS, [1024, 1024, 700], seed=4, std=0.02, compile=True, max_tokens=2048)


@pytest.mark.parametrize("graphs", [False, True])
def test_small_gemma3_matches_reference(tmp_path, graphs):
    """Gemma 3 (hf_tiny's: q/k norm, sliding layers on their own RoPE base, linear-scaled global RoPE, window 5)."""
    from hf_tiny import save_hf
    from tuneboard_trainer.hf_weights import load_pretrained

    save_hf("gemma3", tmp_path / "gemma3")
    model = load_pretrained(tmp_path / "gemma3")
    _compare({"vocab_size": model.config.vocab_size}, [37, 12, 64, 5, 23, 50], seed=5, std=0.0, model=model,
             graphs=graphs)


def test_train_loop_on_cuda_takes_gemma2_fast_path(tmp_path, tokenizer_dir, dataset_dir):
    """The real trainer on CUDA with a Gemma 2 checkpoint: fast path and CUDA graphs on by default, losses as the
    reference path's within bf16 noise."""
    from test_families import family_model_dir
    from test_train import make_cfg, run_events

    model_dir = family_model_dir(tmp_path, "gemma2", tokenizer_dir)
    kw = dict(gradient_accumulation_steps=2, max_steps=3, save_steps=0, learning_rate=1e-3, device="cuda",
              template="llama3", lora_dropout=0.0)
    ref, _ = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "ref", fast_path="off", **kw))
    fast, events = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "fast", **kw))
    logs = [e.message for e in events if e.type == "log"]
    assert any(m.startswith("fast path:") for m in logs), logs
    assert any(m.startswith("CUDA graphs: ") for m in logs), logs
    for a, b in zip(fast["losses"], ref["losses"]):
        assert abs(a - b) <= 2e-2 * abs(b)
