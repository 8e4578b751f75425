"""GPU fast path (fast/), checked on the CPU: packing, per-sample attention fallback, LoRA fusion, selective
recompute and the train-loop hook compute the reference path's loss and adapter gradients."""

import contextlib

import pytest
import torch

from fast_helpers import SMALL, examples, fast_loss, lora_model, packed_rows_window, padded_window, reference_loss, rel_err
from tuneboard_trainer.config import ConfigError, TrainConfig
from tuneboard_trainer.fast import FastPath, FastPathOptions, pack_window
from tuneboard_trainer.templates import IGNORE_INDEX

CPU = torch.device("cpu")
NOCAST = contextlib.nullcontext()


def test_pack_window_targets_and_boundaries():
    exs = examples([5, 3, 7], vocab=100)
    window = padded_window(exs)  # rows of 5+3 (padded to 5) and 7
    mbs = pack_window(window, max_tokens=100)
    assert len(mbs) == 1
    mb = mbs[0]
    assert mb["cu_seqlens"].tolist() == [0, 5, 8, 15] and mb["max_len"] == 7
    assert mb["position_ids"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 4, 5, 6]
    want = []
    for e in exs:
        want += e.labels[1:] + [IGNORE_INDEX]
    assert mb["targets"].tolist() == want
    # Same labelled-position count as lm_loss's shift on the padded rows.
    n_ref = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
    assert int((mb["targets"] != IGNORE_INDEX).sum()) == n_ref
    # Splitting only at sample boundaries.
    parts = pack_window(window, max_tokens=8)
    assert [p["cu_seqlens"].tolist() for p in parts] == [[0, 5, 8], [0, 7]]


def test_pack_window_balances_micro_batches():
    # Greedy filling to 16 would give 16 + 4 tokens; balanced: as few micro-batches, evenly filled.
    window = padded_window(examples([4, 4, 4, 4, 4], vocab=100))
    parts = pack_window(window, max_tokens=16)
    assert [int(p["cu_seqlens"][-1]) for p in parts] == [12, 8]
    # A sample longer than max_tokens still gets a micro-batch of its own.
    parts = pack_window(padded_window(examples([3, 20, 3], vocab=100)), max_tokens=10)
    assert [p["cu_seqlens"].tolist() for p in parts] == [[0, 3], [0, 20], [0, 3]]


@pytest.mark.parametrize("ckpt", [0, 2])
def test_fast_matches_reference_loss_and_grads(ckpt):
    model = lora_model(SMALL)
    window = padded_window(examples([37, 12, 64, 5, 23, 50], SMALL["vocab_size"], seed=1))
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    l, n, g = fast_loss(model, window, CPU, NOCAST, ckpt_layers=ckpt, max_tokens=100)
    assert n == ref_n
    assert abs(l - ref_l) < 1e-5 * abs(ref_l)
    assert set(g) == set(ref_g) and len(g) == 2 * 7 * SMALL["num_hidden_layers"]
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


def test_fast_matches_reference_on_packed_rows():
    model = lora_model(SMALL, seed=3)
    window = packed_rows_window(examples([30, 20, 25, 40, 9, 14, 33], SMALL["vocab_size"], seed=2), cutoff=64)
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    l, n, g = fast_loss(model, window, CPU, NOCAST)
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


def test_packed_loss_equals_sum_of_single_sample_losses():
    model = lora_model(SMALL, seed=4)
    exs = examples([17, 40, 8, 29], SMALL["vocab_size"], seed=5)
    fp = FastPath(model, max_tokens=1000)
    with torch.no_grad():
        (mb,) = fp.pack(padded_window(exs))
        packed, _ = fp.loss(mb, CPU)
        singles = [fp.loss(fp.pack(padded_window([e], batch=1))[0], CPU)[0] for e in exs]
    assert abs(float(packed) - float(sum(singles))) < 1e-5 * abs(float(packed))


