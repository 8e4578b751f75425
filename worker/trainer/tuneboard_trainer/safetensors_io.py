"""Reading a Hugging Face safetensors checkpoint straight onto a device, fast: used by training and chat.

Each tensor goes from the file (page cache) to the device through its own `safe_open(device=...)` handle,
with no whole-model host copy, and the tensors are spread over several threads: the copy out of the page cache
into the driver's staging buffers is CPU-bound per thread and releases the GIL, so the threads overlap (16 GB
in ~1.9 s on an H200 host from a warm cache: docs/benchmarks.md § Chat). One thread per shard, as before,
leaves most of that parallelism unused when a model has 4 shards.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional

import torch

Progress = Callable[[str, Optional[float]], None]  # (phase, fraction 0..1 or None)

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
                "F8_E4M3": 1, "F8_E5M2": 1}


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


def read_weights(model_dir, device: torch.device, dtype: Optional[torch.dtype], progress: Progress = _noop,
                 threads: Optional[int] = None, inference: bool = True) -> dict:
    """All tensors of a checkpoint, each read from the file straight onto `device`; floating-point tensors cast
    to `dtype` (None: kept). inference=True reads under torch.inference_mode (chat); training needs plain
    tensors (inference tensors cannot be saved for backward), so it passes False."""
    from safetensors import safe_open

    device = torch.device(device)
    files = weight_files(Path(model_dir))
    total = sum(f.stat().st_size for f in files) or 1
    jobs = []  # (file, tensor name, bytes)
    for f in files:
        with safe_open(str(f), framework="pt", device="cpu") as sf:
            for name in sf.keys():
                sl = sf.get_slice(name)
                jobs.append((f, name, math.prod(sl.get_shape()) * _DTYPE_BYTES.get(sl.get_dtype(), 4)))
    n = threads or (min(12, os.cpu_count() or 1) if device.type == "cuda" else 1)
    buckets: list[list] = [[] for _ in range(n)]
    loads = [0] * n
    for job in sorted(jobs, key=lambda j: -j[2]):  # largest first onto the least-loaded thread
        i = loads.index(min(loads))
        buckets[i].append(job)
        loads[i] += job[2]
    done = [0]
    lock = threading.Lock()
    out: dict[str, torch.Tensor] = {}
    progress("weights", 0.0)

    def read(bucket) -> None:
        handles = {}
        try:
            with torch.inference_mode() if inference else torch.no_grad():
                for f, name, nbytes in bucket:
                    if f not in handles:
                        handles[f] = safe_open(str(f), framework="pt", device=str(device)).__enter__()
                    t = handles[f].get_tensor(name)
                    if dtype is not None and t.is_floating_point() and t.dtype != dtype:
                        t = t.to(dtype)
                    with lock:
                        out[name] = t
                        done[0] += nbytes
                        progress("weights", min(done[0] / total, 0.999))
        finally:
            for h in handles.values():
                with contextlib.suppress(Exception):
                    h.__exit__(None, None, None)

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(read, [b for b in buckets if b]))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    progress("weights", 1.0)  # file sizes include headers, so the byte count stops just short
    return out
