"""The quantized-weight Triton kernels against the quant/ reference, on the CPU under the Triton interpreter.

Skipped unless triton is importable and TRITON_INTERPRET=1 (triton_helpers.py says how to run them); the same
comparisons run on CUDA in test_gpu_quant_triton.py. The interpreter multiplies in fp32 (its bf16 dot is
wrong), so these check the indexing, the in-register dequantization, masking of odd shapes and the split-K
decode launch; the tolerance is bf16's.
"""

import pytest
import torch

from triton_helpers import needs_interpreter
from tuneboard_trainer.quant import linear as quant_linear_mod
from tuneboard_trainer.quant.linear import quantize_weight
from tuneboard_trainer.quant.nf4 import NF4Weight

pytestmark = needs_interpreter

METHODS = ["nf4", "int8", "fp8"]
# (M, N, K): K, N off the tiles; M around 16 (the decode launch); K multiples of the NF4 block (aligned tiles)
SHAPES = [(1, 67, 133), (3, 130, 70), (17, 96, 200), (70, 129, 66), (5, 100, 256), (33, 72, 320)]
BF16 = dict(rtol=1.6e-2, atol=1e-2)


def _case(method, N, K, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = (torch.randn(N, K, generator=g) * 0.05).to(torch.bfloat16)
    return quantize_weight(w, method), g


def _kernels():
    from tuneboard_trainer.quant import kernels

    return kernels


@pytest.mark.parametrize("mode", ["fused", "dequant", "auto"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_forward_and_input_gradient_match_the_reference(method, M, N, K, mode):
    _check_both_ways(method, M, N, K, mode)


@pytest.mark.parametrize("M,N,K", [(5, 100, 256), (33, 72, 320), (20, 64, 128)])
def test_nf4_per_element_tiles_on_aligned_shapes(M, N, K, monkeypatch):
    """The per-element tile path, on shapes that otherwise take the aligned (contiguous bytes) tiles."""
    from tuneboard_trainer.quant import triton_nf4

    monkeypatch.setitem(triton_nf4.ALIGNED_TILES, "on", False)
    _check_both_ways("nf4", M, N, K, "fused")


def _check_both_ways(method, M, N, K, mode):
    qw, g = _case(method, N, K)
    W = qw.dequantize(torch.float32)  # the reference weight, (N, K)
    x = torch.randn(M, K, generator=g).to(torch.bfloat16)
    dy = torch.randn(M, N, generator=g).to(torch.bfloat16)
    y = _kernels().quant_matmul(x, qw, transpose=False, mode=mode)
    dx = _kernels().quant_matmul(dy, qw, transpose=True, mode=mode)
    assert y.shape == (M, N) and y.dtype == torch.bfloat16 and dx.shape == (M, K)
    torch.testing.assert_close(y.float(), x.float() @ W.t(), **BF16)
    torch.testing.assert_close(dx.float(), dy.float() @ W, **BF16)


@pytest.mark.parametrize("method", METHODS)
def test_dequantize_kernel_gives_the_reference_weight(method):
    qw, _ = _case(method, 37, 150)
    out = _kernels().dequantize_into(qw, torch.empty(37, 150, dtype=torch.bfloat16))
    # One bf16 step at most: the interpreter rounds fp32 -> bf16 by its own conversion.
    torch.testing.assert_close(out.float(), qw.dequantize(torch.float32), rtol=2**-7, atol=1e-6)


def test_nf4_without_double_quantization():
    """A bitsandbytes checkpoint saved without compress_statistics: fp32 absmax, no nested statistics."""
    qw, g = _case("nf4", 40, 130)
    plain = NF4Weight(packed=qw.packed, absmax=qw.block_absmax(), nested_absmax=None, nested_code=None, offset=0.0,
                      code=qw.code, shape=qw.shape, dtype=qw.dtype)
    x = torch.randn(5, 130, generator=g).to(torch.bfloat16)
    torch.testing.assert_close(_kernels().quant_matmul(x, plain).float(), x.float() @ plain.dequantize().float().t(),
                               **BF16)


@pytest.fixture
def kernels_on_cpu(monkeypatch):
    monkeypatch.setattr(quant_linear_mod, "KERNEL_DEVICES", {"cpu", "cuda"})


@pytest.mark.parametrize("method", METHODS)
def test_quantized_linear_dispatches_to_the_kernels_with_autograd(method, kernels_on_cpu):
    from tuneboard_trainer.quant.linear import QuantizedLinear

    qw, g = _case(method, 48, 72)
    layer = QuantizedLinear(qw, bias=torch.randn(48, generator=g).to(torch.bfloat16))
    x = torch.randn(2, 3, 72, generator=g).to(torch.bfloat16).requires_grad_(True)
    y = layer(x)
    y.backward(torch.ones_like(y))
    W = qw.dequantize(torch.float32)
    torch.testing.assert_close(y.float(), x.detach().float() @ W.t() + layer.bias.float(), **BF16)
    torch.testing.assert_close(x.grad.float(), torch.ones(2, 3, 48) @ W, **BF16)


def test_custom_op_compiles_without_a_graph_break(kernels_on_cpu):
    """fullgraph=True fails on a graph break: the op (and its autograd formula) is one opaque node."""
    from tuneboard_trainer.quant.linear import QuantizedLinear

    qw, g = _case("nf4", 32, 64)
    layer = QuantizedLinear(qw)
    x = torch.randn(4, 64, generator=g).to(torch.bfloat16).requires_grad_(True)
    fn = torch.compile(lambda t: layer(t) * 2, backend="aot_eager", fullgraph=True)
    y = fn(x)
    y.sum().backward()
    W = qw.dequantize(torch.float32)
    torch.testing.assert_close(y.float(), 2 * x.detach().float() @ W.t(), **BF16)
    torch.testing.assert_close(x.grad.float(), 2 * torch.ones(4, 32) @ W, **BF16)


def test_opcheck_of_the_custom_op():
    """torch.library.opcheck: schema, fake (meta) implementation and autograd registration agree."""
    kernels = _kernels()
    qw, g = _case("nf4", 24, 40)
    x = torch.randn(3, 40, generator=g).to(torch.bfloat16)
    torch.library.opcheck(torch.ops.tuneboard.quant_mm.default,
                          (x, kernels._weight_tensors(qw), torch.bfloat16, False, "fused"),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("method", METHODS)
def test_fast_path_on_a_quantized_base_matches_the_reference_path(method, monkeypatch):
    """The packed fast path with the kernels (custom op forward and input gradient), plain and as the CUDA-graph
    step's body, against the reference path with the reference layer: same loss, same adapter gradients."""
    from contextlib import nullcontext

    from fast_helpers import SMALL, examples, fast_loss, graph_loss, packed_rows_window, reference_loss, rel_err
    from quant_helpers import quantized_lora_model

    model = quantized_lora_model(SMALL, method, seed=3)
    window = packed_rows_window(examples([30, 20, 25, 40, 9], SMALL["vocab_size"], seed=2), cutoff=64)
    cpu = torch.device("cpu")
    ref_l, ref_n, ref_g = reference_loss(model, window, cpu, nullcontext())
    monkeypatch.setattr(quant_linear_mod, "KERNEL_DEVICES", {"cpu", "cuda"})
    calls = []
    from tuneboard_trainer.quant import kernels

    real = kernels.quant_matmul
    monkeypatch.setattr(kernels, "quant_matmul", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    l, n, g = fast_loss(model, window, cpu, nullcontext())
    assert {False, True} <= set(calls)  # forward and input-gradient kernels both ran
    assert n == ref_n and abs(l - ref_l) < 1e-4 * abs(ref_l)
    assert set(g) == set(ref_g)
    for k in ref_g:
        assert rel_err(g[k], ref_g[k]) < 1e-3, k
    # The CUDA-graph step's body (fast/graph.py: static padded buffers), run eagerly on the CPU.
    gl, _, gg, _ = graph_loss(model, window, cpu, torch.float32)
    assert abs(gl - ref_l) < 1e-4 * abs(ref_l)
    for k in ref_g:
        assert rel_err(gg[k], ref_g[k]) < 1e-3, k