def test_recompute_follows_the_budget():
    model = lora_model(SMALL, layers=4)
    fp = FastPath(model, max_tokens=1000)
    per_block = fp.act_bytes_per_token() * 1000
    assert FastPath(model, 1000, memory_budget=10 * per_block).ckpt_layers == 0
    assert FastPath(model, 1000, memory_budget=1).ckpt_layers == 4
    # MLP recompute first (SMALL: it frees 640 of a block's ~1,400 bytes per token), whole blocks after.
    fp = FastPath(model, 1000, memory_budget=int(2.5 * per_block))
    assert (fp.ckpt_layers, fp.mlp_recompute) == (0, 4)
    mid = FastPath(model, 1000, memory_budget=int(2.1 * per_block)).ckpt_layers
    assert 0 < mid < 4


def test_supported_refuses_dora_and_plain_models():
    from tuneboard_trainer.lora import apply_lora
    from tuneboard_trainer.model import ModelConfig, Transformer

    assert FastPath.supported(lora_model(SMALL)) == (True, "")
    plain = Transformer(ModelConfig(**SMALL))
    assert not FastPath.supported(plain)[0]
    assert "DoRA" in FastPath.supported(apply_lora(Transformer(ModelConfig(**SMALL)), use_dora=True))[1]


def test_fast_path_config_field():
    base = {"model_name_or_path": "m", "dataset_dir": "d", "dataset": ["x"], "output_dir": "o"}
    assert TrainConfig.from_dict(base).fast_path == "auto"
    assert TrainConfig.from_dict({**base, "fast_path": "off"}).fast_path == "off"
    with pytest.raises(ConfigError, match="^fast_path:"):
        TrainConfig.from_dict({**base, "fast_path": "fast"})


def test_train_loop_with_fast_path_matches_reference(tmp_path, tiny_model_dir, dataset_dir):
    from test_train import make_cfg, run_events

    kw = dict(gradient_accumulation_steps=2, max_steps=3, save_steps=0, lora_dropout=0.0)
    ref, _ = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "ref", fast_path="off", **kw))
    fast, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "fast", fast_path="on", **kw))
    assert any(e.type == "log" and e.message.startswith("fast path:") for e in events)
    assert len(fast["losses"]) == len(ref["losses"]) == 3
    for a, b in zip(fast["losses"], ref["losses"]):
        assert abs(a - b) < 1e-4 * abs(b)
    assert fast["tokens_seen"] == ref["tokens_seen"]


def test_offloaded_checkpoint_matches_reference():
    model = lora_model(SMALL, seed=6)
    window = padded_window(examples([37, 12, 64, 5], SMALL["vocab_size"], seed=7))
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    l, n, g = fast_loss(model, window, CPU, NOCAST, ckpt_layers=2, offload=True)
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


@pytest.mark.parametrize("targets,bias", [("all", False), ("q_proj,v_proj,down_proj", True), ("o_proj", False)])
def test_grouped_projections_match_reference(targets, bias, monkeypatch):
    """q/k/v and gate/up run as one GEMM against their concatenated weight with block-diagonal LoRA B
    (fast.functions._NormGroupLoRA): the same loss and adapter gradients as the reference path, also when only some of
    a group's projections have adapters and with Qwen2's q/k/v biases; the modules' weights become views of
    the fused weight (no extra memory)."""
    import tuneboard_trainer.fast.functions as fast_mod
    from tuneboard_trainer.lora import apply_lora
    from tuneboard_trainer.model import ModelConfig, Transformer, rope_inv_freq

    calls = []
    for name in ("_GROUP_APPLY", "_NORM_GROUP_APPLY", "_MLP_APPLY"):
        monkeypatch.setattr(fast_mod, name, lambda *a, _real=getattr(fast_mod, name): calls.append(1) or _real(*a))
    cfg = ModelConfig(**SMALL, qkv_bias=bias)
    torch.manual_seed(5)
    model = Transformer(cfg)
    for name, p in model.named_parameters():
        p.data.fill_(1.0) if "norm" in name else p.data.normal_(0.0, 0.02)
    model.inv_freq = rope_inv_freq(cfg)
    apply_lora(model, targets, r=8, alpha=16)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0.0, 0.02)
    model.train()
    window = padded_window(examples([37, 12, 64, 5, 23], SMALL["vocab_size"], seed=4))
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    l, n, g = fast_loss(model, window, CPU, NOCAST, ckpt_layers=1, max_tokens=100)
    assert calls, "the grouped LoRA function was not used"
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    assert set(g) == set(ref_g)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k
    a, mlp = model.model.layers[0].self_attn, model.model.layers[0].mlp
    assert a.q_proj.weight.data_ptr() == a._tb_qkv.data_ptr()
    assert a.v_proj.weight.data_ptr() == a._tb_qkv[-a.v_proj.weight.shape[0]:].data_ptr()
    assert mlp.up_proj.weight.data_ptr() == mlp._tb_gate_up[mlp.gate_proj.weight.shape[0]:].data_ptr()
    assert (a._tb_qkv_bias is not None) == bias
    assert "_tb_qkv" not in model.state_dict() and not any("_tb_" in k for k in model.state_dict())


