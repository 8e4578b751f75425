"""Our GGML encoders against the `gguf` package's decoders (llama.cpp's own Python reader): every block
decodes to the input within the format's error; Q8_0, Q5_0 and BF16 are bit-identical to the package's
reference quantizers. And the writer's files read back through the package's GGUFReader."""

import io

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from tuneboard_trainer.gguf.arch import tensor_type  # noqa: E402
from tuneboard_trainer.gguf.quants import GGML_TYPES, quantize  # noqa: E402
from tuneboard_trainer.gguf.writer import FLOAT32, INT32, STRING, Array, GGUFWriter, TensorPlan, Typed  # noqa: E402


def _data(rows=48, cols=512, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    x[1] = 0  # all-zero blocks
    x[2] = -0.3  # constant negative blocks
    x[3, :256] = 7.0  # constant positive block
    x[4] *= 40  # a row of large values
    x[5, ::7] = 1.0  # outliers
    return x


def _decode(q, qtype):
    return gguf.quants.dequantize(q, gguf.GGMLQuantizationType(GGML_TYPES[qtype]))


def _rel_rmse(a, b):
    return float(np.sqrt(((a - b) ** 2).mean() / max((b ** 2).mean(), 1e-30)))


# Relative RMS error each format keeps on Gaussian rows (measured: F16 2e-4, BF16 2e-3, Q8_0 5e-3,
# Q5_0 4e-2, Q6_K 1.6e-2, Q4_K 6.3e-2), with headroom.
BOUNDS = {"F16": 1e-3, "BF16": 4e-3, "Q8_0": 1e-2, "Q5_0": 5e-2, "Q6_K": 2.5e-2, "Q4_K": 8e-2}


@pytest.mark.parametrize("qtype", list(BOUNDS))
def test_encoders_decode_within_the_formats_error(qtype):
    x = _data()
    q = quantize(x, qtype)
    block, size = {"F16": (1, 2), "BF16": (1, 2), "Q8_0": (32, 34), "Q5_0": (32, 22),
                   "Q6_K": (256, 210), "Q4_K": (256, 144)}[qtype]
    assert q.dtype == np.uint8 and q.shape == (x.shape[0], x.shape[1] // block * size)
    y = _decode(q, qtype)
    assert y.shape == x.shape and np.isfinite(y).all()
    normal = np.r_[0, 6:len(x)]  # Gaussian rows
    assert _rel_rmse(y[normal], x[normal]) < BOUNDS[qtype]
    np.testing.assert_array_equal(y[1], 0)  # zero blocks stay zero
    # Constant blocks: exact (K-quants through the block minimum) or within the format's step.
    np.testing.assert_allclose(y[2], -0.3, rtol=2e-2)
    np.testing.assert_allclose(y[3, :256], 7.0, rtol=2e-2)
    # Each row's error scales with that row's size: a large row does not swamp the others.
    assert _rel_rmse(y[4], x[4]) < BOUNDS[qtype]


@pytest.mark.parametrize("qtype", ["Q8_0", "Q5_0", "BF16"])
def test_simple_encoders_are_bit_identical_to_the_reference(qtype):
    x = _data()
    ref = gguf.quants.quantize(x, gguf.GGMLQuantizationType(GGML_TYPES[qtype]))
    np.testing.assert_array_equal(quantize(x, qtype), ref)


def test_rows_must_fill_whole_blocks():
    with pytest.raises(ValueError, match="multiple of 256"):
        quantize(np.zeros((2, 128), np.float32), "Q4_K")


def test_q4_k_m_mixture_follows_llama_quant():
    n = 32
    kinds = {i: tensor_type("q4_k_m", f"blk.{i}.ffn_down.weight", (4096, 14336), n, True) for i in range(n)}
    # use_more_bits: the first and last eighth of the layers, and every third in between.
    assert [i for i, t in kinds.items() if t == "Q6_K"] == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert tensor_type("q4_k_m", "blk.5.attn_q.weight", (4096, 4096), n, True) == "Q4_K"
    assert tensor_type("q4_k_m", "output.weight", (128256, 4096), n, True) == "Q6_K"
    assert tensor_type("q4_k_m", "token_embd.weight", (128256, 4096), n, True) == "Q4_K"
    assert tensor_type("q4_k_m", "token_embd.weight", (128256, 4096), n, False) == "Q6_K"  # tied: it is the output
    assert tensor_type("q4_k_m", "blk.0.attn_norm.weight", (4096,), n, True) == "F32"
    # Rows that are not whole K blocks fall back as llama.cpp does: Q4_K -> Q5_0 -> F16, Q6_K -> Q8_0.
    assert tensor_type("q4_k_m", "blk.5.attn_q.weight", (128, 128), 4, True) == "Q5_0"
    assert tensor_type("q4_k_m", "blk.5.ffn_down.weight", (128, 344), 4, True) == "F16"
    assert tensor_type("q4_k_m", "output.weight", (1000, 128), 4, True) == "Q8_0"


def test_writer_round_trips_through_the_gguf_reader(tmp_path):
    x = _data(8, 256)
    plan = [TensorPlan("a.weight", (8, 256), "Q4_K"), TensorPlan("b.bias", (256,), "F32"),
            TensorPlan("c.weight", (8, 256), "Q8_0"), TensorPlan("d.weight", (8, 256), "F16")]
    meta = {"general.architecture": "llama", "test.count": 7, "test.neg": -3, "test.eps": Typed(FLOAT32, 1e-5),
            "test.flag": True, "test.words": Array(STRING, ["a b", "ĠĠ", "中文"]), "test.ids": Array(INT32, [1, -2, 3])}
    path = tmp_path / "t.gguf"
    with open(path, "wb") as f:
        w = GGUFWriter(f, meta, plan)
        q = quantize(x, "Q4_K")
        w.write("a.weight", iter([q[:3], q[3:]]))  # chunks in order make one tensor
        w.write("b.bias", quantize(x[0], "F32"))
        w.write("c.weight", quantize(x, "Q8_0"))
        w.write("d.weight", quantize(x, "F16"))
        w.close()
    r = gguf.GGUFReader(path)
    f = r.fields
    assert f["general.architecture"].contents() == "llama" and f["general.alignment"].contents() == 32
    assert f["test.count"].contents() == 7 and f["test.neg"].contents() == -3 and f["test.flag"].contents() is True
    assert f["test.eps"].contents() == pytest.approx(1e-5)
    assert f["test.words"].contents() == ["a b", "ĠĠ", "中文"] and f["test.ids"].contents() == [1, -2, 3]
    t = {t.name: t for t in r.tensors}
    assert [tuple(int(d) for d in t[n].shape) for n in ("a.weight", "b.bias")] == [(256, 8), (256,)]
    np.testing.assert_array_equal(_decode(np.asarray(t["a.weight"].data), "Q4_K"), _decode(q, "Q4_K"))
    np.testing.assert_array_equal(np.asarray(t["b.bias"].data), x[0])
    np.testing.assert_array_equal(np.asarray(t["d.weight"].data), x.astype(np.float16))
    assert all(t.data_offset % 32 == 0 for t in r.tensors)


def test_writer_refuses_out_of_order_or_short_tensors():
    plan = [TensorPlan("a", (4, 32), "Q8_0"), TensorPlan("b", (32,), "F32")]
    w = GGUFWriter(io.BytesIO(), {}, plan)
    with pytest.raises(ValueError, match="out of order"):
        w.write("b", quantize(np.zeros(32, np.float32), "F32"))
    with pytest.raises(ValueError, match="expected 136"):
        w.write("a", quantize(np.zeros((2, 32), np.float32), "Q8_0"))
    with pytest.raises(ValueError, match="never written"):
        GGUFWriter(io.BytesIO(), {}, plan).close()


def test_parallel_encoder_returns_the_serial_bytes_in_order():
    from tuneboard_trainer.gguf.parallel import MIN_PARALLEL_VALUES, ChunkEncoder

    rows = MIN_PARALLEL_VALUES // 512
    chunks = [_data(rows, 512, seed) for seed in range(3)] + [_data(8, 512, 9)]  # the last one small
    with ChunkEncoder(workers=2) as enc:
        for qtype in ("Q4_K", "Q6_K", "F16"):
            got = list(enc.encode(iter(chunks), qtype))
            assert len(got) == len(chunks)
            for g, c in zip(got, chunks):
                np.testing.assert_array_equal(g, quantize(c, qtype))
        assert enc._pool is not None  # the K-quant chunks did go to worker processes


def test_cache_sized_pieces_do_not_change_the_bytes():
    from tuneboard_trainer.gguf import quants

    x = _data(64, 4096)
    whole = {q: quantize(x, q) for q in ("Q4_K", "Q6_K", "Q8_0", "BF16")}
    saved = quants.CACHE_VALUES
    quants.CACHE_VALUES = 1 << 30
    try:
        for q, got in whole.items():
            np.testing.assert_array_equal(got, quantize(x, q))
    finally:
        quants.CACHE_VALUES = saved


def _ggml_reference(x: np.ndarray, qtype: str) -> np.ndarray:
    """llama.cpp's own quantize_row_<type>_ref (libggml-base from llama-cpp-python), through ctypes."""
    import ctypes
    import os

    llama_cpp = pytest.importorskip("llama_cpp")
    lib_path = os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so")
    if not os.path.exists(lib_path):
        pytest.skip("llama-cpp-python without libggml-base.so")
    lib = ctypes.CDLL(lib_path)
    x = np.ascontiguousarray(x, dtype=np.float32)
    size = {"Q4_K": 144, "Q6_K": 210}[qtype]
    out = np.zeros((x.size // 256, size), dtype=np.uint8)
    getattr(lib, f"quantize_row_{qtype[:2].lower()}_K_ref")(
        x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(x.size))
    return out


@pytest.mark.parametrize("qtype", ["Q4_K", "Q6_K"])
def test_k_quants_are_as_accurate_as_llama_cpp_s_own_quantizer(qtype):
    # The scale searches follow ggml-quants.c but sum in a different order (vectorised), so a near-tie
    # between two candidate scales can go the other way: the bytes of some blocks differ, the error not.
    x = (np.random.default_rng(3).standard_normal((64, 4096)) * 0.02).astype(np.float32)
    ours = _decode(quantize(x, qtype), qtype)
    ref = _decode(_ggml_reference(x, qtype).reshape(64, -1), qtype)
    assert _rel_rmse(ours, x) <= 1.001 * _rel_rmse(ref, x)
    # Nearly the same bytes, not merely the same error size (measured: 2.5 % of Q4_K blocks, 3 % of Q6_K).
    ours_b = quantize(x, qtype).reshape(-1, {"Q4_K": 144, "Q6_K": 210}[qtype])
    assert (ours_b != _ggml_reference(x, qtype)).any(axis=1).mean() < 0.05
