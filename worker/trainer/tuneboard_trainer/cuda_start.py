"""The CUDA driver's start-up (cuInit and the GPU's primary context), begun in a thread before torch is imported.

A training process spends its first seconds importing torch (Python-bound), and its CUDA runtime later creates
the device's primary context on the first CUDA call (driver work: seconds on a large GPU without persistence
mode). Both are independent, so `start_cuda_context` calls the driver through ctypes in a daemon thread
(ctypes releases the GIL for the call) while the main thread imports. The runtime then finds the primary
context made and uses it: this is the context torch would have created, retained once more for the process's
life. Any failure (no driver, no such device) ends the thread quietly: torch reports CUDA problems itself, where
the run asks for the device.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Optional


def cuda_device_index(device: str) -> Optional[int]:
    """The GPU a run's `device` setting names ("cuda" / "auto": 0, "cuda:N": N); None for the CPU."""
    if device in ("auto", "cuda"):
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    return None


def _retain_primary_context(index: int, done: dict) -> None:
    try:
        lib = ctypes.CDLL("libcuda.so.1")
        dev, ctx = ctypes.c_int(), ctypes.c_void_p()
        done["ok"] = (lib.cuInit(0) == 0 and lib.cuDeviceGet(ctypes.byref(dev), index) == 0
                      and lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev) == 0)
    except (OSError, AttributeError):  # no driver library (a CPU machine) or an unexpected one
        done["ok"] = False


def start_cuda_context(device: str) -> Optional[threading.Thread]:
    """Begin the driver's start-up for the run's `device` in a daemon thread; None when there is nothing to
    start: a CPU device, or a torchrun rank (its device is chosen from LOCAL_RANK later). The thread's
    `result` dict gets "ok" (whether the primary context was retained) when it ends."""
    index = cuda_device_index(device)
    if index is None or "LOCAL_RANK" in os.environ:
        return None
    done: dict = {}
    thread = threading.Thread(target=_retain_primary_context, args=(index, done), name="cuda-start", daemon=True)
    thread.result = done  # type: ignore[attr-defined]
    thread.start()
    return thread
