"""What a registered dataset holds (sft, preference, kto, pretraining) and whether it fits the run's stage.

The rule is a table written once in TypeScript (lib/schemas/run-config.ts DATASET_KIND_RULES, generated into
contracts/enums.py): the dashboard filters its dataset pickers with it and refuses a mismatched run at Start;
the trainer refuses the same mismatch with the same words for a config written by hand.
"""

from __future__ import annotations

from .contracts.enums import DATASET_KIND_RULES, DEFAULT_DATASET_KIND, STAGE_DATASET_KINDS, STAGE_DATASET_MESSAGE
from .data import DataError, resolve_dataset


def _named(columns: dict, key: str) -> bool:
    return isinstance(columns.get(key), str) and columns[key] != ""


def _matches(rule: dict, entry: dict) -> bool:
    columns = entry.get("columns") or {}
    if rule.get("ranking") and entry.get("ranking") is not True:
        return False
    if "column" in rule and not _named(columns, rule["column"]):
        return False
    if "formatting" in rule and (entry.get("formatting") or "alpaca") != rule["formatting"]:
        return False
    return not any(_named(columns, k) for k in rule.get("without_columns", ()))


def dataset_kind(entry: dict) -> str:
    """The kind of one dataset_info.json entry ({"formatting", "ranking", "columns"} as the file has them)."""
    return next((rule["kind"] for rule in DATASET_KIND_RULES if _matches(rule, entry)), DEFAULT_DATASET_KIND)


def check_datasets_fit_stage(dataset_dir, names: list[str], stage: str) -> None:
    """DataError naming the first dataset whose kind the stage does not train on."""
    for name in names:
        entry = resolve_dataset(dataset_dir, name)
        source = {"formatting": entry.formatting, "ranking": entry.ranking, "columns": entry.explicit_columns}
        if dataset_kind(source) not in STAGE_DATASET_KINDS[stage]:
            kinds = " or ".join(STAGE_DATASET_KINDS[stage])
            raise DataError(STAGE_DATASET_MESSAGE.format(name=name, stage=stage, kinds=kinds))


__all__ = ["check_datasets_fit_stage", "dataset_kind"]
