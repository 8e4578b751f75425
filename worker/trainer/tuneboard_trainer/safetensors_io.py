"""Reading a Hugging Face safetensors checkpoint straight onto a device, fast: used by training and chat.

On a CUDA device (the staged path, `_read_staged`) the file bytes are read with `os.preadv` straight into a
few reusable pinned host buffers and copied to the GPU asynchronously on a per-thread CUDA stream, two
buffers per thread, so that reading chunk i+1 out of the page cache overlaps the DMA of chunk i. The older
path (`safe_open(device="cuda")` per tensor) copies every tensor out of its mmap into pageable host memory
and then makes a synchronous pageable copy that the driver stages through its own pinned buffers again: one
more memcpy per byte, page faults on the mapping, and no overlap between reading and the transfer inside a
thread. Both paths spread the tensors over threads (largest first onto the least-loaded thread) because
the copy out of the page cache is CPU-bound per thread and releases the GIL. On the CPU the `safe_open`
path stays (there the mmap-backed read is already the cheap one); `_read_staged` also runs on the CPU, with
plain buffers and no streams, so its chunk loop is tested without a GPU. `bench/load_bench.py` compares
the two on a GPU.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

Progress = Callable[[str, Optional[float]], None]  # (phase, fraction 0..1 or None)
Transform = Callable[[str, torch.Tensor], object]  # (tensor name, tensor on the device) -> what to keep

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
                "F8_E4M3": 1, "F8_E5M2": 1}
TORCH_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
                "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}
# safetensors itself refuses headers above 100 MB; a larger length means a corrupt or non-safetensors file.
_MAX_HEADER = 100 * 1024 * 1024
DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024  # per pinned buffer; each thread owns two


def _noop(phase: str, frac: Optional[float]) -> None:
    pass


def weight_files(model_dir: Path) -> list[Path]:
    """The checkpoint's safetensors files: model.safetensors, or the shards its index names."""
    if (model_dir / "model.safetensors").exists():
        return [model_dir / "model.safetensors"]
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        return [model_dir / s for s in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    raise FileNotFoundError(f"{model_dir}: no model.safetensors or model.safetensors.index.json")


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's bytes lie in its file (`offset` is absolute: 8 + header length + data_offsets[0])."""
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    offset: int
    nbytes: int


def parse_header(path) -> tuple[list[TensorEntry], dict]:
    """The tensors a safetensors file holds and its `__metadata__`, from the header alone (no tensor bytes read).

    Raises ValueError naming the file when it is too short, the header is not the JSON object the format
    prescribes, a dtype is unknown, or a tensor's bytes disagree with its shape or lie past the end of the file.
    """
    path = Path(path)
    size = path.stat().st_size

    def bad(why: str) -> ValueError:
        return ValueError(f"{path}: not a valid safetensors file: {why}")

    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise bad(f"{size} bytes, shorter than the 8-byte header length (truncated?)")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER:
            raise bad(f"header length {n} is implausible (corrupt file?)")
        if 8 + n > size:
            raise bad(f"header length {n} runs past the end of the file ({size} bytes; truncated?)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise bad("__metadata__ is not a JSON object")
    data_start = 8 + n
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise bad(f"tensor {name!r}: entry is not a JSON object")
        dt, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dt not in TORCH_DTYPES:
            raise bad(f"tensor {name!r}: unknown dtype {dt!r} (known: {', '.join(TORCH_DTYPES)})")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise bad(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) for o in offs)
                or not 0 <= offs[0] <= offs[1]):
            raise bad(f"tensor {name!r}: data_offsets {offs!r} is not [begin, end] with 0 <= begin <= end")
        nbytes = math.prod(shape) * _DTYPE_BYTES[dt]
        if offs[1] - offs[0] != nbytes:
            raise bad(f"tensor {name!r}: data_offsets span {offs[1] - offs[0]} bytes, its {dt} shape {shape} "
                      f"needs {nbytes}")
        if data_start + offs[1] > size:
            raise bad(f"tensor {name!r} ends at byte {data_start + offs[1]}, past the end of the file "
                      f"({size} bytes; truncated?)")
        entries.append(TensorEntry(name, TORCH_DTYPES[dt], tuple(shape), data_start + offs[0], nbytes))
    return entries, meta


