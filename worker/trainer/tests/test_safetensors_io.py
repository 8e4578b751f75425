"""The safetensors reader: header parsing and the staged (chunked, double-buffered) loop, on the CPU.

The staged path's CUDA half (pinned buffers, streams, events) cannot run here: no GPU. The same chunk loop runs
with plain buffers on the CPU, and every tensor is compared with safetensors' own `load_file`; the benchmark's
smoke test runs both read methods end to end in fresh processes."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tuneboard_trainer.safetensors_io import (TORCH_DTYPES, _read_staged, parse_header, read_weights,
                                              weight_files)

TRAINER_DIR = Path(__file__).resolve().parents[1]


def _tensors() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "bf16": torch.randn(7, 5, generator=g).to(torch.bfloat16),
        "fp32": torch.randn(3, 4, 2, generator=g),
        "fp16": torch.randn(9, generator=g).to(torch.float16),
        "i64": torch.arange(-50, 50, dtype=torch.int64).reshape(10, 10),
        "i8": torch.arange(-8, 8, dtype=torch.int8),
        "u8": torch.arange(0, 255, 7, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True, True]),
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "empty": torch.empty(0, 4, dtype=torch.bfloat16),
        # 3000 x 2 bytes = 6000 bytes: 6 chunks of a 1000-byte buffer; the odd width makes the last one partial
        "big": torch.randn(1000, 3, generator=g).to(torch.bfloat16),
        "big_f32": torch.randn(777, generator=g),  # 3108 bytes: chunk borders fall inside elements
    }


@pytest.fixture
def sharded(tmp_path) -> Path:
    """A two-shard checkpoint with an index, the way Hugging Face writes one."""
    ts = _tensors()
    names = sorted(ts)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for fn, keys in shards.items():
        save_file({k: ts[k] for k in keys}, str(tmp_path / fn), metadata={"format": "pt"})
    wm = {k: fn for fn, keys in shards.items() for k in keys}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": wm}))
    return tmp_path


def _reference(model_dir: Path) -> dict:
    out = {}
    for f in weight_files(model_dir):
        out.update(load_file(str(f)))
    return out


def _assert_same(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for k, w in want.items():
        g = got[k]
        assert g.dtype == w.dtype, k
        assert g.shape == w.shape, k
        assert torch.equal(g, w), k


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("buffer_bytes", [1000, 1 << 20])
def test_staged_matches_load_file(sharded, threads, buffer_bytes):
    stats = {}
    got = _read_staged(weight_files(sharded), "cpu", None, buffer_bytes=buffer_bytes, threads=threads, stats=stats)
    _assert_same(got, _reference(sharded))
    # one chunk per buffer-full of each tensor: with 1000 bytes, "big" (6000) takes 6 and "big_f32" (3108) 4
    assert stats["chunks"] == sum(-(-t.numel() * t.element_size() // buffer_bytes) for t in got.values())
    assert stats["chunks"] == (18 if buffer_bytes == 1000 else 10)
    assert got["scalar"].dim() == 0 and got["scalar"].item() == 3.25
    assert got["empty"].shape == (0, 4)


def test_staged_casts_floating_tensors_only(sharded):
    got = _read_staged(weight_files(sharded), "cpu", torch.float32, buffer_bytes=1000, threads=2)
    want = _reference(sharded)
    for k, w in want.items():
        if w.is_floating_point():
            assert got[k].dtype == torch.float32, k
            assert torch.equal(got[k], w.to(torch.float32)), k
        else:
            assert got[k].dtype == w.dtype and torch.equal(got[k], w), k


def test_inference_flag(sharded):
    files = weight_files(sharded)
    assert _read_staged(files, "cpu", None, threads=2, inference=True)["big"].is_inference()
    plain = _read_staged(files, "cpu", None, threads=2, inference=False)["big"]
    assert not plain.is_inference() and not plain.requires_grad


def test_read_weights_methods_agree(sharded):
    """read_weights' forced methods on the CPU: both readers give the reference tensors, and progress ends at 1."""
    want = _reference(sharded)
    for method in ("staged", "safe_open", "auto"):
        seen = []
        got = read_weights(sharded, torch.device("cpu"), None, progress=lambda p, f: seen.append((p, f)),
                           threads=2, method=method, buffer_bytes=1000)
        _assert_same(got, want)
        assert seen[0] == ("weights", 0.0) and seen[-1] == ("weights", 1.0)
        fracs = [f for _, f in seen]
        assert fracs == sorted(fracs)
        training = read_weights(sharded, torch.device("cpu"), None, threads=2, method=method, inference=False)
        assert not any(t.is_inference() for t in training.values()), method
    with pytest.raises(ValueError, match="unknown read method"):
        read_weights(sharded, torch.device("cpu"), None, method="mmap")


