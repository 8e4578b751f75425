"""One entry point for a quantized weight's GPU matmuls, in either of two ways, as custom ops with autograd.

`quant_matmul(a, qweight, transpose, mode)`:
- mode "fused": Triton kernels that dequantize tiles of W in registers inside the GEMM (triton_nf4.py,
  triton_8bit.py); an FP8 weight's forward runs on the FP8 tensor cores instead (torch._scaled_mm with
  row-wise scales: the activations are quantized to e4m3 per row) where the GPU has them (compute capability
  >= 8.9) and the shapes fit.
- mode "dequant": W dequantized by a Triton kernel into a dense buffer in the compute dtype, then cuBLAS. The
  buffer is freed right after the GEMM, so the caching allocator hands the same block to the next layer: one
  layer's dense weight at a time, never the model's.
- mode "auto" (QuantizedLinear's default, `MATMUL_MODE`): "fused" up to AUTO_FUSED_MAX_M rows (decode and
  small batches, where reading 4 or 8 bits instead of 16 per weight is the speed), "dequant" above (training
  GEMMs, compute-bound: cuBLAS's tiles, plus one pass over the weight per layer), except an FP8 forward on FP8
  tensor cores, which is faster than bf16 at any size. The benchmark measures both
  on every workload (bench/quant_bench.py); the threshold follows its numbers.

`quant_linear(x, qweight)` is x W^T as the custom op `tuneboard::quant_mm` (torch.library), with the input
gradient as its autograd formula (dy W through the same entry point; W gets no gradient): torch.compile and CUDA
graphs see one opaque op, no graph break. The weight's tensors are op inputs, so one compiled region serves
every layer.
"""

from __future__ import annotations

import importlib.util
from typing import Optional

import torch

from .eightbit import ChannelWeight
from .nf4 import NF4Weight

MATMUL_MODES = ("auto", "fused", "dequant")
MATMUL_MODE = {"value": "auto"}
AUTO_FUSED_MAX_M = 256
FP8_MIN_CAPABILITY = (8, 9)


def set_matmul_mode(mode: str) -> None:
    if mode not in MATMUL_MODES:
        raise ValueError(f"quantized matmul mode {mode!r}: one of {', '.join(MATMUL_MODES)}")
    MATMUL_MODE["value"] = mode


_HAS_TRITON = importlib.util.find_spec("triton") is not None  # looked up once: the kernels import it on first use


def triton_available() -> bool:
    return _HAS_TRITON


def _fp8_tensor_cores(a: torch.Tensor, w: ChannelWeight) -> bool:
    N, K = w.shape
    return (a.is_cuda and w.kind == "fp8" and torch.cuda.get_device_capability(a.device) >= FP8_MIN_CAPABILITY
            and a.dtype == torch.bfloat16 and K % 16 == 0 and N % 16 == 0)


