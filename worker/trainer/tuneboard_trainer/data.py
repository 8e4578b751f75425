"""Datasets in LLaMA-Factory layout: `dataset_info.json` + alpaca-format JSON files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .templates import IGNORE_INDEX


class DataError(ValueError):
    """Problem with the dataset (missing file, malformed record, nothing to train on)."""


# LLaMA-Factory's alpaca column roles -> default field names in each record.
DEFAULT_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system", "history": "history"}


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


@dataclass
class DatasetStats:
    num_samples: int = 0
    truncated: int = 0
    dropped: int = 0  # no labelled token left after truncation


def _resolve(dataset_dir: Path, name: str) -> tuple[Path, dict]:
    info_file = dataset_dir / "dataset_info.json"
    if not info_file.exists():
        raise DataError(f"{info_file} not found")
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{info_file}: invalid JSON ({e})") from None
    if name not in info:
        raise DataError(f"dataset {name!r} is not registered in {info_file}")
    entry = info[name]
    fmt = entry.get("formatting", "alpaca")
    if fmt != "alpaca":
        raise DataError(f"dataset {name!r}: formatting {fmt!r} is not supported (only alpaca)")
    if "file_name" not in entry:
        raise DataError(f"dataset {name!r}: only local files (file_name) are supported")
    columns = {**DEFAULT_COLUMNS, **entry.get("columns", {})}
    return dataset_dir / entry["file_name"], columns


def _read_records(path: Path) -> list:
    if not path.exists():
        raise DataError(f"{path} not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records")
    return records


def record_to_messages(rec, columns: dict, where: str) -> list[dict]:
    """One alpaca record -> chat messages. `where` names the record in errors."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object, got {type(rec).__name__}")

    def field(role: str, required: bool) -> str:
        key = columns.get(role)
        val = rec.get(key) if key else None
        if val is None:
            if required:
                raise DataError(f"{where}: missing field {key!r}")
            return ""
        if not isinstance(val, str):
            raise DataError(f"{where}: field {key!r} must be a string")
        return val

    instruction, query, response = field("prompt", True), field("query", False), field("response", True)
    system = field("system", False)
    if not instruction.strip() and not query.strip():
        raise DataError(f"{where}: empty {columns['prompt']!r}")
    messages = [{"role": "system", "content": system}] if system else []
    hist_key = columns.get("history")
    history = rec.get(hist_key) if hist_key else None
    if history:
        if not isinstance(history, list) or not all(
            isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(x, str) for x in t) for t in history
        ):
            raise DataError(f"{where}: field {hist_key!r} must be a list of [user, assistant] string pairs")
        for user, assistant in history:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    prompt = instruction + "\n" + query if query else instruction
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    return messages


def load_examples(dataset_dir, names: list[str], template, cutoff_len: int, max_samples: int):
    """Tokenized examples for all named datasets, plus truncation statistics."""
    examples, stats = [], DatasetStats()
    for name in names:
        path, columns = _resolve(Path(dataset_dir), name)
        records = _read_records(path)[:max_samples]
        for i, rec in enumerate(records):
            messages = record_to_messages(rec, columns, f"dataset {name!r} record {i}")
            ids, labels = template.encode_turns(messages)
            if len(ids) > cutoff_len:
                stats.truncated += 1
                ids, labels = ids[:cutoff_len], labels[:cutoff_len]
            # lm_loss shifts by one, so a label at position 0 could never be predicted.
            if all(l == IGNORE_INDEX for l in labels[1:]):
                stats.dropped += 1
                continue
            examples.append(Example(ids, labels))
    stats.num_samples = len(examples)
    if not examples:
        raise DataError("no trainable samples (all empty or truncated away; check cutoff_len)")
    return examples, stats


def collate(batch: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch to its longest example."""
    T = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), T), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), T), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def epoch_batches(examples: list[Example], batch_size: int, seed: int, epoch: int, pad_id: int):
    """Shuffled (seed + epoch) batches; the last one may be smaller."""
    g = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(len(examples), generator=g).tolist()
    for s in range(0, len(order), batch_size):
        yield collate([examples[j] for j in order[s : s + batch_size]], pad_id)
