"""The export benchmarks' shared parts: a random Llama-shaped bf16 checkpoint, a random LoRA adapter for
it, and a peak-memory sampler.

torch is imported inside the functions, so a benchmark's export child (and the encoder processes it
spawns) stay as light as the real export.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path


POOL_VALUES = 1 << 26  # random values drawn once and tiled over every tensor


def write_base(path: Path, layers: int, shape: dict, shard_bytes: int = 5 * 1024**3) -> dict:
    """Random bf16 weights (std 0.02, seed 0) of `shape` with `layers` decoder blocks, in safetensors
    shards of at most `shard_bytes` plus the index. Only one shard is in memory at a time.

    The values come from one pool of POOL_VALUES normal draws, each tensor starting at its own offset:
    drawing 8 B normals costs CPU minutes, and an export's time and memory do not depend on the weights
    being independent beyond that."""
    import torch
    from safetensors.torch import save_file

    from tuneboard_trainer.model import ModelConfig, Transformer

    cfg = {**shape, "num_hidden_layers": layers, "torch_dtype": "bfloat16"}
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in Transformer(ModelConfig.from_hf(cfg)).state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    pool = (torch.randn(POOL_VALUES, generator=gen) * 0.02).to(torch.bfloat16)
    shards, cur, size = [], {}, 0
    weight_map = {}

    def flush():
        nonlocal cur, size
        name = f"model-{len(shards) + 1:05d}.safetensors"
        save_file(cur, str(path / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in cur})
        shards.append(name)
        cur, size = {}, 0

    for i, (k, shp) in enumerate(shapes.items()):
        n = torch.Size(shp).numel()
        start = (i * 7919 * 64) % POOL_VALUES
        reps = (start + n + POOL_VALUES - 1) // POOL_VALUES
        t = (pool.repeat(reps) if reps > 1 else pool)[start:start + n].reshape(shp).clone()
        if cur and size + t.numel() * 2 > shard_bytes:
            flush()
        cur[k] = t
        size += t.numel() * 2
    flush()
    total = sum(torch.Size(s).numel() * 2 for s in shapes.values())
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    return {"params": total // 2, "base_bytes": total}


def write_adapter(base: Path, path: Path, r: int = 16) -> None:
    """A random rank-`r` LoRA adapter (seed 1) on every projection of the checkpoint at `base`."""
    import torch

    from tuneboard_trainer.hf_weights import load_config
    from tuneboard_trainer.lora import ALL_TARGETS, apply_lora, save_adapter
    from tuneboard_trainer.model import Transformer

    with torch.device("meta"):
        model = Transformer(load_config(base))
        apply_lora(model, "all", r=r, alpha=2 * r, use_dora=False)
    gen = torch.Generator().manual_seed(1)
    sd = {k: torch.randn(v.shape, generator=gen) * 0.01 for k, v in model.state_dict().items() if ".lora_" in k}
    model.load_state_dict(sd, strict=False, assign=True)
    model.lora_config["target_modules"] = list(ALL_TARGETS)
    save_adapter(model, path, str(base))


def _status_kib(pid: int | str, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # the process ended between listing and reading
        return 0
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return int(fields.get(key, fields.get("VmRSS", "0 kB")).split()[0])


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_rss_anon_kib(pid: int) -> int:
    """RssAnon of `pid` and all its descendants (the encoder worker processes count too). RssAnon, not
    VmRSS: the memory-mapped checkpoint's pages are page cache, not the process's."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _status_kib(p, "RssAnon")
        todo += _children(p)
    return total


class PeakRss:
    """Samples tree_rss_anon_kib(this process) every 5 ms on a thread while in the `with` block."""

    def __init__(self):
        self.pid = os.getpid()
        self.start_kib = self.peak_kib = tree_rss_anon_kib(self.pid)
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, tree_rss_anon_kib(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> "PeakRss":
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
