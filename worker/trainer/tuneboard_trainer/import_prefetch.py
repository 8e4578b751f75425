"""Long imports that a training run needs only after its setup, started in a background thread at its start.

`torch.optim.Optimizer.add_param_group` imports `torch._dynamo` on its first call (about a second of
Python-bound work on a 2-core VM), although a run that does not compile never uses it. Imported in a thread
while the main thread tokenizes the data and reads the weights (file reads and device copies that release
the GIL), it overlaps with them; the optimizer's own import then finds the module loaded, or waits for the
thread's import to finish (Python's per-module import lock), so the order of events never changes.
"""

from __future__ import annotations

import importlib
import threading

PREFETCHED = ("torch._dynamo",)


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 -- the main thread's own import reports any real failure
            return


def prefetch_imports(names: tuple[str, ...] = PREFETCHED) -> threading.Thread:
    """Start importing `names` in a daemon thread; returns the thread (tests join it)."""
    thread = threading.Thread(target=_import_all, args=(names,), name="import-prefetch", daemon=True)
    thread.start()
    return thread