def fp8_rows(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a (M, K) quantized to e4m3 with one fp32 scale per row: (a8 (M, K), scale (M, 1)), a ~ a8 * scale."""
    from .eightbit import FP8_DTYPE, FP8_MAX

    amax = a.abs().amax(dim=1, keepdim=True).float()  # (M, 1)
    a_scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    return (a.float() / a_scale).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE), a_scale


def fp8_scaled_mm(a: torch.Tensor, w: ChannelWeight) -> torch.Tensor:
    """a (M, K) @ W^T on the FP8 tensor cores: a quantized to e4m3 with one scale per row (fp8_rows), W's
    per-channel scales as the column scales; bf16 out."""
    a8, a_scale = fp8_rows(a)
    return torch._scaled_mm(a8, w.q.t(), scale_a=a_scale, scale_b=w.scale.t().contiguous(),
                            out_dtype=torch.bfloat16)


def quant_matmul(a: torch.Tensor, w, transpose: bool = False, mode: Optional[str] = None) -> torch.Tensor:
    """a (M, K) @ W^T (transpose False: the forward) or a (M, N) @ W (transpose True: the input gradient), in a's
    dtype, with the kernels of `mode` (default MATMUL_MODE)."""
    mode = mode or MATMUL_MODE["value"]
    if mode == "auto":
        fp8_cores = not transpose and isinstance(w, ChannelWeight) and _fp8_tensor_cores(a, w)
        mode = "fused" if fp8_cores or a.shape[0] <= AUTO_FUSED_MAX_M else "dequant"
    if mode == "dequant":
        return _dequant_then_mm(a, w, transpose)
    if mode != "fused":
        raise ValueError(f"quantized matmul mode {mode!r}: one of {', '.join(MATMUL_MODES)}")
    if isinstance(w, NF4Weight):
        from .triton_nf4 import nf4_mm_nn, nf4_mm_nt

        return nf4_mm_nn(a, w) if transpose else nf4_mm_nt(a, w)
    if not transpose and _fp8_tensor_cores(a, w):
        return fp8_scaled_mm(a, w)
    from .triton_8bit import ch8_mm_nn, ch8_mm_nt

    return ch8_mm_nn(a, w) if transpose else ch8_mm_nt(a, w)


def dequantize_into(w, out: torch.Tensor) -> torch.Tensor:
    """W into the contiguous dense `out` (N, K) by a Triton kernel."""
    if isinstance(w, NF4Weight):
        from .triton_nf4 import nf4_dequantize_into

        return nf4_dequantize_into(w, out)
    from .triton_8bit import ch8_dequantize_into

    return ch8_dequantize_into(w, out)


def _dequant_then_mm(a: torch.Tensor, w, transpose: bool) -> torch.Tensor:
    dense = dequantize_into(w, torch.empty(tuple(int(s) for s in w.shape), dtype=a.dtype, device=a.device))
    return torch.mm(a, dense) if transpose else torch.mm(a, dense.t())


# --- the custom op -------------------------------------------------------------------------------------------

def _weight_tensors(w) -> list:
    """The op's weight inputs: NF4 [packed, absmax, code, offset, shape] (+ [nested_absmax, nested_code] when
    double-quantized); 8-bit [q, scale, shape]. `shape` is a stride-0 (N, K) view of one element that carries
    W's shape as a tensor shape (an int argument would be specialised per layer by torch.compile)."""
    if isinstance(w, NF4Weight):
        shape = w.code[:1].view(1, 1).expand(int(w.shape[0]), int(w.shape[1]))
        nested = [] if w.nested_absmax is None else [w.nested_absmax, w.nested_code]
        return [w.packed, w.absmax, w.code, w.offset_tensor(), shape] + nested
    return [w.q, w.scale, w.scale[:1].view(1, 1).expand(*w.shape)]


def _weight_from(tensors: list, w_dtype: torch.dtype):
    if len(tensors) == 3:
        q, scale, _ = tensors
        return ChannelWeight(q=q, scale=scale, dtype=w_dtype)
    packed, absmax, code, offset, shape = tensors[:5]
    nested_absmax, nested_code = (tensors[5], tensors[6]) if len(tensors) == 7 else (None, None)
    w = NF4Weight(packed=packed, absmax=absmax, nested_absmax=nested_absmax, nested_code=nested_code, offset=0.0,
                  code=code, shape=tuple(shape.shape), dtype=w_dtype)
    w.__dict__["_offset_tensor"] = offset
    return w


@torch.library.custom_op("tuneboard::quant_mm", mutates_args=())
def _quant_mm(a: torch.Tensor, weight: list[torch.Tensor], w_dtype: torch.dtype, transpose: bool,
              mode: str) -> torch.Tensor:
    return quant_matmul(a, _weight_from(weight, w_dtype), transpose, mode)


@_quant_mm.register_fake
def _quant_mm_fake(a, weight, w_dtype, transpose, mode):
    N, K = weight[4 if len(weight) >= 5 else 2].shape
    return a.new_empty((a.shape[0], K if transpose else N))


def _setup_context(ctx, inputs, output):
    _, weight, w_dtype, transpose, mode = inputs
    ctx.save_for_backward(*weight)
    ctx.w_dtype, ctx.transpose, ctx.mode = w_dtype, transpose, mode


def _backward(ctx, grad):
    weight = list(ctx.saved_tensors)
    dx = _quant_mm(grad.contiguous(), weight, ctx.w_dtype, not ctx.transpose, ctx.mode)
    return dx, [None] * len(weight), None, None, None


_quant_mm.register_autograd(_backward, setup_context=_setup_context)


def quant_linear(x: torch.Tensor, w) -> torch.Tensor:
    """x (..., K) @ W^T -> (..., N) through the custom op (differentiable in x)."""
    lead = x.shape[:-1]
    out = _quant_mm(x.reshape(-1, x.shape[-1]), _weight_tensors(w), w.dtype, False, MATMUL_MODE["value"])
    return out.view(*lead, out.shape[-1])
