"""The NF4 quantize kernel on CUDA (npm run test:gpu) against the torch reference, bit for bit: an 8B-sized
projection, odd shapes, special values, quantize_nf4's whole NF4Weight, and a flat weight past 2**31 elements;
plus a timing print of both paths (not an assertion)."""

import pytest
import torch

from tuneboard_trainer.quant import nf4
from tuneboard_trainer.quant.kernels import triton_available
from tuneboard_trainer.quant.nf4 import _quantize_blocks, nf4_code, quantize_nf4

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available() or not triton_available(),
                                 reason="needs a CUDA GPU and triton")]

CUDA = torch.device("cuda")


def _blocks(x, blocksize=64):
    from tuneboard_trainer.quant.triton_nf4_quantize import nf4_quantize_blocks

    return nf4_quantize_blocks(x.reshape(-1), blocksize)


def _reference(x, blocksize=64):
    return _quantize_blocks(x.float().reshape(-1), nf4_code(x.device), blocksize)


def _same(x, blocksize=64):
    packed, absmax = _blocks(x, blocksize)
    ref_packed, ref_absmax = _reference(x, blocksize)
    assert torch.equal(packed, ref_packed)
    assert torch.equal(absmax.isnan(), ref_absmax.isnan())
    assert torch.equal(absmax.nan_to_num(), ref_absmax.nan_to_num())


@pytest.mark.parametrize("shape,dtype", [((4096, 14336), torch.bfloat16), ((14336, 4096), torch.float16),
                                         ((1,), torch.bfloat16), ((3, 1001), torch.bfloat16),
                                         ((4097, 33), torch.float16), ((1000, 333), torch.float32),
                                         ((7, 129, 65), torch.bfloat16)])
def test_kernel_matches_the_reference_on_cuda(shape, dtype):
    g = torch.Generator().manual_seed(0)
    _same((torch.randn(shape, generator=g) * 0.02).to(dtype).to(CUDA))


@pytest.mark.parametrize("blocksize", [32, 128, 4096])
def test_other_block_sizes_on_cuda(blocksize):
    g = torch.Generator().manual_seed(1)
    _same(torch.randn(1000 * blocksize + 7, generator=g).to(torch.bfloat16).to(CUDA), blocksize)


def _near_the_steps():
    """fp32 blocks of 64: 1.0 (the absmax), then values within 3 ulps of every decision value of the kernel,
    fp32 midpoint and exact midpoint of neighbouring codes (45 x 7 = 5 x 63 values): ties and near-ties."""
    from tuneboard_trainer.quant.triton_nf4_quantize import decision_values

    code = nf4_code()
    points = torch.cat([torch.tensor(decision_values()), (code[:-1] + code[1:]) / 2,
                        ((code[:-1].double() + code[1:].double()) / 2).float()])  # (45,)
    near = (points.view(torch.int32)[:, None] + torch.arange(-3, 4, dtype=torch.int32)).view(torch.float32)
    return torch.cat([torch.ones(5, 1), near.reshape(5, 63)], dim=1).reshape(-1)  # (320,)


@pytest.mark.parametrize("scale", [1.0, -1.0, 2.0**-20, 2.0**60])
def test_ties_on_cuda(scale):
    _same((_near_the_steps() * scale).to(CUDA))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_special_values_on_cuda(dtype):
    """Zero and subnormal blocks, the dtype's extremes, NaN, inf: the GPU's division, max and conversions must
    round (and not flush subnormals) as the reference's do."""
    info = torch.finfo(dtype)
    r = torch.randn(64, generator=torch.Generator().manual_seed(2))
    nan_block, inf_block = r.clone(), r.clone()
    nan_block[5] = float("nan")
    inf_block[9], inf_block[10] = float("inf"), -float("inf")
    tiny = torch.tensor([1, 3, 7, 100, 5000, 2**20, 0x6CE3EE, 0x6CE3EF], dtype=torch.int32).view(torch.float32)
    blocks = [torch.zeros(64), -torch.zeros(64), r * info.tiny * 0.5, r * info.tiny * 8,
              torch.full((64,), info.smallest_normal), r / r.abs().max() * info.max, torch.full((64,), -info.max),
              nan_block, inf_block, torch.cat([tiny, -tiny]).repeat(4), r]
    x = torch.cat(blocks).to(dtype).to(CUDA)
    _same(x)
    _same(x[:-37])


