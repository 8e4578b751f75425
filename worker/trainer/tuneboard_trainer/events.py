"""Trainer event protocol v1: one JSON object per line on stdout.

The shapes are the zod schemas of lib/schemas/trainer-events.ts, generated into
contracts/trainer_event.schema.json; both sides check lib/schemas/fixtures/trainer-events.jsonl.
Human-readable logs go to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Optional, TextIO, Union

from .validation import ContractError, validate

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
    # preference / reward stages: TRL's metrics (contracts.enums.STAGE_METRICS) averaged since the last step event
    metrics: Optional[dict] = None
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
    # {patience, min_delta, best_eval_loss, best_step, saved_step} when early stopping ended the run; omitted otherwise
    stopped_early: Optional[dict] = None
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
             ("done", "eval_loss"), ("done", "stopped_early"), ("step", "gpu_mem_gib"), ("step", "metrics")}


class EventValidationError(ValueError):
    pass


def to_dict(event, t: Optional[float] = None) -> dict:
    d = {"v": PROTOCOL_VERSION, "type": event.type, "time": _now() if t is None else t}
    for k, v in asdict(event).items():
        if k == "type" or ((event.type, k) in _OPTIONAL and v is None):
            continue
        d[k] = v
    return d


def parse_event(obj) -> object:
    """Validate one decoded JSON line against the protocol's contract (lib/schemas/trainer-events.ts,
    generated into contracts/trainer_event.schema.json) and return the event dataclass; raises
    EventValidationError naming the field."""
    if isinstance(obj, str):
        obj = json.loads(obj)
    try:
        d = validate("trainer_event", obj)
    except ContractError as e:
        raise EventValidationError(str(e)) from None
    cls = EVENT_TYPES[d["type"]]
    return cls(**{k: v for k, v in d.items() if k not in ("v", "type", "time")})


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
