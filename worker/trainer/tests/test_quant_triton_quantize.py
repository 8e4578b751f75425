"""The NF4 quantize kernel (triton_nf4_quantize.py) against the torch reference (nf4.py), bit for bit, on the CPU
under the Triton interpreter (triton_helpers.py says how to run it); test_gpu_quant_nf4_quantize.py repeats the
comparison on CUDA. The interpreter divides with numpy (IEEE), so the PTX test checks that the compiled kernel
divides with IEEE rounding too (div.rn.f32, no flush-to-zero)."""

import pytest
import torch

from triton_helpers import needs_interpreter
from tuneboard_trainer.quant import nf4
from tuneboard_trainer.quant.nf4 import _nearest_chunk, _quantize_blocks, nf4_code, quantize_nf4

pytestmark = needs_interpreter

DTYPES = [torch.bfloat16, torch.float16, torch.float32]


def _kernel():
    from tuneboard_trainer.quant import triton_nf4_quantize

    return triton_nf4_quantize


def _bits(t):
    return t.contiguous().view(torch.int32)


def _check(x, blocksize=64):
    """The kernel's packed bytes and fp32 absmax equal the reference's, bit for bit."""
    packed, absmax = _kernel().nf4_quantize_blocks(x.reshape(-1), blocksize)
    ref_packed, ref_absmax = _quantize_blocks(x.float().reshape(-1), nf4_code(), blocksize)
    n = x.numel()
    assert packed.shape == ((n + 1) // 2,) and packed.dtype == torch.uint8
    assert absmax.shape == ((n + blocksize - 1) // blocksize,) and absmax.dtype == torch.float32
    assert torch.equal(packed, ref_packed)
    assert torch.equal(_bits(absmax), _bits(ref_absmax))
    return packed


@pytest.mark.parametrize("dtype", DTYPES)
# n odd, below a block, a multiple of 64 or not, more than one program's tile (2048 elements)
@pytest.mark.parametrize("shape", [(1,), (7,), (63,), (64,), (65,), (129, 67), (3, 1000), (41, 129), (6147,)])
def test_random_weights_match_the_reference(shape, dtype):
    g = torch.Generator().manual_seed(sum(shape))
    _check((torch.randn(shape, generator=g) * 0.05).to(dtype))


@pytest.mark.parametrize("blocksize", [2, 32, 128, 256, 2048, 4096])
def test_other_block_sizes(blocksize):
    g = torch.Generator().manual_seed(blocksize)
    _check(torch.randn(3 * blocksize + 5, generator=g).to(torch.bfloat16), blocksize)


def _ulps(values, k):
    """Every fp32 within k ulps of each of `values` (fp32 (m,)) -> (m * (2k + 1),)."""
    steps = torch.arange(-k, k + 1, dtype=torch.int32)
    return (values.float().view(torch.int32)[:, None] + steps[None, :]).view(torch.float32).reshape(-1)


def _near_the_steps():
    """fp32 values around every place the nearest code changes: the decision values, the fp32 midpoints of
    neighbouring codes and the exact midpoints rounded to fp32, a few ulps either side; plus the codes."""
    code = nf4_code()
    exact_mids = ((code[:-1].double() + code[1:].double()) / 2).float()
    points = torch.cat([torch.tensor(_kernel().decision_values()), (code[:-1] + code[1:]) / 2, exact_mids])
    return torch.cat([_ulps(points, 3), code])


def _scaled_blocks(values, absmax):
    """fp32 blocks of 64 whose first element is `absmax`, followed by 63 of `values` * absmax each (absmax a
    power of two: the kernel's division gives `values` back exactly)."""
    rows = (values.numel() + 62) // 63
    body = torch.nn.functional.pad(values, (0, rows * 63 - values.numel())).view(rows, 63) * absmax
    return torch.cat([torch.full((rows, 1), absmax), body], dim=1).reshape(-1)


@pytest.mark.parametrize("absmax", [1.0, -1.0, 2.0**-20, 2.0**60])
def test_values_on_and_around_the_midpoints(absmax):
    """Ties go to the lower index, and every value at and next to a step lands where the reference puts it."""
    values = _near_the_steps()
    packed = _check(_scaled_blocks(values, abs(absmax)) * (1 if absmax > 0 else -1))
    if absmax == 1.0:
        idx = torch.stack([packed >> 4, packed & 15], 1).reshape(-1)[: 64 * ((values.numel() + 62) // 63)]
        got = idx.view(-1, 64)[:, 1:].reshape(-1)[: values.numel()].long()
        d = (values[:, None] - nf4_code()[None, :]).abs()
        assert torch.equal(got, d.argmin(dim=1))  # argmin: the first (lowest) index of the smallest distance
        ties = (d == d.min(dim=1, keepdim=True).values).sum(1) > 1
        assert ties.sum() >= 4  # exact ties are among the values (the positive midpoints are exact in fp32)


def test_decision_values_reproduce_the_reference_everywhere():
    """#{j : s >= step[j]} is the reference's index for fp32 s across [-1, 1] (every 1021st bit pattern, and
    densely around the steps) and equals the exact argmin over the 16 codes, ties to the lower index."""
    steps = torch.tensor(_kernel().decision_values())
    assert steps.shape == (15,) and torch.all(steps[1:] > steps[:-1])
    grid = torch.arange(0, 0x3F800000 + 2048, 1021, dtype=torch.int32).view(torch.float32)
    # Scaled values lie in [-1, 1] (or are NaN); far above 1 the reference's fp32 distances to codes 14 and 15
    # round equal and its tie rule would pick 14.
    s = torch.cat([grid, -grid, _ulps(steps, 2000), torch.tensor([1.5, -1.5, -3e38])])
    counted = (~(s[:, None] < steps[None, :])).sum(1)
    assert torch.equal(counted, _nearest_chunk(s, nf4_code()))
    inside = s.abs() <= 1
    brute = (s[inside, None] - nf4_code()[None, :]).abs().argmin(dim=1)
    assert torch.equal(counted[inside], brute)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zeros_tiny_and_huge_blocks(dtype):
    info = torch.finfo(dtype)
    g = torch.Generator().manual_seed(1)
    r = torch.randn(64, generator=g)
    blocks = [
        torch.zeros(64), -torch.zeros(64), torch.cat([torch.zeros(63), torch.tensor([-0.0])]),
        r * info.tiny * 0.5,  # subnormal weights (in fp32: below the 1e-38 absmax floor)
        r * info.tiny * 8, torch.full((64,), info.smallest_normal),
        r / r.abs().max() * info.max, torch.full((64,), -info.max),  # the largest magnitudes of the dtype
        torch.cat([torch.tensor([info.max]), r[1:] * 1e-3]),  # one huge value: the rest scale to ~0
        r * 1e4 if dtype != torch.float16 else r * 1e3,
    ]
    _check(torch.cat(blocks).to(dtype))
    _check(torch.cat(blocks).to(dtype)[:-37])


def test_subnormal_fp32_blocks_under_the_floor():
    """Blocks whose absmax is below 1e-38 divide by the floor (an fp32 subnormal): exact only without
    flush-to-zero."""
    tiny = torch.tensor([1, 3, 7, 100, 5000, 2**20, 0x6CE3EE, 0x6CE3EF], dtype=torch.int32).view(torch.float32)
    block = torch.cat([tiny, -tiny]).repeat(4)  # (64,)
    _check(torch.cat([block, block * 0.5, block * 3]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_blocks(dtype):
    """A NaN block: absmax NaN and every index 15 (the reference's bucketize puts NaN last); an inf block: absmax
    inf, finite values to index 7, the infinities to 15."""
    g = torch.Generator().manual_seed(2)
    blocks = torch.randn(4, 64, generator=g)
    blocks[0, 5] = float("nan")
    blocks[1, 9], blocks[1, 10] = float("inf"), -float("inf")
    blocks[2, 0] = -float("inf")
    x = blocks.reshape(-1).to(dtype)
    packed, absmax = _kernel().nf4_quantize_blocks(x)
    ref_packed, ref_absmax = _quantize_blocks(x.float(), nf4_code(), 64)
    assert torch.equal(packed, ref_packed)
    assert torch.equal(absmax.isnan(), ref_absmax.isnan()) and absmax[0].isnan()
    assert torch.equal(absmax[1:], ref_absmax[1:])


@pytest.fixture
def kernel_on_cpu(monkeypatch):
    monkeypatch.setattr(nf4, "QUANTIZE_KERNEL_DEVICES", {"cpu", "cuda"})
    k = _kernel()
    calls = []
    real = k.nf4_quantize_blocks
    monkeypatch.setattr(k, "nf4_quantize_blocks", lambda *a, **kw: calls.append(a[0].numel()) or real(*a, **kw))
    return calls


@pytest.mark.parametrize("shape,dtype", [((129, 67), torch.bfloat16), ((3, 5, 70), torch.float16),
                                         ((1001,), torch.float32), ((300, 515), torch.bfloat16)])
def test_quantize_nf4_through_the_kernel_equals_the_reference(shape, dtype, kernel_on_cpu, monkeypatch):
    g = torch.Generator().manual_seed(3)
    w = (torch.randn(shape, generator=g) * 0.02).to(dtype)
    fast = quantize_nf4(w)
    assert kernel_on_cpu == [w.numel()]
    monkeypatch.setattr(nf4, "QUANTIZE_KERNEL_DEVICES", set())
    ref = quantize_nf4(w)
    assert len(kernel_on_cpu) == 1
    _same_weight(fast, ref)


def test_quantize_nf4_of_a_transposed_weight(kernel_on_cpu, monkeypatch):
    g = torch.Generator().manual_seed(4)
    w = torch.randn(70, 130, generator=g).to(torch.bfloat16).t()  # not contiguous
    fast = quantize_nf4(w)
    assert kernel_on_cpu
    monkeypatch.setattr(nf4, "QUANTIZE_KERNEL_DEVICES", set())
    _same_weight(fast, quantize_nf4(w))


def _same_weight(a, b):
    for name in ("packed", "absmax", "nested_absmax", "nested_code", "code"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y), name
    assert (a.offset, a.shape, a.dtype, a.blocksize, a.nested_blocksize) == (
        b.offset, b.shape, b.dtype, b.blocksize, b.nested_blocksize)


_PTX = """
import sys, triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from tuneboard_trainer.quant import triton_nf4_quantize as k
signature = {"x_ptr": "*" + sys.argv[1], "packed_ptr": "*u8", "absmax_ptr": "*fp32", "steps_ptr": "*fp32",
             "n": "i32", "nbytes": "i32", "nblocks": "i32", "FLOOR_BITS": "constexpr", "BLOCKS": "constexpr",
             "BLOCKSIZE": "constexpr"}
constexprs = {"FLOOR_BITS": k._floor_bits(), "BLOCKS": k.TILE // 64, "BLOCKSIZE": 64}
aligned = {(i,): [["tt.divisibility", 16]] for i in range(7)}  # as a launch with n % 32 == 0 specializes
src = ASTSource(k._nf4_quantize_kernel, signature, constexprs=constexprs, attrs=aligned)
print(triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": k.NUM_WARPS}).asm["ptx"])
"""


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "fp32"])
def test_compiled_kernel_divides_with_ieee_rounding(dtype):
    """Compiled for an H100 (sm_90; the PTX needs no GPU, so a subprocess without the interpreter makes it): the
    division is div.rn.f32 (a plain `/` on fp32 gives the approximate div.full.f32), nothing flushes subnormals
    to zero, and the loads and stores are vectorized."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    ptx = subprocess.run([sys.executable, "-c", _PTX, dtype], env=env, capture_output=True, text=True, check=True,
                         timeout=300).stdout
    assert "div.rn.f32" in ptx
    for approximate in ("div.full", "div.approx", "rcp.approx", ".ftz"):
        assert approximate not in ptx
    assert "ld.global.v4.b32" in ptx and "st.global.v2.b32" in ptx


def test_the_dynamic_maps_decision_values_reproduce_the_reference():
    """The double quantization's 255 steps: #{j : s >= step[j]} is the reference's nearest index into the
    dynamic map across [-1, 1] (every 4093rd bit pattern, and densely around the steps)."""
    from tuneboard_trainer.quant.nf4 import dynamic_map

    steps = torch.tensor(_kernel().decision_values("dynamic"))
    assert steps.shape == (255,) and torch.all(steps[1:] > steps[:-1])
    grid = torch.arange(0, 0x3F800000 + 2048, 4093, dtype=torch.int32).view(torch.float32)
    s = torch.cat([grid, -grid, _ulps(steps, 40)])
    counted = (~(s[:, None] < steps[None, :])).sum(1)
    assert torch.equal(counted, _nearest_chunk(s, dynamic_map()))


@pytest.mark.parametrize("shape", [(64, 64), (37, 640), (300, 128), (1, 64 * 256 * 2 + 64)])
def test_the_nested_kernel_gives_the_block_absmax_of_quantize_nf4(shape):
    """Double quantization applied and undone in one kernel: NF4Weight.block_absmax() bit for bit, for any
    number of blocks (a last nested block of fewer than 256)."""
    g = torch.Generator().manual_seed(shape[0])
    x = torch.randn(shape, generator=g) * 0.05
    x[0, :64] *= 40  # one block far above the mean: its nested block's scale is set by it
    w = quantize_nf4(x)
    _, absmax = _quantize_blocks(x.float().reshape(-1), nf4_code(), 64)
    offset = absmax.double().mean().float().view(1)
    assert offset.item() == w.offset
    got = _kernel().nested_block_absmax(absmax, offset)
    assert torch.equal(_bits(got), _bits(w.block_absmax()))


def test_quantize_rows_is_to_rows_of_quantize_nf4(monkeypatch):
    from tuneboard_trainer.quant.nf4_rows import quantize_rows, to_rows

    x = (torch.randn(48, 320, generator=torch.Generator().manual_seed(4)) * 0.05).to(torch.bfloat16)
    want = to_rows(quantize_nf4(x))
    monkeypatch.setattr(nf4, "QUANTIZE_KERNEL_DEVICES", {"cpu"})
    got = quantize_rows(x)
    assert torch.equal(got.packed, want.packed) and torch.equal(_bits(got.scale), _bits(want.scale))
    assert got.dtype == want.dtype and torch.equal(got.code, want.code)
