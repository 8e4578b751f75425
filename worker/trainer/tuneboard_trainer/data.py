"""Datasets in LLaMA-Factory layout: `dataset_info.json` + alpaca / sharegpt / OpenAI-messages files.

Pipeline (as LLaMA-Factory's supervised processor):
  records (JSON, JSONL or CSV; first `max_samples` per dataset)
  -> messages (alpaca or sharegpt columns/tags; malformed record -> DataError naming dataset and index)
  -> (source, target) token pairs per turn (templates.py)
  -> per-turn truncation to cutoff_len (`infer_seqlen`), labels on targets (train_on_prompt, mask_history)
  -> examples; those with no labelled token left are dropped
  -> datasets concatenated; val_size held out (shuffled by seed)
  -> optional packing: several examples per row, positions restarting at 0, block-diagonal mask.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from .templates import IGNORE_INDEX, TemplateError, check_roles


class DataError(ValueError):
    """Problem with the dataset (missing file, malformed record, nothing to train on)."""


# LLaMA-Factory's column roles -> default field names, per formatting.
DEFAULT_COLUMNS = {
    "alpaca": {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
               "history": "history"},
    "sharegpt": {"messages": "conversations", "system": "system"},
}
# Column roles of the other stages (stage_data.py): preference pairs (`ranking: true`), KTO's
# desirable/undesirable tag, and pre-training's raw text.
STAGE_ROLES = {"chosen", "rejected", "kto_tag", "text"}
RANKING_COLUMNS = {"chosen": "chosen", "rejected": "rejected"}
DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    seq_lens: Optional[list[int]] = None  # packed rows: the length of each sample, in order


@dataclass
class DatasetStats:
    num_samples: int = 0  # training examples (before packing)
    truncated: int = 0
    dropped: int = 0  # no labelled token left after truncation
    num_eval_samples: int = 0
    num_rows: int = 0  # training rows (after packing; = num_samples without packing)
    per_dataset: dict = field(default_factory=dict)  # name -> records read


@dataclass
class DatasetEntry:
    name: str
    path: Path
    formatting: str
    columns: dict  # effective role -> field name
    explicit_columns: dict  # only what dataset_info.json set (checked against the file)
    tags: dict
    ranking: bool = False  # preference pairs: `chosen` / `rejected` columns (stage_data.py)


# ---------------------------------------------------------------- dataset_info.json and files


def resolve_dataset(dataset_dir, name: str) -> DatasetEntry:
    dataset_dir = Path(dataset_dir)
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
    if not isinstance(entry, dict):
        raise DataError(f"dataset {name!r}: entry in dataset_info.json must be an object")
    fmt = entry.get("formatting", "alpaca")
    if fmt not in DEFAULT_COLUMNS:
        raise DataError(f"dataset {name!r}: formatting {fmt!r} is not supported (alpaca or sharegpt)")
    if "file_name" not in entry:
        raise DataError(f"dataset {name!r}: only local files (file_name) are supported")
    explicit = entry.get("columns") or {}
    tags = entry.get("tags") or {}
    if not isinstance(explicit, dict) or not all(isinstance(v, str) for v in explicit.values()):
        raise DataError(f"dataset {name!r}: columns must map roles to column names")
    unknown_roles = sorted(set(explicit) - set(DEFAULT_COLUMNS[fmt]) - {"tools", "images", "videos"} - STAGE_ROLES)
    if unknown_roles:
        raise DataError(f"dataset {name!r}: columns.{unknown_roles[0]} is not a {fmt} column role "
                        f"(known: {', '.join(DEFAULT_COLUMNS[fmt])})")
    if not isinstance(tags, dict) or set(tags) - set(DEFAULT_TAGS):
        raise DataError(f"dataset {name!r}: tags may only set {', '.join(DEFAULT_TAGS)}")
    ranking = entry.get("ranking", False)
    if not isinstance(ranking, bool):
        raise DataError(f"dataset {name!r}: ranking must be true or false")
    defaults = {**DEFAULT_COLUMNS[fmt], **(RANKING_COLUMNS if ranking else {})}
    return DatasetEntry(name, dataset_dir / entry["file_name"], fmt, {**defaults, **explicit},
                        dict(explicit), {**DEFAULT_TAGS, **tags}, ranking)


def read_records(path: Path) -> list:
    """JSON (a list), JSONL (one object per line) or CSV (header row)."""
    if not path.is_file():
        raise DataError(f"{path} not found")
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    try:
        if suffix == ".jsonl":
            records = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise DataError(f"{path}: line {n}: invalid JSON ({e.msg})") from None
            return records
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records")
    return records


def check_columns(entry: DatasetEntry, records: list) -> None:
    """Every column named in dataset_info.json must exist in the file."""
    present = set()
    for r in records:
        if isinstance(r, dict):
            present |= set(r)
    for role, col in entry.explicit_columns.items():
        if col not in present:
            raise DataError(f"dataset {entry.name!r}: columns.{role} names column {col!r}, which "
                            f"{entry.path.name} does not have (it has: {', '.join(sorted(present)) or 'nothing'})")


# ---------------------------------------------------------------- records -> messages


def _str_field(rec: dict, key: Optional[str], where: str, required: bool) -> str:
    val = rec.get(key) if key else None
    if val is None or (val == "" and not required):
        if required:
            raise DataError(f"{where}: missing field {key!r}")
        return ""
    if not isinstance(val, str):
        raise DataError(f"{where}: field {key!r} must be a string")
    return val


def alpaca_to_messages(rec, columns: dict, where: str) -> list[dict]:
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object, got {type(rec).__name__}")
    instruction = _str_field(rec, columns.get("prompt"), where, True)
    query = _str_field(rec, columns.get("query"), where, False)
    response = _str_field(rec, columns.get("response"), where, True)
    system = _str_field(rec, columns.get("system"), where, False)
    if not instruction.strip() and not query.strip():
        raise DataError(f"{where}: empty {columns['prompt']!r}")
    messages = [{"role": "system", "content": system}] if system else []
    hist_key = columns.get("history")
    history = rec.get(hist_key) if hist_key else None
    if isinstance(history, str) and history.strip().startswith("["):  # CSV cells hold JSON text
        try:
            history = json.loads(history)
        except json.JSONDecodeError:
            pass
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


def sharegpt_to_messages(rec, columns: dict, tags: dict, where: str) -> list[dict]:
    """sharegpt (from/value, human/gpt/...) and OpenAI messages (role/content, user/assistant/...)."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object, got {type(rec).__name__}")
    key = columns["messages"]
    turns = rec.get(key)
    if isinstance(turns, str) and turns.strip().startswith("["):  # CSV cell
        try:
            turns = json.loads(turns)
        except json.JSONDecodeError:
            pass
    if not isinstance(turns, list) or not turns:
        raise DataError(f"{where}: field {key!r} must be a non-empty list of messages")
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    roles = {tags["user_tag"]: "user", tags["assistant_tag"]: "assistant", tags["observation_tag"]: "observation",
             tags["function_tag"]: "function", tags["system_tag"]: "system"}
    messages = []
    for j, t in enumerate(turns):
        if not isinstance(t, dict):
            raise DataError(f"{where}: {key}[{j}] must be an object")
        if not isinstance(t.get(content_tag), str):
            raise DataError(f"{where}: {key}[{j}] needs a string {content_tag!r}")
        role = roles.get(t.get(role_tag))
        if role is None:
            raise DataError(f"{where}: {key}[{j}] has {role_tag}={t.get(role_tag)!r}; "
                            f"expected one of {', '.join(repr(r) for r in roles)}")
        if role == "system" and j != 0:
            raise DataError(f"{where}: {key}[{j}]: a system message may only come first")
        messages.append({"role": role, "content": t[content_tag]})
    system = None
    if messages[0]["role"] == "system":
        system = messages.pop(0)["content"]
    elif columns.get("system"):
        system = _str_field(rec, columns["system"], where, False) or None
    try:
        check_roles(messages)
    except TemplateError as e:
        raise DataError(f"{where}: {e}") from None
    return ([{"role": "system", "content": system}] if system else []) + messages


