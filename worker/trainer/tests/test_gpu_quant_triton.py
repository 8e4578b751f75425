"""The quantized-weight Triton kernels on CUDA (npm run test:gpu) against the quant/ reference: forward and input
gradient on odd shapes, the layer's custom op under autograd, torch.compile and CUDA graphs, and LoRA steps on a
tiny quantized model through the fast path matching the reference path."""

import pytest
import torch

from fast_helpers import SMALL, examples, fast_loss, graph_loss, packed_rows_window, reference_loss, rel_err
from quant_helpers import quantized_lora_model
from tuneboard_trainer.quant import linear as quant_linear_mod
from tuneboard_trainer.quant.kernels import triton_available
from tuneboard_trainer.quant.linear import QuantizedLinear, quantize_weight
from tuneboard_trainer.quant.run import fp8_supported

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available() or not triton_available(),
                                 reason="needs a CUDA GPU and triton")]

CUDA = torch.device("cuda")
FP8 = torch.cuda.is_available() and fp8_supported(CUDA)
METHODS = ["nf4", "int8"] + (["fp8"] if FP8 else [])
# (M, N, K): odd K and N off every tile; M = 1, 3 (decode launch), 17, 70; K multiples of 64 (aligned NF4 tiles);
# one 8B-sized projection.
SHAPES = [(1, 67, 133), (3, 130, 70), (17, 96, 200), (70, 129, 66), (5, 100, 256), (33, 72, 320), (1, 4096, 4096),
          (300, 1024, 4096)]
BF16 = dict(rtol=1.6e-2, atol=1.6e-2)


