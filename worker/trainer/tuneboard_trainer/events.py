"""Trainer event protocol v1: one JSON object per line on stdout.

The TypeScript worker parses exactly these shapes (see
lib/schemas/fixtures/trainer-events.jsonl). Human-readable logs go to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Optional, TextIO, Union

PROTOCOL_VERSION = 1
Number = Union[int, float]


def _now() -> float:
    return time.time()


@dataclass
class Started:
    total_steps: int
    num_samples: int
    num_epochs: Number
    trainable_params: int
    total_params: int
    device: str
    dtype: str
    output_dir: str
    num_eval_samples: Optional[int] = None  # held-out samples (val_size); omitted when there are none
    # The fast path's options as the run resolved them (fast.resolved_options); omitted when not reported.
    fast_path_options: Optional[dict] = None
    type: str = field(default="started", init=False)


@dataclass
class Log:
    level: str  # info | warning | error
    message: str
    type: str = field(default="log", init=False)


@dataclass
class Step:
    step: int
    total_steps: int
    epoch: Number
    loss: Number
    lr: Number
    grad_norm: Optional[Number]  # null when not finite / not computed
    tokens: int  # cumulative non-padding input tokens
    tokens_per_sec: Number
    elapsed_s: Number
    gpu_mem_gib: Optional[Number] = None  # peak allocated since the previous step event; None on the CPU
    type: str = field(default="step", init=False)


@dataclass
class Eval:
    step: int
    epoch: Number
    eval_loss: Number  # mean next-token loss over the held-out split's labelled tokens
    type: str = field(default="eval", init=False)


@dataclass
class Checkpoint:
    step: int
    path: str
    type: str = field(default="checkpoint", init=False)


@dataclass
class Done:
    step: int
    train_loss: Number
    runtime_s: Number
    tokens_seen: int
    adapter_path: str
    eval_loss: Optional[Number] = None  # final eval loss; omitted without a held-out split
    type: str = field(default="done", init=False)


@dataclass
class Error:
    message: str
    kind: str  # config | data | oom | internal
    traceback: Optional[str] = None  # omitted from JSON when None
    type: str = field(default="error", init=False)


@dataclass
class Progress:
    """Evaluate / export jobs (evaluate.py, export.py): `current` of `total` units of `stage` done."""

    task: str  # eval | export
    stage: str  # e.g. load | loss | predict | merge | save
    current: int
    total: int
    type: str = field(default="progress", init=False)


@dataclass
class Result:
    """Evaluate / export finished: the result JSON (metrics, predictions preview, files) is at result_path."""

    task: str  # eval | export
    output_dir: str  # where the outputs are (the job folder, or the export directory)
    result_path: str
    type: str = field(default="result", init=False)


EVENT_TYPES = {cls.__dataclass_fields__["type"].default: cls
               for cls in (Started, Log, Step, Eval, Checkpoint, Done, Error, Progress, Result)}
# (type, key) pairs that may be absent; they are omitted from JSON when None, never written as null.
_OPTIONAL = {("error", "traceback"), ("started", "num_eval_samples"), ("started", "fast_path_options"),
             ("done", "eval_loss"), ("step", "gpu_mem_gib")}
_NULLABLE = {"grad_norm"}  # keys that may be null
_ENUMS = {("log", "level"): ("info", "warning", "error"), ("error", "kind"): ("config", "data", "oom", "internal"),
          ("progress", "task"): ("eval", "export"), ("result", "task"): ("eval", "export")}


class EventValidationError(ValueError):
    pass


def to_dict(event, t: Optional[float] = None) -> dict:
    d = {"v": PROTOCOL_VERSION, "type": event.type, "time": _now() if t is None else t}
    for k, v in asdict(event).items():
        if k == "type" or ((event.type, k) in _OPTIONAL and v is None):
            continue
        d[k] = v
    return d


def _type_ok(value, annotation: str) -> bool:
    if isinstance(value, bool):
        return False  # never a valid number or string in this protocol
    if annotation in ("int",):
        return isinstance(value, int)
    if annotation in ("Number",):
        return isinstance(value, (int, float))
    if annotation == "str":
        return isinstance(value, str)
    if annotation == "dict":  # a flat object of scalars (started.fast_path_options)
        return isinstance(value, dict) and all(
            isinstance(k, str) and (v is None or isinstance(v, (bool, int, float, str))) for k, v in value.items())
    if annotation.startswith("Optional["):
        return value is None or _type_ok(value, annotation[9:-1])
    raise AssertionError(annotation)


def parse_event(obj) -> object:
    """Validate one decoded JSON line and return the event dataclass; raises EventValidationError."""
    if isinstance(obj, str):
        obj = json.loads(obj)
    if not isinstance(obj, dict):
        raise EventValidationError("event must be an object")
    if obj.get("v") != PROTOCOL_VERSION:
        raise EventValidationError(f"v: expected {PROTOCOL_VERSION}")
    if not isinstance(obj.get("time"), (int, float)) or isinstance(obj.get("time"), bool):
        raise EventValidationError("time: expected a number")
    cls = EVENT_TYPES.get(obj.get("type"))
    if cls is None:
        raise EventValidationError(f"type: unknown {obj.get('type')!r}")
    kwargs = {}
    for f in fields(cls):
        if f.name == "type":
            continue
        optional = (obj["type"], f.name) in _OPTIONAL
        if f.name not in obj:
            if optional:
                continue
            raise EventValidationError(f"{obj['type']}.{f.name}: missing")
        v = obj[f.name]
        if optional and v is None:
            raise EventValidationError(f"{obj['type']}.{f.name}: omit the key instead of null")
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if not _type_ok(v, ann):
            raise EventValidationError(f"{obj['type']}.{f.name}: bad value {v!r}")
        allowed = _ENUMS.get((obj["type"], f.name))
        if allowed and v not in allowed:
            raise EventValidationError(f"{obj['type']}.{f.name}: must be one of {allowed}")
        kwargs[f.name] = v
    extra = set(obj) - {"v", "type", "time"} - {f.name for f in fields(cls)}
    if extra:
        raise EventValidationError(f"{obj['type']}: unexpected keys {sorted(extra)}")
    return cls(**kwargs)


class EventSink:
    """The one metric sink: writes events as JSON lines (stdout by default) and flushes each."""

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream or sys.stdout

    def emit(self, event) -> dict:
        d = to_dict(event)
        line = json.dumps(d, ensure_ascii=False, allow_nan=False)
        self.stream.write(line + "\n")
        self.stream.flush()
        return d

    def log(self, message: str, level: str = "info") -> None:
        self.emit(Log(level=level, message=message))
        print(f"[{level}] {message}", file=sys.stderr, flush=True)
