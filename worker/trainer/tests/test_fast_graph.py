"""fast/graph.py on the CPU: the fixed-shape layout a CUDA graph records (tokens padded to a bucket as one
extra sequence, zero-length sequences filling cu_seqlens, weight-0 loss rows) computes the fast path's loss
and adapter gradients. The graphs themselves need a GPU: tests/test_gpu_fast.py."""

import torch

from fast_helpers import SMALL, examples, fast_loss, graph_loss, lora_model, padded_window, rel_err
from tuneboard_trainer.fast import FastPath, pack_window
from tuneboard_trainer.fast.graph import StepGraphs, graphs_for_training
from tuneboard_trainer.templates import IGNORE_INDEX

CPU = torch.device("cpu")


def test_layout_pads_to_buckets():
    model = lora_model(SMALL)
    sg = StepGraphs(FastPath(model, max_tokens=4096), [], CPU, torch.float32, bucket=128)
    window = padded_window(examples([37, 120, 5], SMALL["vocab_size"]))
    (mb,) = pack_window(window, 4096)
    key, host = sg.layout(mb, 0.25)
    n_lab = int((mb["targets"] != IGNORE_INDEX).sum())
    assert key == (256, 4, 128, 256)  # 162 tokens -> 256; 3 samples + padding -> 4; longest 120 -> 128; M: 256s
    assert host["cu"].tolist() == [0, 37, 157, 162, 256]
    assert host["pos"][162:].tolist() == list(range(94))  # the padding sequence restarts at 0
    assert host["w"].sum().item() == n_lab and host["w"][n_lab:].sum().item() == 0
    assert float(host["scale"]) == 0.25
    # More sequences than a power of two: the rest of cu_seqlens are zero-length sequences at the end.
    (mb,) = pack_window(padded_window(examples([10] * 5, SMALL["vocab_size"])), 4096)
    key, host = sg.layout(mb, 1.0)
    assert key[1] == 8 and host["cu"].tolist() == [0, 10, 20, 30, 40, 50, 128, 128, 128]


def test_static_layout_matches_the_fast_path():
    model = lora_model(SMALL, seed=4)
    window = padded_window(examples([37, 12, 64, 5, 23, 50, 130], SMALL["vocab_size"], seed=5))
    ref_l, ref_n, ref_g = fast_loss(model, window, CPU, torch.autocast("cpu", enabled=False), max_tokens=100)
    l, n, g, _ = graph_loss(model, window, CPU, torch.float32, max_tokens=100)
    assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
    assert set(g) == set(ref_g)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-4, k


def test_not_used_where_it_cannot_run():
    model = lora_model(SMALL)
    fp = FastPath(model, max_tokens=256)
    assert graphs_for_training(fp, [], CPU, torch.float32) == (None, "")
    assert graphs_for_training(None, [], torch.device("cuda"), torch.bfloat16) == (None, "")
    msg = graphs_for_training(fp, [], torch.device("cuda"), torch.float16)[1]
    assert msg == "CUDA graphs off: fp16 (GradScaler)"
    from pref_helpers import step_config
    from tuneboard_trainer.stages import PreferenceStep

    kto = PreferenceStep(step_config(stage="kto"))
    assert graphs_for_training(fp, [], torch.device("cuda"), torch.bfloat16, kto) == (
        None, "CUDA graphs off: the kto stage runs eagerly")


def test_host_embedding_gives_the_same_loss_and_grads():
    """HostEmbedding (the input embedding in host memory, looked up per step) in the eager fast path and in the
    graph layout (rows looked up into a static buffer) changes nothing in the numbers."""
    from tuneboard_trainer.fast import HostEmbedding

    model = lora_model(SMALL, seed=9)
    window = padded_window(examples([40, 17, 90, 33], SMALL["vocab_size"], seed=10))
    nocast = torch.autocast("cpu", enabled=False)
    ref_l, ref_n, ref_g = fast_loss(model, window, CPU, nocast)
    model.model.embed_tokens = HostEmbedding(model.model.embed_tokens.weight)
    for l, n, g in (fast_loss(model, window, CPU, nocast), graph_loss(model, window, CPU, torch.float32)[:3]):
        assert n == ref_n and abs(l - ref_l) < 1e-5 * abs(ref_l)
        for k in ref_g:
            assert rel_err(g[k], ref_g[k]) < 1e-4, k
