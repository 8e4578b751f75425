"""Triton on the CPU for the kernel tests: the interpreter (TRITON_INTERPRET=1), skipped where triton is missing.

Run them with triton installed outside the shared venv, e.g.
  PYTHONPATH=/work/triton-pkgs:worker/trainer TRITON_INTERPRET=1 .venv/bin/python -m pytest -q \
      worker/trainer/tests/test_quant_triton.py
"""

import os

import pytest

try:
    import triton  # noqa: F401

    HAS_TRITON = True
except ImportError:  # triton is not a dependency of the CPU trainer
    HAS_TRITON = False

INTERPRETED = HAS_TRITON and os.environ.get("TRITON_INTERPRET") == "1"

needs_interpreter = pytest.mark.skipif(not INTERPRETED, reason="needs triton with TRITON_INTERPRET=1")


def _index_scalars_with_numpy2() -> None:
    """triton 3.6's interpreter turns a loop bound into int(ndarray of shape (1,)), which numpy >= 2.4 refuses;
    read the single element instead."""
    from triton.runtime import interpreter

    if getattr(interpreter._patch_lang_tensor, "_tb_patched", False):
        return
    original = interpreter._patch_lang_tensor

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    patched._tb_patched = True
    interpreter._patch_lang_tensor = patched


if INTERPRETED:
    _index_scalars_with_numpy2()
