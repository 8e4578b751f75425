"""(g) Contract test: the shared fixture parses with our event dataclasses and round-trips."""

import io
import json

import pytest

from conftest import REPO_ROOT
from tuneboard_trainer.events import (
    EVENT_TYPES, Done, Error, EventSink, EventValidationError, Log, Step, parse_event, to_dict,
)

FIXTURE = REPO_ROOT / "lib/schemas/fixtures/trainer-events.jsonl"


def fixture_lines():
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def test_fixture_round_trips():
    lines = fixture_lines()
    assert {d["type"] for d in lines} == set(EVENT_TYPES)  # the fixture covers every event type
    for d in lines:
        event = parse_event(d)
        assert to_dict(event, t=d["time"]) == d


def test_emitted_events_parse_back():
    buf = io.StringIO()
    sink = EventSink(buf)
    sink.emit(Step(step=1, total_steps=2, epoch=0.5, loss=1.5, lr=1e-4, grad_norm=None, tokens=10,
                   tokens_per_sec=3.0, elapsed_s=1.0))
    sink.emit(Error(message="boom", kind="data"))
    sink.emit(Done(step=2, train_loss=1.0, runtime_s=2.0, tokens_seen=20, adapter_path="out"))
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3
    parsed = [parse_event(line) for line in lines]
    assert isinstance(parsed[0], Step) and parsed[0].grad_norm is None
    assert "traceback" not in json.loads(lines[1])  # optional key omitted, not null


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("loss"), "loss"),
    (lambda d: d.update(loss="1.0"), "loss"),
    (lambda d: d.update(step=True), "step"),
    (lambda d: d.update(v=2), "v"),
    (lambda d: d.update(extra=1), "extra: unknown field"),
])
def test_validator_rejects_bad_step(mutate, field):
    d = next(x for x in fixture_lines() if x["type"] == "step")
    mutate(d)
    with pytest.raises(EventValidationError, match=field):
        parse_event(d)


def test_enum_values_checked():
    with pytest.raises(EventValidationError, match="level"):
        parse_event(to_dict(Log(level="debug", message="x")))
    with pytest.raises(EventValidationError, match="kind"):
        parse_event(to_dict(Error(message="x", kind="weird")))


def test_event_types_are_the_contracts():
    from tuneboard_trainer.contracts.enums import TRAINER_EVENT_TYPES

    assert set(EVENT_TYPES) == set(TRAINER_EVENT_TYPES)


def test_optional_keys_are_omitted_not_null():
    d = to_dict(Error(message="x", kind="data"))
    with pytest.raises(EventValidationError, match="traceback"):
        parse_event({**d, "traceback": None})
