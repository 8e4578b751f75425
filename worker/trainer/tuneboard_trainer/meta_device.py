"""Building a model on the meta device without running its parameter initialisers.

Under `torch.device("meta")` the modules' constructors still call `torch.nn.init` (normal_, kaiming_uniform_,
...). On meta tensors those calls do nothing useful, but `normal_` goes through a Python reference
decomposition whose first call imports `torch._dynamo`: over a second of start-up on a training path that
never compiles. `meta_device()` is the device context with every `torch.nn.init` function returning its tensor
untouched; the weights are assigned from the checkpoint right after.
"""

from __future__ import annotations

import contextlib

import torch
from torch.overrides import TorchFunctionMode


class _SkipInit(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__module__", None) == "torch.nn.init":
            return args[0] if args else (kwargs or {}).get("tensor")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def meta_device():
    """`with meta_device(): model = build_model(cfg)`: shapes and dtypes only, no memory, no initialisers."""
    with torch.device("meta"), _SkipInit():
        yield