def _balance(jobs: list, n: int, size=lambda j: j[-1]) -> list[list]:
    """Jobs spread over n threads: largest first onto the least-loaded thread; empty buckets dropped."""
    buckets: list[list] = [[] for _ in range(n)]
    loads = [0] * n
    for job in sorted(jobs, key=lambda j: -size(j)):
        i = loads.index(min(loads))
        buckets[i].append(job)
        loads[i] += size(job)
    return [b for b in buckets if b]


def read_weights(model_dir, device: torch.device, dtype: Optional[torch.dtype], progress: Progress = _noop,
                 threads: Optional[int] = None, inference: bool = True, method: str = "auto",
                 buffer_bytes: Optional[int] = None, stats: Optional[dict] = None,
                 cancel: Optional[threading.Event] = None, transform: Optional[Transform] = None) -> dict:
    """All tensors of a checkpoint, each read from the file straight onto `device`; floating-point tensors cast
    to `dtype` (None: kept). inference=True reads under torch.inference_mode (chat); training needs plain
    tensors (inference tensors cannot be saved for backward), so it passes False.

    method: "auto" (staged on CUDA, safe_open elsewhere), "staged" or "safe_open" (FastPathOptions.weight_reader;
    the benchmark forces one).
    buffer_bytes: the size of each pinned buffer of the staged path (two per thread); stats: see _read_staged.
    cancel: when set (a training run whose setup failed while this read ran in the background), the threads
    stop before their next tensor and ReadCancelled is raised.
    transform(name, tensor): what to keep instead of each tensor, computed in the reading thread as soon as the
    tensor is on the device (on CUDA, on that thread's stream), so that e.g. a quantized copy replaces the dense
    one before the next tensor arrives: the dense checkpoint never exists on the device as a whole."""
    device = torch.device(device)
    files = weight_files(Path(model_dir))
    if method == "auto":
        method = "staged" if device.type == "cuda" else "safe_open"
    n = threads or (min(12, os.cpu_count() or 1) if device.type == "cuda" else 1)
    if method == "staged":
        return _read_staged(files, device, dtype, buffer_bytes or DEFAULT_BUFFER_BYTES, n, progress=progress,
                            inference=inference, stats=stats, cancel=cancel, transform=transform)
    if method == "safe_open":
        return _read_safe_open(files, device, dtype, progress, n, inference, cancel, transform)
    raise ValueError(f"unknown read method {method!r} (auto, staged, safe_open)")


class ReadCancelled(Exception):
    """A read stopped because its `cancel` event was set."""


def _cancelled(cancel: Optional[threading.Event]) -> bool:
    return cancel is not None and cancel.is_set()


def _read_safe_open(files: list[Path], device: torch.device, dtype: Optional[torch.dtype], progress: Progress,
                    n: int, inference: bool, cancel: Optional[threading.Event] = None,
                    transform: Optional[Transform] = None) -> dict:
    """One `safe_open(device=...)` handle per file and thread; each tensor through pageable host memory."""
    from safetensors import safe_open

    total = sum(f.stat().st_size for f in files) or 1
    jobs = []  # (file, tensor name, bytes)
    for f in files:
        with safe_open(str(f), framework="pt", device="cpu") as sf:
            for name in sf.keys():
                sl = sf.get_slice(name)
                jobs.append((f, name, math.prod(sl.get_shape()) * _DTYPE_BYTES.get(sl.get_dtype(), 4)))
    done = [0]
    lock = threading.Lock()
    out: dict[str, torch.Tensor] = {}
    progress("weights", 0.0)

    def read(bucket) -> None:
        handles = {}
        try:
            with torch.inference_mode() if inference else torch.no_grad():
                for f, name, nbytes in bucket:
                    if _cancelled(cancel):
                        return
                    if f not in handles:
                        handles[f] = safe_open(str(f), framework="pt", device=str(device)).__enter__()
                    t = handles[f].get_tensor(name)
                    if dtype is not None and t.is_floating_point() and t.dtype != dtype:
                        t = t.to(dtype)
                    if transform is not None:
                        t = transform(name, t)
                    with lock:
                        out[name] = t
                        done[0] += nbytes
                        progress("weights", min(done[0] / total, 0.999))
        finally:
            for h in handles.values():
                with contextlib.suppress(Exception):
                    h.__exit__(None, None, None)

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(read, _balance(jobs, n)))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if _cancelled(cancel):
        raise ReadCancelled("weight read cancelled")
    progress("weights", 1.0)  # file sizes include headers, so the byte count stops just short
    return out


