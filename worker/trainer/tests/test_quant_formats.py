"""NF4 and 8-bit quantization against reference definitions written here from the published formats.

The references are deliberately naive (argmin over the code values, one block at a time in Python loops), so they
share no code with tuneboard_trainer/quant.
"""

import pytest
import torch

from tuneboard_trainer.quant.eightbit import quantize_fp8, quantize_int8
from tuneboard_trainer.quant.nf4 import NF4_CODE, dynamic_map, quantize_nf4

# QLoRA / bitsandbytes NF4: the 16 levels (normal quantiles, normalized to [-1, 1], exact zero included).
REFERENCE_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                 -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                 0.7229568362236023, 1.0]


def reference_blockwise(x: torch.Tensor, code: torch.Tensor, block: int):
    """Per block: absmax, nearest code index of x / absmax (argmin, first on ties). Returns (indices, absmaxes)."""
    idx, absmaxes = [], []
    for start in range(0, x.numel(), block):
        chunk = x[start:start + block]
        am = chunk.abs().max()
        absmaxes.append(am)
        normed = (chunk / am.clamp(min=1e-38)).clamp(-1, 1)
        idx.append(torch.argmin((normed[:, None] - code[None, :]).abs(), dim=1))
    return torch.cat(idx), torch.stack(absmaxes)


def reference_nf4_dequantized(w: torch.Tensor) -> torch.Tensor:
    """QLoRA's double-quantized NF4 (block 64; absmax - mean quantized 8-bit dynamic, block 256), dequantized."""
    code = torch.tensor(REFERENCE_NF4)
    flat = w.float().reshape(-1)
    idx, absmax = reference_blockwise(flat, code, 64)
    offset = absmax.double().mean().float()  # float64 mean, rounded once
    dyn = dynamic_map()
    q2, nested = reference_blockwise(absmax - offset, dyn, 256)
    absmax_dq = torch.cat([dyn[q2[i:i + 256]] * nested[i // 256] for i in range(0, q2.numel(), 256)]) + offset
    values = torch.cat([code[idx[i:i + 64]] * absmax_dq[i // 64] for i in range(0, idx.numel(), 64)])
    return values.view(w.shape).to(w.dtype)


def test_nf4_code_values_are_bitsandbytes():
    assert list(NF4_CODE) == REFERENCE_NF4
    assert torch.tensor(NF4_CODE, dtype=torch.float32).tolist() == torch.tensor(REFERENCE_NF4).tolist()


def test_dynamic_map_shape():
    m = dynamic_map()
    assert m.numel() == 256 and torch.all(m[1:] >= m[:-1])
    assert (m == 0).sum() == 1 and m.max() == 1.0
    assert m.min() == pytest.approx(-(1 - 0.9 / 128), abs=1e-7)  # midpoint of the last step of the finest grid
    assert (m > 0).sum() == 128 and (m < 0).sum() == 127


@pytest.mark.parametrize("shape", [(96, 200), (7, 33), (1, 64 * 300 + 5)])  # odd sizes: short last blocks
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nf4_error_equals_the_reference_definition_exactly(shape, dtype):
    w = (torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 0.05).to(dtype)
    w.view(-1)[:10] = 0  # exact zeros map to the exact zero level
    ours = quantize_nf4(w)
    got = ours.dequantize()
    assert got.dtype == dtype and got.shape == w.shape
    assert torch.equal(w.float() - got.float(), w.float() - reference_nf4_dequantized(w).float())
    n = w.numel()
    assert ours.packed.shape == ((n + 1) // 2, 1) and ours.packed.dtype == torch.uint8
    assert ours.absmax.dtype == torch.uint8 and ours.absmax.numel() == (n + 63) // 64
    assert ours.nested_absmax.numel() == (ours.absmax.numel() + 255) // 256


def test_nf4_packs_the_first_value_in_the_high_nibble():
    # A block whose absmax is 1: values equal to code levels 0, 15, 7, 8, 3 -> bytes 0x0F, 0x78, 0x30 (pad 0).
    w = torch.tensor([[-1.0, 1.0, 0.0, 0.07958029955625534, -0.39491748809814453]])
    q = quantize_nf4(w)
    assert q.packed.reshape(-1).tolist() == [0x0F, 0x78, 0x30]
    assert q.indices().tolist() == [0, 15, 7, 8, 3]


def test_nf4_on_an_all_zero_weight_stays_zero():
    w = torch.zeros(4, 64)
    assert torch.equal(quantize_nf4(w).dequantize(), w)


def test_int8_per_channel_matches_its_definition():
    w = torch.randn(17, 40, generator=torch.Generator().manual_seed(5))
    w[3] = 0
    q = quantize_int8(w)
    assert q.q.dtype == torch.int8 and q.scale.shape == (17, 1)
    for r in range(17):
        s = w[r].abs().max() / 127 if r != 3 else torch.tensor(1.0)
        expected = torch.round(w[r] / s).clamp(-127, 127) * s
        assert torch.equal(q.dequantize()[r], expected)
    assert (w - q.dequantize()).abs().max() <= (w.abs().amax(dim=1) / 127 / 2).max() * (1 + 1e-6)


@pytest.mark.skipif(not hasattr(torch, "float8_e4m3fn"), reason="torch without float8")
def test_fp8_per_channel_matches_its_definition():
    w = torch.randn(9, 70, generator=torch.Generator().manual_seed(6)).to(torch.bfloat16)
    q = quantize_fp8(w)
    assert q.q.dtype == torch.float8_e4m3fn and q.dequantize().dtype == torch.bfloat16
    s = w.float().abs().amax(dim=1, keepdim=True) / 448
    expected = ((w.float() / s).to(torch.float8_e4m3fn).float() * s).to(torch.bfloat16)
    assert torch.equal(q.dequantize(), expected)
    # e4m3 keeps 3 mantissa bits: relative error at most 2**-4 per value above the subnormal range.
    rel = ((w.float() - q.dequantize().float()).abs() / w.float().abs().clamp(min=1e-3)).max()
    assert rel < 0.07


def test_chunked_quantization_gives_the_same_bytes(monkeypatch):
    from tuneboard_trainer.quant import nf4

    w = torch.randn(50, 130, generator=torch.Generator().manual_seed(8))
    whole = quantize_nf4(w)
    monkeypatch.setattr(nf4, "CHUNK", 100)  # not a multiple of the block size: chunks cut through blocks
    chunked = quantize_nf4(w)
    assert torch.equal(chunked.packed, whole.packed) and torch.equal(chunked.absmax, whole.absmax)