def _case(method, N, K, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = (torch.randn(N, K, generator=g) * 0.05).to(torch.bfloat16)
    return quantize_weight(w.cuda(), method), g


def _close(actual, expected):
    """bf16 tolerance, relative to the output's scale (a K-long sum of bf16 products)."""
    scale = expected.abs().max().clamp_min(1e-6)
    torch.testing.assert_close(actual.float() / scale, expected / scale, **BF16)


@pytest.mark.parametrize("mode", ["fused", "dequant", "auto"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_kernels_match_the_reference_forward_and_input_gradient(method, M, N, K, mode):
    from tuneboard_trainer.quant.kernels import quant_matmul

    qw, g = _case(method, N, K)
    W = qw.dequantize(torch.float32)  # (N, K) on the GPU
    x = torch.randn(M, K, generator=g).to(torch.bfloat16).cuda()
    dy = torch.randn(M, N, generator=g).to(torch.bfloat16).cuda()
    y = quant_matmul(x, qw, transpose=False, mode=mode)
    dx = quant_matmul(dy, qw, transpose=True, mode=mode)
    assert y.shape == (M, N) and dx.shape == (M, K) and y.dtype == dx.dtype == torch.bfloat16
    if method == "fp8" and mode != "dequant" and K % 16 == 0 and N % 16 == 0:
        x = _fp8_rows(x)  # the forward ran on the FP8 tensor cores, which multiply e4m3 activations
    _close(y, x.float() @ W.t())
    _close(dx, dy.float() @ W)


def _fp8_rows(x):
    from tuneboard_trainer.quant.eightbit import FP8_DTYPE, FP8_MAX

    amax = x.abs().amax(dim=1, keepdim=True).float()
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    return ((x.float() / scale).to(FP8_DTYPE).float() * scale).to(torch.bfloat16)


@pytest.mark.parametrize("method", METHODS)
def test_dequantize_kernel_gives_the_reference_weight_exactly(method):
    from tuneboard_trainer.quant.kernels import dequantize_into

    qw, _ = _case(method, 1000, 333)
    out = dequantize_into(qw, torch.empty(1000, 333, dtype=torch.bfloat16, device=CUDA))
    assert torch.equal(out, qw.dequantize(torch.bfloat16))


@pytest.mark.parametrize("method", METHODS)
def test_the_layer_runs_the_kernels_with_autograd_compile_and_a_cuda_graph(method, monkeypatch):
    qw, g = _case(method, 515, 1031)
    layer = QuantizedLinear(qw)
    x = torch.randn(3, 17, 1031, generator=g).to(torch.bfloat16).cuda().requires_grad_(True)
    W = qw.dequantize(torch.float32)
    y = layer(x)
    y.backward(torch.ones_like(y))
    _close(y, x.detach().float() @ W.t())  # K = 1031: no FP8 tensor-core path, the Triton kernels
    _close(x.grad, torch.ones(3, 17, 515, device=CUDA) @ W)
    compiled = torch.compile(lambda t: layer(t) * 2, fullgraph=True)  # fails on a graph break
    x2 = x.detach().clone().requires_grad_(True)
    y2 = compiled(x2)
    y2.sum().backward()
    _close(y2, 2 * y.detach().float())
    _close(x2.grad, 2 * x.grad.float())
    static = x.detach().clone()
    graph = torch.cuda.CUDAGraph()
    layer(static)  # warm-up (Triton compiles outside the capture)
    torch.cuda.synchronize()
    with torch.cuda.graph(graph):
        out = layer(static)
    static.copy_(x.detach() * 0.5)
    graph.replay()
    _close(out, static.float() @ W.t())


def _fp8_input_reference_forward(ctx, x, layer):
    """_DequantMatmul.forward with x's rows rounded to e4m3 as kernels.fp8_scaled_mm rounds them (its input
    gradient, like the kernels', stays in bf16)."""
    from tuneboard_trainer.quant.kernels import fp8_rows

    ctx.layer, ctx.x_dtype = layer, x.dtype
    x2 = x.reshape(-1, x.shape[-1])
    x8, scale = fp8_rows(x2)
    xq = (x8.float() * scale).to(x.dtype).reshape(x.shape)
    return torch.nn.functional.linear(xq, layer.dequantized_weight(x.dtype))


def _window():
    return packed_rows_window(examples([30, 20, 25, 40, 9, 14], SMALL["vocab_size"], seed=2), cutoff=64)


@pytest.mark.parametrize("method", METHODS)
def test_fast_path_lora_step_on_a_quantized_base_matches_the_reference_path(method, monkeypatch):
    """Same loss and adapter gradients (bf16 weights, autocast) through the fast path with the kernels as through
    the reference path with the reference layer (dequantize, then matmul); then one AdamW step each from the
    same adapters lands on the same adapters."""
    model = quantized_lora_model(SMALL, method, device=CUDA, dtype=torch.bfloat16, seed=3)
    window, cast = _window(), torch.autocast("cuda", dtype=torch.bfloat16)
    monkeypatch.setattr(quant_linear_mod, "KERNEL_DEVICES", set())  # the reference layer
    if method == "fp8":  # the FP8 forward rounds its input rows to e4m3 (kernels.fp8_scaled_mm); so does the reference
        monkeypatch.setattr(quant_linear_mod._DequantMatmul, "forward", staticmethod(_fp8_input_reference_forward))
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    ref_l, ref_n, ref_g = reference_loss(model, window, CUDA, cast)
    monkeypatch.undo()
    monkeypatch.setattr(quant_linear_mod, "KERNEL_DEVICES", {"cuda"})
    for kw in ({}, {"compile": True}):
        l, n, g = fast_loss(model, window, CUDA, cast, **kw)
        assert n == ref_n and abs(l - ref_l) < 2e-2 * abs(ref_l), kw
        for k in ref_g:
            assert rel_err(g[k], ref_g[k]) < 5e-2, (k, kw)
    l, n, g, _ = graph_loss(model, window, CUDA, torch.bfloat16)
    assert abs(l - ref_l) < 2e-2 * abs(ref_l)
    after = {}
    for grads in (ref_g, g):
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.requires_grad:
                    p.copy_(start[name])
                    p.grad = grads[name].clone()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        opt.step()
        after[len(after)] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    for k in after[0]:
        # AdamW's first step is lr * sign(grad): an entry whose gradient is within the kernels' rounding noise (5 %
        # of the gradient's norm for FP8 inputs) may step either way, so the steps are compared where the
        # reference gradient is at least a quarter of its RMS.
        big = ref_g[k].abs() >= 0.25 * ref_g[k].pow(2).mean().sqrt()
        assert rel_err((after[1][k] - start[k])[big], (after[0][k] - start[k])[big]) < 0.1, k


def test_a_quantized_run_takes_the_fast_path_on_cuda(tmp_path, tiny_model_dir, dataset_dir):
    from test_train import make_cfg, run_events

    result, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, quantization_bit="4", max_steps=4))
    started = next(e for e in events if e.type == "started")
    assert started.fast_path_options["active"] is True
    assert not any(e.type == "log" and "reference path" in e.message for e in events)
    assert result["losses"][-1] < result["losses"][0]


def test_without_triton_cuda_keeps_the_reference_layer(monkeypatch):
    monkeypatch.setattr(quant_linear_mod, "triton_available", lambda: False)
    qw, g = _case("nf4", 64, 128)
    x = torch.randn(4, 128, generator=g).to(torch.bfloat16).cuda()
    _close(QuantizedLinear(qw)(x), x.float() @ qw.dequantize(torch.float32).t())
