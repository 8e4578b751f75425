"""8-bit base weights with one scale per output channel (row): int8 everywhere, FP8 e4m3 where torch has it.

int8:  scale[r] = max|W[r, :]| / 127, q = round(W / scale) in [-127, 127], W' = q * scale.
fp8:   scale[r] = max|W[r, :]| / 448 (e4m3's largest finite value), q = (W / scale) cast to float8_e4m3fn
       (round to nearest even), W' = q * scale.
A row of zeros gets scale 1 so that it stays exactly zero. Scales are fp32; dequantize computes in fp32.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

INT8_MAX = 127.0
FP8_DTYPE = getattr(torch, "float8_e4m3fn", None)  # None on a torch without float8 types
FP8_MAX = 448.0


def fp8_available() -> bool:
    return FP8_DTYPE is not None


@dataclass
class ChannelWeight:
    """A 2-D weight (out, in) stored as 8-bit values with an fp32 scale per output row."""

    q: torch.Tensor  # int8 or float8_e4m3fn (out, in)
    scale: torch.Tensor  # fp32 (out, 1)
    dtype: torch.dtype  # the dtype dequantize returns (the checkpoint's dtype)

    @property
    def shape(self) -> tuple:
        return tuple(self.q.shape)

    @property
    def kind(self) -> str:
        return "int8" if self.q.dtype == torch.int8 else "fp8"

    def to(self, device) -> "ChannelWeight":
        return replace(self, q=self.q.to(device), scale=self.scale.to(device))

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        return (self.q.float() * self.scale).to(dtype or self.dtype)

    def nbytes(self) -> int:
        return self.q.numel() * self.q.element_size() + self.scale.numel() * 4


def _row_scale(w: torch.Tensor, top: float) -> torch.Tensor:
    absmax = w.abs().amax(dim=1, keepdim=True)  # (out, 1)
    # Divided by a tensor, not a Python number: CUDA turns division by a host scalar into a multiplication by its
    # reciprocal, which rounds some scales one ulp away from the CPU's, and round(W / scale) then flips values
    # that sit near a half step (seen on an H200: 1,935 of 16.8 M int8 values of a 4096 x 4096 weight).
    return torch.where(absmax > 0, absmax / torch.full_like(absmax, top), torch.ones_like(absmax))


@torch.no_grad()
def quantize_int8(weight: torch.Tensor) -> ChannelWeight:
    w = weight.detach().float()
    if w.dim() != 2:
        raise ValueError(f"8-bit quantization expects a 2-D weight, got shape {tuple(w.shape)}")
    scale = _row_scale(w, INT8_MAX)
    q = torch.round(w / scale).clamp(-INT8_MAX, INT8_MAX).to(torch.int8)
    return ChannelWeight(q=q, scale=scale, dtype=weight.dtype)


@torch.no_grad()
def quantize_fp8(weight: torch.Tensor) -> ChannelWeight:
    if FP8_DTYPE is None:
        raise ValueError("this torch has no float8_e4m3fn; use int8")
    w = weight.detach().float()
    if w.dim() != 2:
        raise ValueError(f"8-bit quantization expects a 2-D weight, got shape {tuple(w.shape)}")
    scale = _row_scale(w, FP8_MAX)
    q = (w / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE)
    return ChannelWeight(q=q, scale=scale, dtype=weight.dtype)