def test_mlp_recompute_matches_reference_and_is_planned_first():
    """Blocks whose MLP recomputes gate/up in backward (fast._MLPLoRA, recompute=True) give the reference
    path's loss and gradients; the memory planner spends MLP recompute before whole-block recompute."""
    model = lora_model(SMALL, layers=4, seed=6)
    window = padded_window(examples([37, 12, 64, 5, 23], SMALL["vocab_size"], seed=6))
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    l, n, g = fast_loss(model, window, CPU, NOCAST, ckpt_layers=1, mlp_recompute=2, max_tokens=100)
    assert [b._tb_mlp_recompute for b in model.model.layers] == [False, True, True, False]
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k
    fp = FastPath(model, max_tokens=1000)
    full = fp.act_bytes_per_token() * 1000
    mlp = 2 * 2 * SMALL["intermediate_size"] * 1000
    assert fp.plan_recompute(4 * full) == (0, 0)
    assert fp.plan_recompute(4 * full - mlp) == (0, 1)
    assert fp.plan_recompute(4 * full - 4 * mlp) == (0, 4)
    k, m = fp.plan_recompute(4 * full - 4 * mlp - 1)
    assert k >= 1
    assert FastPath(model, 1000, memory_budget=1).ckpt_layers == 4


@pytest.mark.parametrize("kw,mode", [({}, "trace"), ({"mlp_recompute": 1}, "trace"), ({"mlp_recompute": 1}, "break"),
                                     ({"ckpt_layers": 1}, "trace")],
                         ids=["traced", "traced-mlp-recompute", "break-mlp-recompute", "traced-block-recompute"])
def test_compiled_fast_path_matches_reference(kw, mode):
    """torch.compile (inductor on the CPU here; CUDA in test_gpu_fast.py) in both ways the compiled regions
    meet the LoRA Functions: traced into them (the default) and as graph breaks with compiled pointwise
    kernels (FastPathOptions.compile_functions="break"): the reference path's loss and adapter gradients either way."""
    model = lora_model(SMALL, seed=3)
    window = padded_window(examples([37, 120, 64, 5, 230, 50], SMALL["vocab_size"], seed=3))
    ref_l, ref_n, ref_g = reference_loss(model, window, CPU, NOCAST)
    fp_seen = []
    orig = FastPath.hidden

    def spy(self, *a, **k):
        fp_seen.append((self.compiled, self.trace_functions))
        return orig(self, *a, **k)

    FastPath.hidden = spy
    try:
        l, n, g = fast_loss(model, window, CPU, NOCAST, compile=True, options=FastPathOptions(compile_functions=mode), **kw)
    finally:
        FastPath.hidden = orig
    assert fp_seen and all(c for c, _ in fp_seen), "compile fell back to eager"
    assert all(t == (mode == "trace") for _, t in fp_seen)
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


def test_importing_the_trainer_does_not_load_torch_dynamo():
    """torch._dynamo (with sympy) costs seconds of every trainer start, more where site-packages has no bytecode
    cache (the GPU image); only compiled runs need it, and load it then."""
    import subprocess
    import sys

    code = "import sys, tuneboard_trainer.train, tuneboard_trainer.fast.graph; print('torch._dynamo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "False", out.stderr


