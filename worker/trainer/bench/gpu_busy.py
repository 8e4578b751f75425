"""Host-independent figures of a benchmark run: the device's busy time and its clock while it was busy.

A host-bound stack (the transformers + peft baseline launches ~10,000 small kernels a step) measures slower
on a slower or busier host CPU. Its GPU-busy time -- the union of the kernels' execution intervals over the
measured steps, from torch.profiler -- is the time those steps would take on an infinitely fast CPU, so
tokens / busy time is a bound that does not move with the host. Kernels on one stream never overlap, so the
union equals the sum of kernel times there; with several streams the union counts overlapped time once.

On the CPU (smoke runs and tests) the same code measures the union of the top-level CPU operators'
intervals, so the code path runs without a GPU.

`ClockSampler` reads the SM clock from nvidia-smi in a thread while the measured steps run (the clock at idle
says nothing about the clock under load).
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from typing import Callable

import torch


def _union_us(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total


def _device_intervals(prof) -> list[tuple[float, float]]:
    """(start, end) in microseconds of every device-side event (kernels, copies, sets)."""
    out = []
    for e in prof.profiler.kineto_results.events():
        if "CUDA" in str(e.device_type()) and e.duration_ns() > 0:
            out.append((e.start_ns() / 1e3, (e.start_ns() + e.duration_ns()) / 1e3))
    if not out:  # a torch whose raw events lack the device's: the parsed events (slow, but they have them)
        out = [(float(e.time_range.start), float(e.time_range.end)) for e in prof.events()
               if "CUDA" in str(getattr(e, "device_type", "")) and e.time_range.end > e.time_range.start]
    return out


def _top_level_cpu_intervals(prof) -> list[tuple[float, float]]:
    """(start, end) in microseconds of the CPU operators without a parent (the CPU stand-in for a device)."""
    out = []
    for e in prof.events():
        if "CUDA" in str(getattr(e, "device_type", "")) or e.cpu_parent is not None:
            continue
        tr = e.time_range
        if tr.end > tr.start:
            out.append((float(tr.start), float(tr.end)))
    return out


def busy_time(fn: Callable[[], None], device: torch.device) -> dict:
    """Run `fn` (the measured steps; it must wait for the device itself) under torch.profiler and return
    {"busy_s": union of device kernel intervals (CPU: of top-level operators), "kernel_sum_s", "kernels",
    "wall_s"}."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    # On CUDA only the kernels are recorded, and read from kineto's raw events: turning ~100k kernels of a
    # host-bound stack into FunctionEvent trees (prof.events()) takes minutes of CPU.
    acts = [ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]
    with profile(activities=acts) as prof:
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize(device)
        wall = time.perf_counter() - t
    intervals = _device_intervals(prof) if cuda else _top_level_cpu_intervals(prof)
    return {"busy_s": round(_union_us(intervals) / 1e6, 4),
            "kernel_sum_s": round(sum(e - s for s, e in intervals) / 1e6, 4),
            "kernels": len(intervals), "wall_s": round(wall, 4),
            "measures": "CUDA kernel intervals" if cuda else "top-level CPU operator intervals (no GPU)"}


def read_sm_clock_mhz() -> int | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=clocks.sm", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return int(out.splitlines()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


class ClockSampler:
    """`with ClockSampler() as c: <measured steps>`; then c.summary(): the SM clock's median / min / max and
    the number of samples taken during the window (empty where there is no nvidia-smi)."""

    def __init__(self, period_s: float = 0.25, reader: Callable[[], int | None] = read_sm_clock_mhz):
        self.period_s, self.reader, self.samples = period_s, reader, []
        self._stop = threading.Event()
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            v = self.reader()
            if v is None:
                return
            self.samples.append(v)
            self._stop.wait(self.period_s)

    def __enter__(self):
        self._thread = threading.Thread(target=self._loop, name="sm-clock", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        return False

    def summary(self) -> dict:
        if not self.samples:
            return {}
        return {"gpu_clock_mhz": int(statistics.median(self.samples)), "gpu_clock_min_mhz": min(self.samples),
                "gpu_clock_max_mhz": max(self.samples), "gpu_clock_samples": len(self.samples)}
