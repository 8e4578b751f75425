"""NF4 (QLoRA's 4-bit NormalFloat) in the exact layout bitsandbytes stores, in plain torch (CPU and GPU).

Format (bitsandbytes `quantize_4bit(quant_type="nf4", blocksize=64, compress_statistics=True)`):
- The weight is flattened row-major into blocks of 64 values (the last block may be shorter). Each block is
  scaled by its absmax into [-1, 1], and each value becomes the index (0..15) of the nearest of the 16 NF4 code
  values (ties go to the lower index).
- Two indices per byte: element 2i in the high nibble, element 2i+1 in the low nibble; an odd count is padded
  with index 0 in the last low nibble. Stored as uint8 of shape (ceil(n / 2), 1), as bitsandbytes' Params4bit.
- Double quantization of the absmax (fp32, one per block): offset = mean(absmax); (absmax - offset) is quantized
  8-bit blockwise, 256 values per block, each block scaled by its own absmax (`nested_absmax`, fp32) onto the
  256-value signed dynamic map (`nested_quant_map`). Dequantized absmax = map[q] * nested_absmax[block] + offset.
- Dequantized weight = code[index] * absmax[block], computed in fp32, then cast to the checkpoint dtype.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Optional

import torch

BLOCK = 64  # values per NF4 block
NESTED_BLOCK = 256  # absmax values per block of the double quantization

# The 16 NF4 code values of bitsandbytes (`get_4bit_type("nf4")`; QLoRA's normal-quantile levels, sorted).
NF4_CODE = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
)


def nf4_code(device=None) -> torch.Tensor:
    """The 16 NF4 values, fp32 (16,)."""
    return torch.tensor(NF4_CODE, dtype=torch.float32, device=device)


def dynamic_map(device=None) -> torch.Tensor:
    """bitsandbytes' signed 8-bit dynamic map (`create_dynamic_map()`: 7 exponent steps), fp32 (256,) sorted.

    For exponent step i in 0..6 it holds the 2**i midpoints of a linear grid of 2**i + 1 points over [0.1, 1],
    scaled by 10**(i - 6), with both signs; plus 0 and 1. 2 * 127 + 2 = 256 values.
    """
    values: list[float] = []
    for i in range(7):
        grid = torch.linspace(0.1, 1, 2**i + 1)
        mids = (grid[:-1] + grid[1:]) / 2.0
        step = (10 ** (i - 6)) * mids  # fp32 arithmetic, as the reference map is built
        values += step.tolist() + (-step).tolist()
    values += [0.0, 1.0]
    return torch.tensor(sorted(values), dtype=torch.float32, device=device)


CHUNK = 1 << 22  # elements per step of nearest_index: bounds its int64 / fp32 temporaries to about 100 MB


def nearest_index(x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Index of the nearest value of the sorted `code` for every element of `x` (n,) (ties: the lower index),
    uint8 (n,). Computed in chunks, so that quantizing a large layer on a small GPU needs little extra memory."""
    out = torch.empty(x.numel(), dtype=torch.uint8, device=x.device)
    for start in range(0, x.numel(), CHUNK):
        out[start:start + CHUNK] = _nearest_chunk(x[start:start + CHUNK], code)
    return out


