"""NF4 quantization (nf4.py's bitsandbytes layout) in one Triton kernel, bit-identical to the torch reference.

`nf4_quantize_blocks(flat, blocksize)` returns what quantize_nf4 computes before the double quantization: the
packed indices (ceil(n / 2),) uint8 and the fp32 absmax per block. Each program owns a (BLOCKS, BLOCKSIZE) tile
of consecutive blocks, read once in the input's dtype:
- absmax: the max of |x| taken on the fp32 bit patterns (sign cleared), which order like the values and let a
  NaN win as torch's amax does; masked-off elements read 0 and never raise it.
- scaled = x / max(absmax, 1e-38) with IEEE rounding (tl.math.div_rn; a plain `/` on fp32 lowers to the
  approximate div.full.f32 on NVIDIA GPUs).
- index: the reference's nearest code (bucketize against the midpoints, then the neighbours compared by fp32
  distance, ties to the lower index) is a step function of the fp32 scaled value; `decision_values()` finds its
  15 steps from the reference itself, so the index is the count of steps at or below the value (NaN counts all,
  as bucketize puts it last). Out-of-range values saturate at 0 and 15, so the reference's clamp changes nothing.
- packing: element 2i in the high nibble, 2i + 1 in the low one; the padding after n is index 0.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from .nf4 import BLOCK, NESTED_BLOCK, _constants, _nearest_chunk, dynamic_map, nf4_code

TILE = 2048  # elements per program (BLOCKS = TILE // blocksize blocks of the weight, at least one)
NUM_WARPS = 4
ABSMAX_FLOOR = 1e-38  # the reference's absmax.clamp(min=1e-38), an fp32 subnormal


@triton.jit
def _nf4_quantize_kernel(x_ptr, packed_ptr, absmax_ptr, steps_ptr, n, nbytes, nblocks, FLOOR_BITS: tl.constexpr,
                         BLOCKS: tl.constexpr, BLOCKSIZE: tl.constexpr):
    HALF: tl.constexpr = BLOCKSIZE // 2
    blk = tl.program_id(0).to(tl.int64) * BLOCKS + tl.arange(0, BLOCKS)  # (BLOCKS,) block numbers
    offs = blk[:, None] * BLOCKSIZE + tl.arange(0, BLOCKSIZE)[None, :]  # (BLOCKS, BLOCKSIZE) element offsets
    inside = offs < n
    raw = tl.load(x_ptr + offs, mask=inside, other=0.0)  # (BLOCKS, BLOCKSIZE) in the input's dtype
    if x_ptr.dtype.element_ty == tl.bfloat16:  # exact by the bits (Triton's interpreter mangles subnormal bf16)
        x = (raw.to(tl.int16, bitcast=True).to(tl.int32) << 16).to(tl.float32, bitcast=True)
    else:
        x = raw.to(tl.float32)

    mag = x.to(tl.int32, bitcast=True) & 0x7FFFFFFF  # |x| as bits: monotone in |x|, NaN above inf
    amax_bits = tl.max(mag, axis=1)  # (BLOCKS,)
    tl.store(absmax_ptr + blk, amax_bits.to(tl.float32, bitcast=True), mask=blk < nblocks)
    divisor = tl.maximum(amax_bits, FLOOR_BITS).to(tl.float32, bitcast=True)  # max(absmax, 1e-38), NaN kept
    scaled = tl.math.div_rn(x, divisor[:, None])  # (BLOCKS, BLOCKSIZE), IEEE-rounded

    idx = tl.zeros((BLOCKS, BLOCKSIZE), dtype=tl.int32)
    for j in tl.static_range(15):
        idx += tl.where(scaled < tl.load(steps_ptr + j), 0, 1)  # not "<": a NaN counts (index 15)
    idx = tl.where(inside, idx, 0)  # the padding after n is index 0

    hi, lo = tl.split(tl.reshape(idx, (BLOCKS, HALF, 2)))  # (BLOCKS, HALF) each: elements 2i and 2i + 1
    byte = blk[:, None] * HALF + tl.arange(0, HALF)[None, :]  # (BLOCKS, HALF) byte offsets
    tl.store(packed_ptr + byte, ((hi << 4) | lo).to(tl.uint8), mask=byte < nbytes)  # nbytes = ceil(n / 2)


@functools.lru_cache(maxsize=None)
def decision_values(table: str = "nf4") -> tuple[float, ...]:
    """The fp32 values at which the reference's nearest index into a sorted code steps up (15 for "nf4", 255
    for the double quantization's "dynamic" map): the reference maps s to #{j : s >= steps[j]} for every fp32 s
    (for NF4 checked over all of [-1, 1]; the nearest index of a sorted code never steps down, so one step per
    midpoint is all there is). Each step lies within an ulp or two of the fp32 midpoint of two codes; found by
    running the reference (nf4._nearest_chunk) on the 129 fp32 values around that midpoint."""
    code = nf4_code() if table == "nf4" else dynamic_map()
    mids = (code[:-1] + code[1:]) / 2
    steps = []
    for j, mid in enumerate(mids):
        around = (mid.view(torch.int32) + torch.arange(-64, 65, dtype=torch.int32)).view(torch.float32).sort().values
        up = _nearest_chunk(around, code) > j  # (129,): False ... False True ... True
        first = int(up.int().argmax())
        if not (up[first:].all() and not up[:first].any() and 0 < first):
            raise AssertionError(f"the nearest NF4 index does not step once near {mid.item()}")
        steps.append(around[first].item())
    return tuple(steps)


@functools.lru_cache(maxsize=None)
def _steps_tensor(device: torch.device, table: str = "nf4") -> torch.Tensor:
    return torch.tensor(decision_values(table), dtype=torch.float32, device=device)


def _floor_bits() -> int:
    return int(torch.tensor(ABSMAX_FLOOR, dtype=torch.float32).view(torch.int32))


def supports_blocksize(blocksize: int) -> bool:
    """The tile needs a power of two (bitsandbytes' block sizes all are)."""
    return blocksize >= 2 and blocksize & (blocksize - 1) == 0


def nf4_quantize_blocks(flat: torch.Tensor, blocksize: int = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """flat (n,) bf16 / fp16 / fp32 (other float dtypes go through fp32) -> (packed uint8 (ceil(n / 2),),
    absmax fp32 (ceil(n / blocksize),)), exactly as quantize_nf4 computes them."""
    if not supports_blocksize(blocksize):
        raise ValueError(f"NF4 quantize kernel: block size {blocksize} is not a power of two")
    if flat.dtype not in (torch.bfloat16, torch.float16, torch.float32):
        flat = flat.float()
    flat = flat.reshape(-1).contiguous()
    n = flat.numel()
    nblocks = triton.cdiv(n, blocksize)
    packed = torch.empty((n + 1) // 2, dtype=torch.uint8, device=flat.device)
    absmax = torch.empty(nblocks, dtype=torch.float32, device=flat.device)
    if n == 0:
        return packed, absmax
    blocks = max(1, TILE // blocksize)
    grid = (triton.cdiv(nblocks, blocks),)
    _nf4_quantize_kernel[grid](flat, packed, absmax, _steps_tensor(flat.device), n, packed.numel(), nblocks,
                               FLOOR_BITS=_floor_bits(), BLOCKS=blocks, BLOCKSIZE=blocksize, num_warps=NUM_WARPS)
    return packed, absmax


@triton.jit
def _nested_absmax_kernel(absmax_ptr, offset_ptr, steps_ptr, nested_code_ptr, out_ptr, nblocks,
                          FLOOR_BITS: tl.constexpr, NESTED: tl.constexpr, NSTEPS: tl.constexpr):
    """One block of NESTED absmax values: v = absmax - offset, its 8-bit dynamic-map index against its block's
    max |v|, and back: out = code[index] * max |v| + offset, each operation rounded as torch rounds it."""
    offs = tl.program_id(0).to(tl.int64) * NESTED + tl.arange(0, NESTED)
    inside = offs < nblocks
    offset = tl.load(offset_ptr)
    v = tl.where(inside, tl.load(absmax_ptr + offs, mask=inside, other=0.0) - offset, 0.0)  # zero padding
    amax_bits = tl.max(v.to(tl.int32, bitcast=True) & 0x7FFFFFFF, axis=0)
    amax = amax_bits.to(tl.float32, bitcast=True)
    scaled = tl.math.div_rn(v, tl.maximum(amax_bits, FLOOR_BITS).to(tl.float32, bitcast=True))
    idx = tl.zeros((NESTED,), dtype=tl.int32)
    for j in range(NSTEPS):
        idx += tl.where(scaled < tl.load(steps_ptr + j), 0, 1)
    out = tl.load(nested_code_ptr + idx) * amax + offset  # two roundings: the launch turns FMA fusion off
    tl.store(out_ptr + offs, out, mask=inside)


def nested_block_absmax(absmax: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """What NF4Weight.block_absmax() returns for a weight whose fp32 block absmax values are `absmax` (nblocks,)
    and whose offset (their mean, rounded to fp32) is the one-element tensor `offset`: the double quantization
    applied and undone in one kernel, with no host sync (quantize_nf4 turns the offset into a float)."""
    nblocks = absmax.numel()
    out = torch.empty(nblocks, dtype=torch.float32, device=absmax.device)
    if nblocks == 0:
        return out
    nested_code = _constants(absmax.device)[1]
    _nested_absmax_kernel[(triton.cdiv(nblocks, NESTED_BLOCK),)](
        absmax.contiguous(), offset, _steps_tensor(absmax.device, "dynamic"), nested_code, out, nblocks,
        FLOOR_BITS=_floor_bits(), NESTED=NESTED_BLOCK, NSTEPS=nested_code.numel() - 1, num_warps=4,
        enable_fp_fusion=False)
    return out