def test_a_transform_replaces_each_tensor_as_it_is_read(sharded):
    """read_weights' transform (e.g. quantize on arrival) sees every tensor once, already cast, in both readers."""
    want = _reference(sharded)
    for method in ("staged", "safe_open"):
        seen = []

        def transform(name, t):
            seen.append((name, t.dtype))
            return ("kept", name, t.sum().item()) if t.is_floating_point() else t

        got = read_weights(sharded, torch.device("cpu"), torch.float64, threads=2, method=method, transform=transform)
        assert sorted(n for n, _ in seen) == sorted(want)
        assert all(d == torch.float64 for n, d in seen if want[n].is_floating_point())
        for name, ref in want.items():
            if ref.is_floating_point():
                assert got[name] == ("kept", name, pytest.approx(ref.double().sum().item())), method
            else:
                assert torch.equal(got[name], ref)


def test_single_file_model(tmp_path):
    ts = _tensors()
    save_file(ts, str(tmp_path / "model.safetensors"))
    _assert_same(_read_staged(weight_files(tmp_path), "cpu", None, buffer_bytes=64, threads=3), ts)


def test_parse_header_offsets_and_dtypes(tmp_path):
    ts = _tensors()
    save_file(ts, str(tmp_path / "m.safetensors"), metadata={"format": "pt"})
    entries, meta = parse_header(tmp_path / "m.safetensors")
    assert meta == {"format": "pt"}
    raw = (tmp_path / "m.safetensors").read_bytes()
    assert {e.name for e in entries} == set(ts)
    for e in entries:
        w = ts[e.name]
        assert e.dtype == w.dtype and e.shape == tuple(w.shape)
        assert e.nbytes == w.numel() * w.element_size()
        assert raw[e.offset:e.offset + e.nbytes] == w.reshape(-1).view(torch.uint8).numpy().tobytes()


def test_float8_dtypes(tmp_path):
    ts = {"e4m3": torch.randn(6, 3).to(torch.float8_e4m3fn), "e5m2": torch.randn(5).to(torch.float8_e5m2)}
    save_file(ts, str(tmp_path / "model.safetensors"))
    got = _read_staged(weight_files(tmp_path), "cpu", None, buffer_bytes=4)
    for k, w in ts.items():
        assert got[k].dtype == w.dtype
        assert torch.equal(got[k].view(torch.uint8), w.view(torch.uint8))
    assert TORCH_DTYPES["F8_E4M3"] is torch.float8_e4m3fn and TORCH_DTYPES["F8_E5M2"] is torch.float8_e5m2


def _with_header(path: Path, header, data: bytes = b"") -> Path:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


@pytest.mark.parametrize("case", ["short", "long_header", "not_json", "not_object", "dtype", "shape_mismatch",
                                  "past_end", "bad_offsets"])
def test_corrupt_files_raise_value_error_naming_the_file(tmp_path, case):
    ok = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    p = tmp_path / f"broken-{case}.safetensors"
    if case == "short":
        p.write_bytes(b"\x10\x00")
    elif case == "long_header":
        p.write_bytes(struct.pack("<Q", 5000) + b"{}")
    elif case == "not_json":
        _with_header(p, b"{nope", bytes(8))
    elif case == "not_object":
        _with_header(p, [1, 2])
    elif case == "dtype":
        _with_header(p, {"w": dict(ok, dtype="F128")}, bytes(16))
    elif case == "shape_mismatch":
        _with_header(p, {"w": dict(ok, shape=[3])}, bytes(8))
    elif case == "past_end":
        _with_header(p, {"w": ok}, bytes(7))  # one byte short of the tensor
    elif case == "bad_offsets":
        _with_header(p, {"w": dict(ok, data_offsets=[8, 0])}, bytes(8))
    with pytest.raises(ValueError, match="broken-" + case):
        parse_header(p)
    with pytest.raises(ValueError, match="broken-" + case):
        _read_staged([p], "cpu", None)


def test_short_reads_are_continued(sharded, monkeypatch):
    """preadv may return fewer bytes than asked (signals, some file systems): the reader asks again."""
    real = os.preadv
    calls = []

    def short(fd, bufs, off):
        calls.append(off)
        return real(fd, [bufs[0][:7]], off)

    monkeypatch.setattr(os, "preadv", short)
    _assert_same(_read_staged(weight_files(sharded), "cpu", None, buffer_bytes=1000, threads=2), _reference(sharded))
    assert len(calls) > 1000  # about 10 KB of tensors, 7 bytes a call


