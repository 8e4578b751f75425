"""Test failure injection for multi-process runs: on PYTHONPATH, makes rank TUNEBOARD_TEST_FAIL_RANK of a
torchrun job fail right after joining (its error must reach the worker labelled with its rank). Loaded by the
interpreter at start-up (sitecustomize); the trainer itself has no such hook."""

import os

_FAIL_RANK = os.environ.get("TUNEBOARD_TEST_FAIL_RANK")

if _FAIL_RANK is not None and os.environ.get("RANK") == _FAIL_RANK:
    from tuneboard_trainer import distributed

    _quiet = distributed.Dist.quiet

    def _quiet_then_fail(self, sink):
        sink = _quiet(self, sink)
        if self.enabled and str(self.rank) == _FAIL_RANK:
            raise RuntimeError(f"injected failure on rank {self.rank} (TUNEBOARD_TEST_FAIL_RANK)")
        return sink

    distributed.Dist.quiet = _quiet_then_fail
