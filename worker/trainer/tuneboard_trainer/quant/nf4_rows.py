"""NF4 weights laid out by rows for decoding: what a chat engine multiplies one token by.

A bitsandbytes NF4 weight (nf4.py) is flat: 64-value blocks run across row ends, and the block absmax values
are double-quantized with one offset per tensor, so two weights cannot be concatenated into one matrix. When a
row's length K is a multiple of 64, every block lies inside one row, and the weight becomes

    packed (N, K / 2) uint8  -- the same bytes, viewed by rows (two 4-bit indices per byte, high nibble first)
    scale  (N, K / 64) fp32  -- each block's absmax with the double quantization undone (NF4Weight.block_absmax)

Rows of several weights then stack into one (q/k/v, gate/up: one GEMV instead of three or two), and a kernel
needs no nested lookup. Dequantized values are exactly NF4Weight.dequantize's: code[index] * scale in fp32,
rounded to the checkpoint dtype. The layout reads 0.5625 bytes per weight (bf16: 2).

`rows_linear(x, w)` is x W^T as the custom op `tuneboard::nf4_rows_mm`: on CUDA (with triton) one token runs a
GEMV kernel that dequantizes in registers (triton_nf4_rows.py), more rows dequantize the weight into a buffer
and call cuBLAS; elsewhere the weight is dequantized in torch (the reference the kernels are tested against).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .nf4 import NF4Weight


class NF4Rows(NamedTuple):
    packed: torch.Tensor  # uint8 (N, K / 2)
    scale: torch.Tensor  # fp32 (N, K / 64)
    code: torch.Tensor  # fp32 (16,): the NF4 values
    dtype: torch.dtype  # the checkpoint dtype values are rounded to

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.packed.shape[0]), int(self.packed.shape[1]) * 2


def rows_fit(shape, blocksize: int = 64) -> bool:
    """Whether a weight of `shape` (out, in) can be laid out by rows: every block inside one row."""
    return len(shape) == 2 and int(shape[1]) % blocksize == 0


def to_rows(w: NF4Weight) -> NF4Rows:
    """The row layout of `w` (its packed bytes are shared, not copied)."""
    N, K = (int(s) for s in w.shape)
    if not rows_fit(w.shape, w.blocksize):
        raise ValueError(f"NF4 rows: a row of {K} values does not hold whole blocks of {w.blocksize}")
    if w.blocksize != 64:
        raise ValueError(f"NF4 rows: block size {w.blocksize} (the kernels read blocks of 64)")
    return NF4Rows(packed=w.packed.view(N, K // 2), scale=w.block_absmax().float().view(N, K // 64).contiguous(),
                   code=w.code.float().contiguous(), dtype=w.dtype)


def quantize_rows(t: torch.Tensor) -> NF4Rows:
    """to_rows(quantize_nf4(t)) for a weight whose rows hold whole blocks, the same values. On CUDA (with triton)
    in three kernels and a mean, with no host sync: quantize_nf4 keeps the offset as a float, which waits for the
    device once per weight, and a checkpoint quantized while it is read has hundreds of weights."""
    from .nf4 import _constants, _use_kernel, absmax_offset, quantize_nf4

    if not (rows_fit(t.shape) and _use_kernel(t, 64)):
        return to_rows(quantize_nf4(t))
    from .triton_nf4_quantize import nested_block_absmax, nf4_quantize_blocks

    N, K = (int(s) for s in t.shape)
    packed, absmax = nf4_quantize_blocks(t.detach().reshape(-1), 64)
    offset = absmax_offset(absmax).view(1)  # left on the device
    scale = nested_block_absmax(absmax, offset)
    return NF4Rows(packed=packed.view(N, K // 2), scale=scale.view(N, K // 64), code=_constants(t.device)[0],
                   dtype=t.dtype)


def cat_rows(parts: list[NF4Rows]) -> NF4Rows:
    """The weights stacked along the output dimension, as torch.cat(dim=0) of their dense forms."""
    if len(parts) == 1:
        return parts[0]
    if len({p.shape[1] for p in parts}) != 1 or len({p.dtype for p in parts}) != 1:
        raise ValueError("NF4 rows: only weights of one input size and dtype stack")
    return NF4Rows(packed=torch.cat([p.packed for p in parts]), scale=torch.cat([p.scale for p in parts]),
                   code=parts[0].code, dtype=parts[0].dtype)


def dequantize_rows(packed: torch.Tensor, scale: torch.Tensor, code: torch.Tensor, w_dtype: torch.dtype,
                    dtype: torch.dtype) -> torch.Tensor:
    """The dense weight (N, K) in `dtype`, exactly as NF4Weight.dequantize (torch; the kernels' reference)."""
    N = packed.shape[0]
    idx = torch.stack([packed >> 4, packed & 0x0F], dim=-1).view(N, -1).long()  # (N, K), high nibble first
    values = code[idx].view(N, scale.shape[1], -1) * scale[:, :, None]  # fp32 (N, K / 64, 64)
    return values.view(N, -1).to(w_dtype).to(dtype)


def _kernels_here(x: torch.Tensor) -> bool:
    from .kernels import triton_available

    return x.is_cuda and triton_available()


@torch.library.custom_op("tuneboard::nf4_rows_mm", mutates_args=())
def _nf4_rows_mm(x: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, code: torch.Tensor,
                 w_dtype: torch.dtype) -> torch.Tensor:
    if _kernels_here(x):
        from .triton_nf4_rows import rows_dequantize_into, rows_gemv

        if x.shape[0] == 1:
            return rows_gemv(x, packed, scale, code, w_dtype)
        dense = torch.empty((packed.shape[0], packed.shape[1] * 2), dtype=x.dtype, device=x.device)
        return torch.mm(x, rows_dequantize_into(dense, packed, scale, code, w_dtype).t())
    return torch.mm(x, dequantize_rows(packed, scale, code, w_dtype, x.dtype).t())


@_nf4_rows_mm.register_fake
def _nf4_rows_mm_fake(x, packed, scale, code, w_dtype):
    return x.new_empty((x.shape[0], packed.shape[0]))


def rows_linear(x: torch.Tensor, w: NF4Rows) -> torch.Tensor:
    """x (..., K) @ W^T -> (..., N) in x's dtype (inference only: no gradient)."""
    lead = x.shape[:-1]
    out = _nf4_rows_mm(x.reshape(-1, x.shape[-1]).contiguous(), w.packed, w.scale, w.code, w.dtype)
    return out.view(*lead, out.shape[-1])