def _pread_into(f, mv: memoryview, offset: int, path: Path) -> None:
    """Fill `mv` with the file's bytes from `offset` (preadv may return short counts; 0 means end of file)."""
    got, n = 0, len(mv)
    while got < n:
        if hasattr(os, "preadv"):
            r = os.preadv(f.fileno(), [mv[got:]], offset + got)
        else:  # each thread owns its handle, so seeking is safe
            f.seek(offset + got)
            r = f.readinto(mv[got:])
        if not r:
            raise ValueError(f"{path}: file ended at byte {offset + got}, expected {n - got} more (truncated?)")
        got += r


def _transformed(transform: Transform, name: str, tensor: torch.Tensor, stream) -> object:
    """transform(name, tensor) after the tensor's copies on `stream` (a reading thread's CUDA stream, or None)."""
    if stream is None:
        return transform(name, tensor)
    tensor.record_stream(stream)  # freed inside transform while its kernels may still read it
    with torch.cuda.stream(stream):
        return transform(name, tensor)


def _tensor_jobs(files: list[Path]) -> list[tuple]:
    """(file, header entry, bytes) of every tensor of `files`; a name in two files is an error."""
    jobs, seen = [], {}
    for f in files:
        for e in parse_header(f)[0]:
            if e.name in seen:
                raise ValueError(f"{f}: tensor {e.name!r} is also in {seen[e.name]}")
            seen[e.name] = f
            jobs.append((f, e, e.nbytes))
    return jobs


