"""Cold page cache for a benchmark's model files, without root: written back, then dropped with
posix_fadvise(DONTNEED), which evicts a file's clean pages that no process has mapped."""

from __future__ import annotations

import os
from pathlib import Path


def evict(model_dir: Path) -> dict:
    """Drop the page-cache pages of every file under `model_dir`; returns the files and bytes dropped."""
    os.sync()  # dirty pages cannot be dropped: write them back first
    files = [p for p in sorted(Path(model_dir).rglob("*")) if p.is_file()]
    total = 0
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        total += p.stat().st_size
    return {"files": len(files), "bytes": total}
