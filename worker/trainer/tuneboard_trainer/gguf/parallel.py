"""Encode a tensor's row chunks on every CPU core, in order, with a bounded number in flight.

The K-quant encoders are numpy on one core each; a process pool (spawned, so no torch state is
forked) runs one chunk per worker. At most `2 * workers` chunks are queued or unread at any time, so
memory stays a few chunks whatever the tensor's size, and the encoded chunks come back in submission
order for the streaming writer. The pool starts on the first slow chunk: small exports (tests, tiny
models) and fast types (F16, BF16, F32, Q8_0) never pay for the worker start-up.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Iterator, Optional

import numpy as np

from .quants import quantize

# Types whose encoders search scales (tens of passes over the values): worth a worker process.
PARALLEL_TYPES = frozenset({"Q4_K", "Q6_K", "Q5_0"})
MIN_PARALLEL_VALUES = 1 << 20  # below this a chunk is encoded in-process (a round trip costs more)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class ChunkEncoder:
    """`encode(chunks, qtype)` -> the encoded chunks in order. Use as a context manager."""

    def __init__(self, workers: Optional[int] = None):
        self.workers = default_workers() if workers is None else max(1, workers)
        self._pool: Optional[ProcessPoolExecutor] = None

    def __enter__(self) -> "ChunkEncoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def encode(self, chunks: Iterable[np.ndarray], qtype: str) -> Iterator[np.ndarray]:
        if self.workers == 1 or qtype not in PARALLEL_TYPES:
            for c in chunks:
                yield quantize(c, qtype)
            return
        pending: deque = deque()
        limit = 2 * self.workers
        for c in chunks:
            if c.size < MIN_PARALLEL_VALUES and not pending:
                yield quantize(c, qtype)
                continue
            pending.append(self._get_pool().submit(quantize, c, qtype))
            while len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