def test_reference_is_the_same_on_cpu_and_cuda():
    """The torch reference itself (which the kernel must equal) gives the CPU's bytes on CUDA."""
    x = (torch.randn(513, 1031, generator=torch.Generator().manual_seed(3)) * 0.02).to(torch.bfloat16)
    cpu, gpu = _reference(x), _blocks(x.to(CUDA))
    assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())


def test_quantize_nf4_kernel_path_equals_the_reference_path(monkeypatch):
    w = (torch.randn(4096, 14336, generator=torch.Generator().manual_seed(4)) * 0.02).to(torch.bfloat16).to(CUDA)
    fast = quantize_nf4(w)
    monkeypatch.setattr(nf4, "QUANTIZE_KERNEL_DEVICES", set())
    ref = quantize_nf4(w)
    for name in ("packed", "absmax", "nested_absmax", "nested_code", "code"):
        assert torch.equal(getattr(fast, name), getattr(ref, name)), name
    assert (fast.offset, fast.shape, fast.dtype) == (ref.offset, ref.shape, ref.dtype)


def test_flat_weight_past_2_31_elements():
    """int64 offsets: the last blocks of a 2**31 + 99 element weight (4 GiB of bf16) against the reference on
    that tail (a block-aligned slice has the same blocks)."""
    n = 2**31 + 99
    if torch.cuda.get_device_properties(CUDA).total_memory < 12 * 2**30:
        pytest.skip("needs 12 GiB of GPU memory")
    x = torch.empty(n, dtype=torch.bfloat16, device=CUDA)
    x[: 2**20].normal_()
    x[-(2**20):].normal_(std=0.02)
    x[2**20:-(2**20)] = 0.5
    packed, absmax = _blocks(x)
    start = (n - 2**20) // 64 * 64
    ref_packed, ref_absmax = _reference(x[start:])
    assert torch.equal(packed[start // 2:], ref_packed) and torch.equal(absmax[start // 64:], ref_absmax)
    head_packed, head_absmax = _reference(x[: 2**20])
    assert torch.equal(packed[: 2**19], head_packed) and torch.equal(absmax[: 2**14], head_absmax)
    assert torch.all(packed[2**19 + 32: start // 2 - 32] == 0xFF)  # 0.5 / 0.5 = 1: index 15 in both nibbles


def test_timing_of_both_paths(monkeypatch):
    """Prints ms per 8B-sized projection (4096 x 14336 bf16) for the kernel and the torch path (-s to see it)."""
    w = (torch.randn(4096, 14336, generator=torch.Generator().manual_seed(5)) * 0.02).to(torch.bfloat16).to(CUDA)

    def ms(fn, reps=10):
        fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / reps

    kernel = ms(lambda: _blocks(w))
    full = ms(lambda: quantize_nf4(w))
    monkeypatch.setattr(nf4, "QUANTIZE_KERNEL_DEVICES", set())
    torch_path = ms(lambda: quantize_nf4(w))
    gbs = w.numel() * 2.5 / kernel / 1e6  # bf16 read + 4 bits written
    print(f"\nNF4 quantize 4096x14336 bf16 on {torch.cuda.get_device_name()}: kernel {kernel:.3f} ms ({gbs:.0f} GB/s), "
          f"quantize_nf4 with it {full:.3f} ms, torch path {torch_path:.3f} ms")


@pytest.mark.parametrize("shape", [(4096, 4096), (37, 640), (300, 128)])
def test_quantize_rows_on_the_gpu_is_the_cpu_reference(shape):
    """The chat loader's quantize (NF4 kernel, mean, nested kernel; no host sync) against the CPU reference's
    to_rows(quantize_nf4(.)): the same bytes and scales, bit for bit (the nested kernel must not fuse its
    multiply and add)."""
    from tuneboard_trainer.quant.nf4_rows import quantize_rows, to_rows

    x = (torch.randn(shape, generator=torch.Generator().manual_seed(shape[1])) * 0.02).to(torch.bfloat16)
    x[0, :64] *= 30
    want = to_rows(quantize_nf4(x))
    got = quantize_rows(x.to(CUDA))
    assert torch.equal(got.packed.cpu(), want.packed)
    assert torch.equal(got.scale.cpu().view(torch.int32), want.scale.view(torch.int32))