def test_each_thread_opens_each_file_once(sharded, monkeypatch):
    import builtins

    from tuneboard_trainer import safetensors_io

    opened = []

    def counting_open(path, mode="r", buffering=-1, *a, **kw):
        if buffering == 0:  # the readers' handles (the header parser opens buffered)
            opened.append(Path(path).name)
        return builtins.open(path, mode, buffering, *a, **kw)

    monkeypatch.setattr(safetensors_io, "open", counting_open, raising=False)
    _read_staged(weight_files(sharded), "cpu", None, buffer_bytes=1000, threads=2)
    assert 2 <= len(opened) <= 4  # 2 files x 2 threads at most, though the tensors need 18 chunks


def test_truncated_shard_after_header_check(sharded, monkeypatch):
    """A file that shrinks between the header check and the read (or a short read at EOF) is an error, not zeros."""
    files = weight_files(sharded)
    real = os.preadv
    monkeypatch.setattr(os, "preadv", lambda fd, bufs, off: 0 if off > 100 else real(fd, bufs, off))
    with pytest.raises(ValueError, match="truncated"):
        _read_staged(files, "cpu", None, buffer_bytes=1000, threads=2)


def test_duplicate_tensor_across_shards(tmp_path):
    save_file({"w": torch.ones(2)}, str(tmp_path / "a.safetensors"))
    save_file({"w": torch.zeros(2)}, str(tmp_path / "b.safetensors"))
    with pytest.raises(ValueError, match="also in"):
        _read_staged([tmp_path / "a.safetensors", tmp_path / "b.safetensors"], "cpu", None)


def test_load_bench_smoke(sharded, tmp_path):
    """The GPU benchmark's plumbing on the CPU: fresh subprocesses per method, identical checksums, JSON out."""
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "bench.load_bench", "--model-dir", str(sharded), "--device", "cpu",
                        "--repeat", "1", "--threads", "2", "--buffer-mib", "0.001,1", "--out", str(out)],
                       cwd=TRAINER_DIR, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)})
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    runs = res["runs"]
    assert [x["method"] for x in runs] == ["safe_open", "staged@0.001", "staged@1"]
    assert all(x["ok"] for x in runs), runs
    assert len({json.dumps(x["checksum"], sort_keys=True) for x in runs}) == 1
    assert runs[0]["bytes"] == sum(t.numel() * t.element_size() for t in _tensors().values())
    assert runs[0]["tensors"] == len(_tensors())
    assert "cuda_init_s" not in runs[0]
    assert res["checksums_agree"] is True
    assert "summary" in r.stdout.lower()


# --- on a GPU (npm run test:gpu): pinned buffers, per-thread streams, events. Skipped here (no CUDA).

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("buffer_bytes", [1000, 1 << 20])
@pytest.mark.parametrize("dtype", [None, torch.float32])
def test_staged_cuda_matches_load_file(sharded, threads, buffer_bytes, dtype):
    got = _read_staged(weight_files(sharded), "cuda", dtype, buffer_bytes=buffer_bytes, threads=threads)
    want = {k: (w.to(dtype) if dtype is not None and w.is_floating_point() else w) for k, w in
            _reference(sharded).items()}
    # used at once on the default stream, as the callers do: the reader must have drained its streams
    _assert_same({k: t.cpu() for k, t in got.items()}, want)
    assert all(t.device.type == "cuda" for t in got.values())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_staged_cuda_many_chunks_per_buffer(tmp_path):
    """Hundreds of chunks through two small pinned buffers per thread: a buffer refilled before its transfer has
    finished would corrupt the tensors, and the casts free their raw bytes while other threads allocate."""
    g = torch.Generator().manual_seed(1)
    ts = {f"w{i}": torch.randn(1024 + i, 1031, generator=g).to(torch.bfloat16) for i in range(8)}
    save_file(ts, str(tmp_path / "model.safetensors"))
    for dtype in (None, torch.float32):
        got = read_weights(tmp_path, torch.device("cuda"), dtype, threads=4, buffer_bytes=64 * 1024,
                           inference=False)
        for k, w in ts.items():
            want = w.to(dtype) if dtype is not None else w
            assert got[k].dtype == want.dtype and not got[k].is_inference()
            assert torch.equal(got[k], want.cuda()), k
    old = read_weights(tmp_path, torch.device("cuda"), None, threads=4, method="safe_open")
    assert all(torch.equal(old[k], got[k].to(torch.bfloat16)) for k in ts)