def record_to_messages(rec, columns: dict, where: str) -> list[dict]:
    """One alpaca record -> chat messages (kept for callers of the old API)."""
    return alpaca_to_messages(rec, columns, where)


# ---------------------------------------------------------------- tokenization and truncation


def infer_seqlen(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """LLaMA-Factory's per-turn budget split between prompt (source) and reply (target)."""
    if target_len * 2 < cutoff_len:  # truncate source
        max_target_len = cutoff_len
    elif source_len * 2 < cutoff_len:  # truncate target
        max_target_len = cutoff_len - source_len
    else:  # truncate both
        max_target_len = int(cutoff_len * (target_len / (source_len + target_len)))
    new_target_len = min(max_target_len, target_len)
    new_source_len = min(max(cutoff_len - new_target_len, 0), source_len)
    return new_source_len, new_target_len


def encode_example(template, messages: list[dict], cutoff_len: int, train_on_prompt: bool = False,
                   mask_history: bool = False) -> tuple[list[int], list[int], bool]:
    """(input_ids, labels, truncated) as LLaMA-Factory's SupervisedDatasetProcessor."""
    pairs = template.encode_multiturn(messages)
    full_len = sum(len(s) + len(t) for s, t in pairs)
    if mask_history:
        pairs = pairs[::-1]  # the last turn gets the budget first
    eos = template.eos_ids()  # efficient_eos templates (glm4): one labelled eos at the end, its place reserved
    ids, labels, total = [], [], len(eos)
    for turn_idx, (src, tgt) in enumerate(pairs):
        if total >= cutoff_len:
            break
        src_len, tgt_len = infer_seqlen(len(src), len(tgt), cutoff_len - total)
        src, tgt = src[:src_len], tgt[:tgt_len]
        total += src_len + tgt_len
        src_labels = list(src) if train_on_prompt else [IGNORE_INDEX] * src_len
        tgt_labels = [IGNORE_INDEX] * tgt_len if mask_history and turn_idx != 0 else list(tgt)
        if mask_history:
            ids, labels = src + tgt + ids, src_labels + tgt_labels + labels
        else:
            ids, labels = ids + src + tgt, labels + src_labels + tgt_labels
    return ids + eos, labels + eos, len(ids) < full_len


def load_examples(dataset_dir, names: list[str], template, cutoff_len: int, max_samples: int,
                  train_on_prompt: bool = False, mask_history: bool = False):
    """Tokenized examples for all named datasets (concatenated in order), plus statistics."""
    examples, stats = [], DatasetStats()
    for name in names:
        entry = resolve_dataset(dataset_dir, name)
        records = read_records(entry.path)
        check_columns(entry, records)
        records = records[:max_samples]
        stats.per_dataset[name] = len(records)
        for i, rec in enumerate(records):
            where = f"dataset {name!r} record {i}"
            if entry.formatting == "alpaca":
                messages = alpaca_to_messages(rec, entry.columns, where)
            else:
                messages = sharegpt_to_messages(rec, entry.columns, entry.tags, where)
            try:
                ids, labels, truncated = encode_example(template, messages, cutoff_len, train_on_prompt,
                                                        mask_history)
            except TemplateError as e:
                raise DataError(f"{where}: {e}") from None
            stats.truncated += truncated
            # lm_loss shifts by one, so a label at position 0 could never be predicted.
            if all(lab == IGNORE_INDEX for lab in labels[1:]):
                stats.dropped += 1
                continue
            examples.append(Example(ids, labels))
    stats.num_samples = stats.num_rows = len(examples)
    if not examples:
        raise DataError("no trainable samples (all empty or truncated away; check cutoff_len)")
    return examples, stats


def split_examples(examples: list[Example], val_size, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out `val_size` (fraction in [0, 1) or count >= 1); both parts shuffled by seed.

    With val_size 0 nothing moves (the epoch sampler shuffles anyway).
    """
    n = len(examples)
    n_val = val_size if isinstance(val_size, int) else math.ceil(val_size * n)
    if n_val == 0:
        return list(examples), []
    if n_val >= n:
        raise DataError(f"val_size: {val_size} holds out {n_val} of {n} samples, leaving none to train on")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return [examples[i] for i in order[n_val:]], [examples[i] for i in order[:n_val]]


# ---------------------------------------------------------------- packing and batching


def pack_examples(examples: list[Example], cutoff_len: int) -> list[Example]:
    """Greedy knapsack (LLaMA-Factory's): fill each row with the longest samples that still fit.

    Each sample's first label is ignored, as it is unpacked (nothing predicts position 0), so
    no sample is trained to continue the one before it.
    """
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].input_ids), i))
    lengths = [len(examples[i].input_ids) for i in order]
    rows = []
    while order:
        room, row = cutoff_len, []
        while True:
            k = bisect.bisect(lengths, room) - 1
            if k < 0:
                break
            room -= lengths.pop(k)
            row.append(order.pop(k))
        if not row:  # longer than cutoff_len: cannot happen after truncation, but never loop forever
            row.append(order.pop(0))
            lengths.pop(0)
        ids, labels, lens = [], [], []
        for i in row:
            e = examples[i]
            ids += e.input_ids
            labels += [IGNORE_INDEX] + e.labels[1:]
            lens.append(len(e.input_ids))
        rows.append(Example(ids, labels, lens))
    return rows


def packed_mask(seq_lens_batch: list[list[int]], T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """position_ids (B, T) restarting at 0 per sample, and the block-diagonal causal mask (B, 1, T, T)."""
    B = len(seq_lens_batch)
    seg = torch.full((B, T), -1, dtype=torch.long)
    pos = torch.zeros((B, T), dtype=torch.long)
    for b, lens in enumerate(seq_lens_batch):
        s = 0
        for k, n in enumerate(lens):
            seg[b, s : s + n] = k
            pos[b, s : s + n] = torch.arange(n)
            s += n
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    mask = (seg[:, :, None] == seg[:, None, :]) & causal  # padding (-1) only sees padding
    return pos, mask[:, None]


def collate(batch: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch to its longest row. Packed rows also get position_ids and a 4-D mask."""
    T = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), T), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), T), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    out = {"input_ids": ids, "labels": labels, "attention_mask": mask}
    if any(e.seq_lens for e in batch):
        out["position_ids"], out["packed_mask"] = packed_mask(
            [e.seq_lens or [len(e.input_ids)] for e in batch], T)
    return out


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed + epoch)
    return torch.randperm(n, generator=g).tolist()


def epoch_batches(examples: list, batch_size: int, seed: int, epoch: int, pad_id: int, collate_fn=collate):
    """Shuffled (seed + epoch) batches; the last one may be smaller. collate_fn: the stage's batch builder
    (stage_data.pair_batch / kto_batch for the preference stages)."""
    order = epoch_order(len(examples), seed, epoch)
    for s in range(0, len(order), batch_size):
        yield collate_fn([examples[j] for j in order[s : s + batch_size]], pad_id)


def ordered_batches(examples: list[Example], batch_size: int, pad_id: int):
    """Unshuffled batches (evaluation)."""
    for s in range(0, len(examples), batch_size):
        yield collate(examples[s : s + batch_size], pad_id)
