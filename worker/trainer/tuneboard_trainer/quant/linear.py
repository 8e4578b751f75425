"""QuantizedLinear: a frozen linear layer whose weight is stored quantized (NF4, int8 or FP8).

The reference implementation (the CPU path): the forward dequantizes the whole weight and multiplies, and the
backward dequantizes it again for the input gradient instead of keeping the dense weight alive between the two
(the weight gets no gradient). On CUDA (with triton) the layer runs the Triton kernels of kernels.py instead,
which are tested against this reference.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .eightbit import ChannelWeight, quantize_fp8, quantize_int8
from .kernels import quant_linear, triton_available
from .nf4 import NF4Weight, quantize_nf4

QuantWeight = Union[NF4Weight, ChannelWeight]

# Device types whose matmuls run the Triton kernels (kernels.py); the CPU keeps the reference. The CPU kernel
# tests add "cpu" here while triton runs in its interpreter.
KERNEL_DEVICES = {"cuda"}


class _DequantMatmul(torch.autograd.Function):
    """y = x W^T with W dequantized on the fly in forward and again in backward (grad for x only)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, layer: "QuantizedLinear") -> torch.Tensor:
        ctx.layer, ctx.x_dtype = layer, x.dtype
        return F.linear(x, layer.dequantized_weight(x.dtype))  # (..., out)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        w = ctx.layer.dequantized_weight(grad_out.dtype)  # (out, in)
        return (grad_out @ w).to(ctx.x_dtype), None  # (..., in)


class QuantizedLinear(nn.Module):
    """A frozen nn.Linear replacement holding a quantized weight (and an optional bias in the compute dtype).

    The quantized tensors are plain attributes, not buffers: they are not in the state dict (runs save adapters
    only) and `.to()` does not move them.
    """

    def __init__(self, qweight: QuantWeight, bias: Optional[torch.Tensor] = None):
        super().__init__()
        self.out_features, self.in_features = int(qweight.shape[0]), int(qweight.shape[1])
        self.qweight = qweight
        if isinstance(qweight, NF4Weight):
            qweight.offset_tensor()  # made here, not inside a compiled region or a CUDA graph capture
        self.bias = nn.Parameter(bias, requires_grad=False) if bias is not None else None

    @property
    def method(self) -> str:
        """nf4, int8 or fp8."""
        return "nf4" if isinstance(self.qweight, NF4Weight) else self.qweight.kind

    @property
    def weight_dtype(self) -> torch.dtype:
        return self.qweight.dtype

    def dequantized_weight(self, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """The dense weight (out, in) in `dtype` (default: the dtype it was quantized from)."""
        return self.qweight.dequantize(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_autocast_enabled(x.device.type):
            x = x.to(torch.get_autocast_dtype(x.device.type))
        if x.device.type in KERNEL_DEVICES and triton_available():
            out = quant_linear(x, self.qweight)
        else:
            out = _DequantMatmul.apply(x, self)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    @property
    def device(self) -> torch.device:
        """Where the quantized tensors live (they are created there on load and not moved by .to())."""
        w = self.qweight
        return (w.packed if isinstance(w, NF4Weight) else w.q).device

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, method={self.method}"


def quantize_weight(weight: torch.Tensor, method: str) -> QuantWeight:
    """method: nf4 | int8 | fp8."""
    if method == "nf4":
        return quantize_nf4(weight)
    if method == "int8":
        return quantize_int8(weight)
    if method == "fp8":
        return quantize_fp8(weight)
    raise ValueError(f"unknown quantization method {method!r} (nf4, int8 or fp8)")


def quantized_linear(weight: torch.Tensor, bias: Optional[torch.Tensor], method: str) -> QuantizedLinear:
    return QuantizedLinear(quantize_weight(weight, method), bias)
