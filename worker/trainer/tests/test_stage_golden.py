"""The trainer's record rules against the golden cases the Datasets page's editor is tested with
(lib/datasets/golden/stage-records.json, read by lib/datasets/stage-records.test.ts): both accept and
refuse the same preference, KTO and pre-training records."""

import json
from pathlib import Path

import pytest

from tuneboard_trainer.data import DataError, resolve_dataset
from tuneboard_trainer.stage_data import kto_messages, load_documents, pair_messages
from tuneboard_trainer.templates import get_template

GOLDEN = Path(__file__).resolve().parents[3] / "lib" / "datasets" / "golden" / "stage-records.json"
ALL = json.loads(GOLDEN.read_text(encoding="utf-8"))
CASES = [c for c in ALL if c["kind"] in ("preference", "kto")]
DOCUMENTS = [c for c in ALL if c["kind"] == "pretraining"]


def write(root, case):
    (root / "dataset_info.json").write_text(json.dumps({"golden": {"file_name": "golden.json", **case["entry"]}}))
    (root / "golden.json").write_text(json.dumps([case["record"]]))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(tmp_path, case):
    write(tmp_path, case)
    entry = resolve_dataset(tmp_path, "golden")
    read = pair_messages if case["kind"] == "preference" else kto_messages
    if case["refused_at"] is None:
        read(entry, case["record"], "record 0")
    else:
        with pytest.raises(DataError, match="record 0"):
            read(entry, case["record"], "record 0")


@pytest.mark.parametrize("case", DOCUMENTS, ids=[c["name"] for c in DOCUMENTS])
def test_golden_document(tmp_path, tokenizer, case):
    write(tmp_path, case)
    template = get_template("llama3", tokenizer)
    if case["refused_at"] is None:
        examples, _ = load_documents(tmp_path, ["golden"], template, 64, 10)
        assert len(examples) == 1
    else:
        # A column missing from the whole file is refused before any record is read.
        with pytest.raises(DataError, match="golden"):
            load_documents(tmp_path, ["golden"], template, 64, 10)


def test_golden_cases_cover_every_stage():
    assert {c["kind"] for c in CASES} == {"preference", "kto"} and DOCUMENTS
    assert sum(c["refused_at"] is not None for c in CASES) >= 10