def _nearest_chunk(x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """bucketize against the midpoints finds the candidate; the neighbours are compared by distance so that the
    result is exactly argmin |x - code| even where a midpoint rounds differently from the distances."""
    mids = (code[:-1] + code[1:]) / 2
    idx = torch.bucketize(x, mids)
    best = idx
    best_d = (x - code[idx]).abs()
    for shift in (-1, 1):
        cand = (idx + shift).clamp(0, code.numel() - 1)
        d = (x - code[cand]).abs()
        better = (d < best_d) | ((d == best_d) & (cand < best))
        best = torch.where(better, cand, best)
        best_d = torch.where(better, d, best_d)
    return best


def _blockwise(flat: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per block of `block` values (last one possibly shorter): (absmax (nblocks,), x / absmax clamped to [-1, 1])."""
    n = flat.numel()
    nblocks = (n + block - 1) // block
    padded = torch.nn.functional.pad(flat, (0, nblocks * block - n)).view(nblocks, block)
    absmax = padded.abs().amax(dim=1)  # zero padding never raises an absmax
    scaled = (padded / absmax.clamp(min=1e-38)[:, None]).clamp(-1, 1).reshape(-1)[:n]
    return absmax, scaled


def _scale_blocks(values: torch.Tensor, scales: torch.Tensor, block: int) -> torch.Tensor:
    """values (n,) fp32 times the scale of their block, (n,) fp32."""
    n = values.numel()
    padded = torch.nn.functional.pad(values, (0, scales.numel() * block - n))  # (nblocks * block,)
    return (padded.view(-1, block) * scales[:, None]).reshape(-1)[:n]


@dataclass
class NF4Weight:
    """A weight in bitsandbytes' NF4 layout (double-quantized statistics)."""

    packed: torch.Tensor  # uint8 (ceil(n / 2), 1): two 4-bit indices per byte, high nibble first
    absmax: torch.Tensor  # uint8 (nblocks,): per-64 block absmax, 8-bit quantized after subtracting `offset`
    # (fp32 when nested_absmax is None: a checkpoint saved without double quantization)
    nested_absmax: Optional[torch.Tensor]  # fp32 (ceil(nblocks / 256),): scale of each block of 256 absmax values
    nested_code: Optional[torch.Tensor]  # fp32 (256,): the dynamic map the absmax indices point into
    offset: float  # mean of the fp32 absmax values
    code: torch.Tensor  # fp32 (16,): the NF4 values
    shape: tuple  # the weight's shape, e.g. (out, in)
    dtype: torch.dtype  # the dtype dequantize returns (the checkpoint's dtype)
    blocksize: int = BLOCK
    nested_blocksize: int = NESTED_BLOCK

    def to(self, device) -> "NF4Weight":
        nested = {} if self.nested_absmax is None else {"nested_absmax": self.nested_absmax.to(device),
                                                          "nested_code": self.nested_code.to(device)}
        return replace(self, packed=self.packed.to(device), absmax=self.absmax.to(device),
                       code=self.code.to(device), **nested)

    def block_absmax(self) -> torch.Tensor:
        """The dequantized per-block absmax, fp32 (nblocks,)."""
        if self.nested_absmax is None:
            return self.absmax.float()
        centered = _scale_blocks(self.nested_code[self.absmax.long()], self.nested_absmax, self.nested_blocksize)
        return centered + self.offset

    def indices(self) -> torch.Tensor:
        """The 4-bit indices, int64 (n,)."""
        flat = self.packed.reshape(-1)
        pairs = torch.stack([flat >> 4, flat & 0x0F], dim=1).reshape(-1)  # (2 * bytes,)
        return pairs[: _numel(self.shape)].long()

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The weight, shape `self.shape`, in `dtype` (default: the checkpoint dtype). Rounded to the checkpoint
        dtype first, as bitsandbytes dequantizes, then cast."""
        values = _scale_blocks(self.code[self.indices()], self.block_absmax(), self.blocksize)  # fp32 (n,)
        return values.view(self.shape).to(self.dtype).to(dtype or self.dtype)

    def offset_tensor(self) -> torch.Tensor:
        """`offset` as an fp32 (1,) tensor next to the packed bytes (0 without double quantization), made once: the
        GPU kernels read it from memory, so one compiled region or CUDA graph serves layers of different offsets."""
        t = self.__dict__.get("_offset_tensor")
        if t is None or t.device != self.packed.device:
            t = torch.tensor([self.offset if self.nested_absmax is not None else 0.0], dtype=torch.float32,
                             device=self.packed.device)
            self.__dict__["_offset_tensor"] = t
        return t

    def nbytes(self) -> int:
        parts = (self.packed, self.absmax) + (() if self.nested_absmax is None else (self.nested_absmax,))
        return sum(t.numel() * t.element_size() for t in parts)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def quantize_blockwise_8bit(x: torch.Tensor, code: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (n,) fp32 -> (uint8 indices into `code` (n,), fp32 absmax per block (ceil(n / block),))."""
    absmax, scaled = _blockwise(x.float().reshape(-1), block)
    return nearest_index(scaled, code), absmax


QUANTIZE_KERNEL_DEVICES = {"cuda"}  # where quantize_nf4 runs the Triton kernel (when triton is installed)


def _use_kernel(weight: torch.Tensor, blocksize: int) -> bool:
    if weight.device.type not in QUANTIZE_KERNEL_DEVICES or weight.numel() == 0:
        return False
    from .kernels import triton_available

    return triton_available() and blocksize >= 2 and blocksize & (blocksize - 1) == 0


def _quantize_blocks(flat: torch.Tensor, code: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: flat (n,) fp32 -> (packed uint8 (ceil(n / 2),), absmax fp32 (nblocks,))."""
    absmax, scaled = _blockwise(flat, blocksize)  # (nblocks,), (n,)
    idx = nearest_index(scaled, code)  # uint8 (n,)
    if idx.numel() % 2:
        idx = torch.nn.functional.pad(idx, (0, 1))
    return (idx[0::2] << 4) | idx[1::2], absmax


@functools.lru_cache(maxsize=None)
def _constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(NF4 code, dynamic map) on `device`, made once per device: quantizing a checkpoint on load calls
    quantize_nf4 per projection from several reading threads, and each fresh table is a host-to-device copy that
    waits for the host. The tensors are shared: nothing writes into a weight's code or nested code."""
    return nf4_code(device), dynamic_map(device)


def absmax_offset(absmax: torch.Tensor) -> torch.Tensor:
    """The double quantization's offset: the mean of the fp32 block absmax values, a 0-dim fp32 tensor on their
    device. The mean in float64, rounded once: the same fp32 offset on every device (an fp32 sum's order
    differs between the CPU and CUDA reductions, and the offset shifts every nested index)."""
    return absmax.double().mean().float()


@torch.no_grad()
def quantize_nf4(weight: torch.Tensor, blocksize: int = BLOCK) -> NF4Weight:
    """Any float tensor -> NF4Weight on the same device (shape and dtype remembered for dequantize)."""
    code, nested_code = _constants(weight.device)
    if _use_kernel(weight, blocksize):
        from .triton_nf4_quantize import nf4_quantize_blocks

        packed, absmax = nf4_quantize_blocks(weight.detach().reshape(-1), blocksize)  # the same values, one pass
    else:
        packed, absmax = _quantize_blocks(weight.detach().float().reshape(-1), code, blocksize)
    packed = packed.unsqueeze(1)  # (ceil(n / 2), 1)
    offset = absmax_offset(absmax)
    q_absmax, nested_absmax = quantize_blockwise_8bit(absmax - offset, nested_code, NESTED_BLOCK)
    return NF4Weight(packed=packed, absmax=q_absmax, nested_absmax=nested_absmax, nested_code=nested_code,
                     offset=float(offset), code=code, shape=tuple(weight.shape), dtype=weight.dtype,
                     blocksize=blocksize)
