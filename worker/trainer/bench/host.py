"""Facts about the machine a benchmark ran on, stored with every result: host-bound baselines move
with the host CPU, and GPU figures with the SM clock."""

from __future__ import annotations

import os
import platform
import subprocess


def host_cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_clocks_mhz() -> dict:
    """The SM clock now and its maximum, from nvidia-smi; empty where there is none."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=clocks.sm,clocks.max.sm", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        now, top = (int(v) for v in out.split(","))
        return {"gpu_clock_mhz": now, "gpu_max_clock_mhz": top}
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def host_facts() -> dict:
    return {"host_cpu": host_cpu(), "host_cores": os.cpu_count(), **gpu_clocks_mhz()}
