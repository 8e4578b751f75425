"""NF4 weights by rows (quant/nf4_rows.py): the layout, its kernels under the Triton interpreter, and chat decoding
from a 4-bit base (the packed engine against the engine on dequantized weights)."""

import pytest
import torch

from triton_helpers import needs_interpreter
from tuneboard_trainer.chat_engine import ChatEngine
from tuneboard_trainer.quant.load import load_quantized, save_bnb_4bit
from tuneboard_trainer.quant.nf4 import quantize_nf4
from tuneboard_trainer.quant.nf4_rows import NF4Rows, cat_rows, dequantize_rows, rows_fit, rows_linear, to_rows

IDS = [128000, 9906, 1917, 11, 358, 1097, 264, 1296, 13]
ROWS_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2)


def weight(n, k, seed=0, dtype=torch.float32):
    return (torch.randn(n, k, generator=torch.Generator().manual_seed(seed)) * 0.05).to(dtype)


def dense(w: NF4Rows, dtype=torch.float32):
    return dequantize_rows(w.packed, w.scale, w.code, w.dtype, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rows_hold_the_same_values_as_the_flat_weight(dtype):
    w = quantize_nf4(weight(96, 192, dtype=dtype))
    rows = to_rows(w)
    assert rows.packed.shape == (96, 96) and rows.scale.shape == (96, 3) and rows.shape == (96, 192)
    assert rows.packed.data_ptr() == w.packed.data_ptr()  # a view of the stored bytes
    assert torch.equal(dense(rows, dtype), w.dequantize())


def test_stacked_rows_equal_the_stacked_dense_weights():
    parts = [quantize_nf4(weight(n, 128, seed=n)) for n in (64, 32, 32)]  # q, k, v: separate double quantization
    stacked = cat_rows([to_rows(p) for p in parts])
    assert torch.equal(dense(stacked), torch.cat([p.dequantize() for p in parts]))
    x = torch.randn(5, 128)
    torch.testing.assert_close(rows_linear(x, stacked), x @ torch.cat([p.dequantize() for p in parts]).t())


def test_only_weights_of_whole_blocks_per_row_are_laid_out_by_rows():
    assert rows_fit((10, 128)) and not rows_fit((10, 96)) and not rows_fit((10,))
    with pytest.raises(ValueError, match="whole blocks"):
        to_rows(quantize_nf4(weight(4, 96)))


@needs_interpreter
@pytest.mark.parametrize("n,k", [(24, 256), (37, 640), (8, 1024)])
def test_the_gemv_kernel_matches_the_reference(n, k):
    from tuneboard_trainer.quant.triton_nf4_rows import rows_gemv

    # fp32 weights: the interpreter rounds to bf16 by truncation, the GPU to nearest (the GPU tests check bf16)
    rows = to_rows(quantize_nf4(weight(n, k, seed=k)))
    x = torch.randn(1, k)
    want = x @ dense(rows).t()
    for config in ({"block_n": 8, "block_k": 512, "num_warps": 4}, {"block_n": 4, "block_k": 256, "num_warps": 2},
                   {"block_n": 8, "block_k": 512, "num_warps": 4, "scale_bcast": True},
                   {"kernel": "lanes", "rows_per_lane": 1, "num_warps": 4}):  # no Gluon on the CPU: bytes
        got = rows_gemv(x, rows.packed, rows.scale, rows.code, rows.dtype, config)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@needs_interpreter
def test_the_dequantize_kernel_matches_the_reference_exactly():
    from tuneboard_trainer.quant.triton_nf4_rows import rows_dequantize_into

    rows = to_rows(quantize_nf4(weight(40, 320)))
    out = torch.empty(40, 320, dtype=torch.float32)
    rows_dequantize_into(out, rows.packed, rows.scale, rows.code, rows.dtype)
    assert torch.equal(out, dense(rows))


@pytest.fixture(scope="module")
def rows_model_dir(tmp_path_factory, tokenizer_dir):
    """A random Llama whose projections hold whole NF4 blocks per row (64-wide body)."""
    from tuneboard_trainer.demo_model import make_demo_model

    return make_demo_model(tmp_path_factory.mktemp("rows_model"), tokenizer_dir, shape=ROWS_SHAPE, linear_std=0.2)


def decode_logits(eng: ChatEngine, n: int = 3, tokens: list[int] | None = None) -> list:
    """Prefill logits, then n decode steps, each fed `tokens[i]` (default: the engine's own greedy choice)."""
    out = [eng.prefill(IDS)]
    for i in range(n):
        tok = out[-1].argmax().view(1) if tokens is None else torch.tensor([tokens[i]], device=out[-1].device)
        out.append(eng.decode(tok, len(IDS) + i).clone())
    return out


def test_a_packed_4bit_engine_decodes_as_the_engine_on_dequantized_weights(rows_model_dir):
    packed = ChatEngine(rows_model_dir, max_seq_len=32, base_method="nf4", packed=True)
    plain = ChatEngine(rows_model_dir, max_seq_len=32, base_method="nf4", packed=False)
    assert isinstance(packed.layers[0].wqkv, NF4Rows) and isinstance(packed.layers[0].wd, NF4Rows)
    assert isinstance(plain.layers[0].wqkv, torch.Tensor)
    with torch.inference_mode():
        for got, want in zip(decode_logits(packed), decode_logits(plain)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_a_bitsandbytes_checkpoint_decodes_as_the_base_quantized_on_load(rows_model_dir, tmp_path):
    import json

    config = json.loads((rows_model_dir / "config.json").read_text())
    bnb = save_bnb_4bit(load_quantized(rows_model_dir, "nf4", dtype=torch.float32), tmp_path / "bnb", config)
    from_bnb = ChatEngine(bnb, max_seq_len=32, packed=True)
    assert from_bnb.base_method == "nf4"  # a bitsandbytes 4-bit checkpoint is a 4-bit base
    on_load = ChatEngine(rows_model_dir, max_seq_len=32, base_method="nf4", packed=True)
    assert torch.equal(from_bnb.layers[1].wgu.packed, on_load.layers[1].wgu.packed)
    with torch.inference_mode():
        for got, want in zip(decode_logits(from_bnb), decode_logits(on_load)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_packed_weights_are_4bit_only(rows_model_dir):
    with pytest.raises(ValueError, match="4-bit NF4"):
        ChatEngine(rows_model_dir, max_seq_len=16, base_method="int8", packed=True)
