"""Quantized base weights on CUDA (npm run test:gpu): the same bytes and results as the CPU reference."""

import pytest
import torch

from tuneboard_trainer.quant.eightbit import quantize_int8
from tuneboard_trainer.quant.linear import quantized_linear
from tuneboard_trainer.quant.nf4 import quantize_nf4
from tuneboard_trainer.quant.run import fp8_supported

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("shape", [(4096, 4096), (1000, 333)])
def test_nf4_on_the_gpu_stores_the_cpu_bytes(shape):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16) * 0.02
    cpu, gpu = quantize_nf4(w), quantize_nf4(w.cuda())
    assert torch.equal(gpu.packed.cpu(), cpu.packed) and torch.equal(gpu.absmax.cpu(), cpu.absmax)
    assert torch.equal(gpu.nested_absmax.cpu(), cpu.nested_absmax) and gpu.offset == cpu.offset
    assert torch.equal(gpu.dequantize().cpu(), cpu.dequantize())
    assert torch.equal(quantize_int8(w.cuda()).dequantize().cpu(), quantize_int8(w).dequantize())


GPU_METHODS = ["nf4", "int8"] + (["fp8"] if torch.cuda.is_available() and fp8_supported(torch.device("cuda")) else [])


@pytest.mark.parametrize("method", GPU_METHODS)
def test_the_reference_layer_on_the_gpu_matches_the_cpu_in_bf16(method):
    g = torch.Generator().manual_seed(1)
    w, x = torch.randn(515, 1031, generator=g) * 0.02, torch.randn(3, 17, 1031, generator=g)
    cpu, gpu = quantized_linear(w, None, method), quantized_linear(w.cuda(), None, method)
    xc, xg = x.clone().requires_grad_(True), x.cuda().bfloat16().requires_grad_(True)
    yc, yg = cpu(xc), gpu(xg)
    torch.testing.assert_close(yg.float().cpu(), yc, rtol=2e-2, atol=2e-2)
    grad = torch.randn_like(yc)
    yc.backward(grad)
    yg.backward(grad.cuda().bfloat16())
    torch.testing.assert_close(xg.grad.float().cpu(), xc.grad, rtol=2e-2, atol=2e-2)