def _read_staged(files, device, dtype: Optional[torch.dtype], buffer_bytes: int = DEFAULT_BUFFER_BYTES,
                 threads: int = 1, progress: Progress = _noop, inference: bool = True,
                 stats: Optional[dict] = None, cancel: Optional[threading.Event] = None,
                 transform: Optional[Transform] = None) -> dict:
    """All tensors of `files` on `device`, read in chunks through two reusable host buffers per thread.

    CUDA: the buffers are pinned, each chunk goes to the GPU with a non-blocking copy on the thread's own
    stream, and an event per buffer tells the host when the buffer may be refilled, so reading the next chunk
    overlaps the transfer of the previous one. CPU: the same loop with plain buffers and synchronous copies
    (tests run it). Every stream is drained before returning: the tensors are ready for the default stream.
    `stats`, if given, receives per-phase seconds summed over threads (for the benchmark)."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda and device.index is None:  # worker threads start on GPU 0: name the caller's current GPU explicitly
        device = torch.device("cuda", torch.cuda.current_device())
    if buffer_bytes < 1:
        raise ValueError(f"buffer_bytes must be positive, got {buffer_bytes}")
    files = [Path(f) for f in files]
    jobs = _tensor_jobs(files)  # (file, entry, bytes)
    total = sum(f.stat().st_size for f in files) or 1
    done = [0]
    lock = threading.Lock()
    failed = threading.Event()
    out: dict[str, torch.Tensor] = {}
    totals = {"alloc_s": 0.0, "read_s": 0.0, "wait_s": 0.0, "copy_s": 0.0, "chunks": 0}
    progress("weights", 0.0)

    def read(bucket) -> None:
        clock = dict.fromkeys(totals, 0)
        handles = {}
        stream = None
        k = 0  # chunk counter: buffers alternate across chunks and tensors
        try:
            if cuda:
                torch.cuda.set_device(device)  # per host thread (this pool's own threads): streams, events, copies
            t0 = time.perf_counter()
            size = max(1, min(buffer_bytes, max(nb for _, _, nb in bucket)))  # no bigger than this thread needs
            bufs = [torch.empty(size, dtype=torch.uint8, pin_memory=cuda) for _ in range(2)]
            views = [memoryview(b.numpy()) for b in bufs]
            stream = torch.cuda.Stream(device) if cuda else None
            events = [torch.cuda.Event() if cuda else None for _ in bufs]
            clock["alloc_s"] += time.perf_counter() - t0
            with torch.inference_mode() if inference else torch.no_grad():
                for f, e, nbytes in bucket:
                    if failed.is_set() or _cancelled(cancel):
                        return
                    if f not in handles:
                        handles[f] = open(f, "rb", buffering=0)
                    # Allocated on the thread's default stream (the caller's), written on `stream`: the result
                    # belongs to the caller's stream, and the final synchronize orders the writes before any use.
                    raw = torch.empty(nbytes, dtype=torch.uint8, device=device)
                    for off in range(0, nbytes, size):
                        m = min(size, nbytes - off)
                        b = k % 2
                        k += 1
                        t0 = time.perf_counter()
                        if cuda:
                            events[b].synchronize()  # the buffer's previous transfer has finished
                        t1 = time.perf_counter()
                        _pread_into(handles[f], views[b][:m], e.offset + off, f)
                        t2 = time.perf_counter()
                        if cuda:
                            with torch.cuda.stream(stream):
                                raw[off:off + m].copy_(bufs[b][:m], non_blocking=True)
                                events[b].record(stream)
                        else:
                            raw[off:off + m].copy_(bufs[b][:m])
                        t3 = time.perf_counter()
                        clock["wait_s"] += t1 - t0
                        clock["read_s"] += t2 - t1
                        clock["copy_s"] += t3 - t2
                        clock["chunks"] += 1
                    tensor = raw.view(e.dtype).view(e.shape)
                    if dtype is not None and tensor.is_floating_point() and tensor.dtype != dtype:
                        cast = torch.empty(e.shape, dtype=dtype, device=device)
                        if cuda:
                            with torch.cuda.stream(stream):
                                cast.copy_(tensor)
                            raw.record_stream(stream)  # its memory is not reused before the cast has read it
                        else:
                            cast.copy_(tensor)
                        tensor = cast
                    del raw
                    if transform is not None:
                        tensor = _transformed(transform, e.name, tensor, stream)
                    with lock:
                        out[e.name] = tensor
                        done[0] += nbytes
                        progress("weights", min(done[0] / total, 0.999))
        except BaseException:
            failed.set()
            raise
        finally:
            if stream is not None:
                stream.synchronize()  # no transfer may still read a buffer once it is freed
            for h in handles.values():
                h.close()
            with lock:
                for key, v in clock.items():
                    totals[key] += v

    n = max(1, threads)
    try:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(read, _balance(jobs, n)))
    finally:
        if cuda:
            torch.cuda.synchronize(device)
            # The pinned buffers would otherwise stay in torch's host cache, locked, for the process's life.
            empty = getattr(torch._C, "_host_emptyCache", None)
            if empty is not None:
                with contextlib.suppress(Exception):
                    empty()
    if _cancelled(cancel):
        raise ReadCancelled("weight read cancelled")
    if stats is not None:
        stats.update({k: round(v, 4) if isinstance(v, float) else v for k, v in totals.items()})
    progress("weights", 1.0)  # file sizes include headers, so the byte count stops just short
    return out
