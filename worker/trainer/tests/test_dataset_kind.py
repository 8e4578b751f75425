"""The dataset-kind rule (generated from lib/schemas/run-config.ts) on the golden entries that
lib/datasets/kind.test.ts reads too, and the trainer's refusal of a dataset that does not fit the stage."""

import json
from pathlib import Path

import pytest

from tuneboard_trainer.data import DataError
from tuneboard_trainer.dataset_kind import check_datasets_fit_stage, dataset_kind

GOLDEN = json.loads((Path(__file__).resolve().parents[3] / "lib/datasets/golden/dataset-kinds.json").read_text())


@pytest.mark.parametrize("case", GOLDEN, ids=lambda c: json.dumps(c["entry"]))
def test_golden_entries_have_the_kind_the_dashboard_gives_them(case):
    assert dataset_kind(case["entry"]) == case["kind"]


def test_a_dataset_that_does_not_fit_the_stage_is_refused_in_the_dashboards_words(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "identity": {"file_name": "identity.json"},
        "pairs": {"file_name": "pairs.json", "ranking": True},
    }))
    check_datasets_fit_stage(tmp_path, ["identity"], "sft")
    check_datasets_fit_stage(tmp_path, ["pairs"], "dpo")
    with pytest.raises(DataError, match='^dataset "pairs" does not fit stage sft: choose a sft dataset$'):
        check_datasets_fit_stage(tmp_path, ["identity", "pairs"], "sft")
    with pytest.raises(DataError, match='^dataset "identity" does not fit stage kto: choose a kto dataset$'):
        check_datasets_fit_stage(tmp_path, ["identity"], "kto")