def _saved_activation_bytes(fp, model, mb) -> int:
    """Bytes of the distinct tensors autograd keeps for backward during fp.hidden (compiled regions' saved
    tensors included), not counting the model's own parameters and buffers."""
    owned = {(t.untyped_storage().data_ptr(), t.dtype) for t in list(model.parameters()) + list(model.buffers())}
    seen = {}

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if key not in owned:
            seen[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        h = fp.hidden(mb, CPU)
    h.sum().backward()
    return sum(seen.values())


def test_traced_functions_keep_no_more_than_eager():
    """Traced into compiled regions, the LoRA Functions must keep what they say: AOTAutograd's CSE merges a
    backward recomputation spelt like the forward with it and would keep the normed inputs and the SwiGLU
    product, so the recompute is spelt differently. Inductor on the CPU here."""
    shape = dict(SMALL, hidden_size=128, intermediate_size=512, num_attention_heads=4, num_key_value_heads=2,
                 head_dim=32)
    window = padded_window(examples([256, 256], shape["vocab_size"], seed=2))
    kept = {}
    for mode, compile_, mlp in (("break", False, 0), ("trace", True, 0), ("trace", True, 2)):
        model = lora_model(shape, seed=1)
        fp = FastPath(model, 4096, ckpt_layers=0, mlp_recompute=mlp, compile=compile_,
                      options=FastPathOptions(compile_functions=mode))
        mb = fp.pack(window)[0]
        _saved_activation_bytes(fp, model, mb)  # the first call compiles
        kept[(mode, mlp)] = _saved_activation_bytes(fp, model, mb)
    assert kept[("trace", 0)] <= kept[("break", 0)], kept
    # gate/up recompute frees 2 x intermediate values per token per block (fp32, 512 tokens) when traced too
    freed = kept[("trace", 0)] - kept[("trace", 2)]
    assert freed >= 0.9 * shape["num_hidden_layers"] * 2 * shape["intermediate_size"] * 4 * 512, kept


def test_dense_attention_only_for_equal_lengths():
    """A packed micro-batch goes to batched (cuDNN) attention only when it is S sequences of exactly L tokens:
    N == S * L, which no shorter or zero-length sequence can meet (fast/graph.py's padded keys included)."""
    from tuneboard_trainer.fast import dense_ok

    assert dense_ok(2048, 2, 1024)  # workload 1: 2 x 1024
    assert not dense_ok(2047, 2, 1024)  # 1024 + 1023
    assert not dense_ok(2048, 4, 1024)  # 1024 + 1024 + two zero-length (a bucketed graph key)
    assert not dense_ok(1920, 2, 1024)  # 1024 + 896
    assert not dense_ok(2048, 2, 1024, enabled=False)  # FastPathOptions.dense_attention=False


def test_compiled_regions_take_no_host_float_inputs(monkeypatch):
    """The blocks' floats (LoRA scaling, norm eps) are constants of the compiled regions: dynamic, each would
    enter as a 0-d float64 CPU tensor, and on CUDA inductor would build C++ CPU kernels inside every region."""
    import torch._dynamo

    import tuneboard_trainer.fast.path as path_mod

    host_inputs, real_compile = [], torch.compile

    def recording(gm, example_inputs):
        host_inputs.extend(t for t in example_inputs if isinstance(t, torch.Tensor) and t.dim() == 0)
        return gm.forward

    monkeypatch.setattr(path_mod.torch, "compile", lambda fn, **kw: real_compile(fn, backend=recording, **kw))
    model = lora_model(SMALL, seed=4)
    window = packed_rows_window(examples([30, 20, 25, 40, 9, 14], SMALL["vocab_size"], seed=2), cutoff=64)
    with torch._dynamo.config.patch(specialize_float=False):  # torch's default, whatever earlier tests set
        fp = FastPath(model, max_tokens=4096, compile=True)
        for mb in fp.pack(window):
            loss, _ = fp.loss(mb, CPU)
            loss.backward()
    assert fp.compiled
    assert host_inputs == []
