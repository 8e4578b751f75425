"""Datasets of the stages other than sft, in LLaMA-Factory's dataset_info.json formats.

- Preference pairs (stages rm and dpo): `"ranking": true`. alpaca: `chosen` / `rejected` are answer strings
  next to the prompt columns; sharegpt: the conversation ends with a user turn and `chosen` / `rejected` are
  each one assistant message (an object, or a list whose last message is taken).
- KTO: a supervised record (alpaca or sharegpt) plus `columns.kto_tag` naming a boolean column
  (true = desirable answer, false = undesirable).
- Pre-training (stage pt): raw documents in the `text` column (or the column `columns.prompt` names); every
  token is labelled, documents are packed without crossing (data.pack_examples: block-diagonal attention).

A malformed record is refused with a DataError naming the dataset and the record's index.
"""

from __future__ import annotations

from dataclasses import dataclass
from .data import (DataError, DatasetEntry, DatasetStats, Example, alpaca_to_messages, check_columns, infer_seqlen,
                   read_records, resolve_dataset, sharegpt_to_messages)
from .templates import IGNORE_INDEX, TemplateError


@dataclass
class PairSample:
    """One preference pair: token ids of the shared prompt and of each answer; index: its position among the
    run's training rows (reference_cache.py), -1 outside them."""
    prompt: list[int]
    chosen: list[int]
    rejected: list[int]
    index: int = -1


@dataclass
class KtoSample:
    prompt: list[int]
    answer: list[int]
    desirable: bool


# ---------------------------------------------------------------- records -> (prompt messages, answers)


def _answer_text(value, tags: dict, key: str, where: str) -> str:
    """An answer cell: a string (alpaca), or a message object / list of messages (sharegpt: the last one)."""
    if isinstance(value, list):
        value = value[-1] if value else None
    if isinstance(value, dict):
        value = value.get(tags["content_tag"])
    if value is None:
        raise DataError(f"{where}: missing field {key!r}")
    if not isinstance(value, str):
        raise DataError(f"{where}: field {key!r} must be a string or a message")
    if not value.strip():
        raise DataError(f"{where}: field {key!r} is empty")
    return value


def _prompt_messages(entry: DatasetEntry, rec: dict, answer: str, where: str) -> list[dict]:
    """The record's conversation up to the answer (ends with a user turn); refuses an empty prompt."""
    cols = entry.columns
    if entry.formatting == "alpaca":  # the chosen column stands in for alpaca's response column
        messages = alpaca_to_messages(rec, {**cols, "response": cols["chosen"]}, where)
    else:
        key = cols["messages"]
        turns = rec.get(key)
        if turns is None or turns == []:
            raise DataError(f"{where}: empty prompt (field {key!r} has no messages)")
        reply = {entry.tags["role_tag"]: entry.tags["assistant_tag"], entry.tags["content_tag"]: answer}
        messages = sharegpt_to_messages({**rec, key: [*turns, reply]} if isinstance(turns, list) else rec,
                                        cols, entry.tags, where)
    prompt = messages[:-1]
    if not any(m["role"] == "user" and m["content"].strip() for m in prompt):
        raise DataError(f"{where}: empty prompt")
    return prompt


def pair_messages(entry: DatasetEntry, rec, where: str) -> tuple[list[dict], str, str]:
    """(prompt messages, chosen, rejected) of one `ranking: true` record."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object, got {type(rec).__name__}")
    chosen = _answer_text(rec.get(entry.columns["chosen"]), entry.tags, entry.columns["chosen"], where)
    rejected = _answer_text(rec.get(entry.columns["rejected"]), entry.tags, entry.columns["rejected"], where)
    if chosen.strip() == rejected.strip():
        raise DataError(f"{where}: chosen and rejected are the same answer")
    return _prompt_messages(entry, rec, chosen, where), chosen, rejected


def kto_messages(entry: DatasetEntry, rec, where: str) -> tuple[list[dict], str, bool]:
    """(prompt messages, answer, desirable) of one KTO record."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object, got {type(rec).__name__}")
    tag_key = entry.columns.get("kto_tag")
    if not tag_key:
        raise DataError(f"dataset {entry.name!r}: KTO needs columns.kto_tag (the desirable/undesirable column)")
    tag = rec.get(tag_key)
    if isinstance(tag, str) and tag.strip().lower() in ("true", "false"):  # CSV cells
        tag = tag.strip().lower() == "true"
    if not isinstance(tag, bool):
        raise DataError(f"{where}: field {tag_key!r} must be true or false")
    if entry.formatting == "alpaca":
        messages = alpaca_to_messages(rec, entry.columns, where)
    else:
        messages = sharegpt_to_messages(rec, entry.columns, entry.tags, where)
    answer = messages[-1]["content"]
    if not answer.strip():
        raise DataError(f"{where}: empty answer")
    if not any(m["role"] == "user" and m["content"].strip() for m in messages[:-1]):
        raise DataError(f"{where}: empty prompt")
    return messages[:-1], answer, tag


# ---------------------------------------------------------------- tokenization


def encode_answer(template, prompt: list[dict], answer: str, where: str) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids): the conversation through the template, split before the last reply."""
    try:
        pairs = template.encode_multiturn([*prompt, {"role": "assistant", "content": answer}])
    except TemplateError as e:
        raise DataError(f"{where}: {e}") from None
    head = [t for src, tgt in pairs[:-1] for t in src + tgt]
    return head + pairs[-1][0], pairs[-1][1]


def _records(dataset_dir, names: list[str], max_samples: int, stats: DatasetStats):
    for name in names:
        entry = resolve_dataset(dataset_dir, name)
        records = read_records(entry.path)
        check_columns(entry, records)
        records = records[:max_samples]
        stats.per_dataset[name] = len(records)
        for i, rec in enumerate(records):
            yield entry, rec, f"dataset {name!r} record {i}"


def load_pairs(dataset_dir, names: list[str], template, cutoff_len: int, max_samples: int):
    """Tokenized preference pairs of `ranking: true` datasets, truncated as LLaMA-Factory's pairwise processor:
    the prompt and the longer answer share cutoff_len (infer_seqlen), both answers cut to the same length."""
    samples, stats = [], DatasetStats()
    for entry, rec, where in _records(dataset_dir, names, max_samples, stats):
        if not entry.ranking:
            raise DataError(f"dataset {entry.name!r}: this stage needs preference pairs "
                            "(ranking: true with chosen/rejected columns in dataset_info.json)")
        prompt, chosen, rejected = pair_messages(entry, rec, where)
        prompt_ids, chosen_ids = encode_answer(template, prompt, chosen, where)
        prompt_ids2, rejected_ids = encode_answer(template, prompt, rejected, where)
        if prompt_ids2 != prompt_ids:
            raise DataError(f"{where}: the template encodes the prompt differently for the two answers")
        src_len, tgt_len = infer_seqlen(len(prompt_ids), max(len(chosen_ids), len(rejected_ids)), cutoff_len)
        full = len(prompt_ids) + max(len(chosen_ids), len(rejected_ids))
        stats.truncated += full > cutoff_len
        if tgt_len == 0 or src_len == 0:
            stats.dropped += 1
            continue
        samples.append(PairSample(prompt_ids[:src_len], chosen_ids[:tgt_len], rejected_ids[:tgt_len]))
    return _checked(samples, stats)


def load_kto(dataset_dir, names: list[str], template, cutoff_len: int, max_samples: int):
    """Tokenized KTO samples (prompt, answer, desirable)."""
    samples, stats = [], DatasetStats()
    for entry, rec, where in _records(dataset_dir, names, max_samples, stats):
        prompt, answer, desirable = kto_messages(entry, rec, where)
        prompt_ids, answer_ids = encode_answer(template, prompt, answer, where)
        src_len, tgt_len = infer_seqlen(len(prompt_ids), len(answer_ids), cutoff_len)
        stats.truncated += len(prompt_ids) + len(answer_ids) > cutoff_len
        if tgt_len == 0 or src_len == 0:
            stats.dropped += 1
            continue
        samples.append(KtoSample(prompt_ids[:src_len], answer_ids[:tgt_len], desirable))
    return _checked(samples, stats)


def load_documents(dataset_dir, names: list[str], template, cutoff_len: int, max_samples: int):
    """Pre-training examples: one per document, BOS (when the tokenizer has one) + text + EOS, cut to
    cutoff_len, every token labelled. Pack them with data.pack_examples (documents never cross)."""
    examples, stats = [], DatasetStats()
    tid = template.tokenizer.token_to_id
    bos = tid(template.bos_token) if template.bos_token else None
    eos = tid(template.eos_token) if template.eos_token else None
    for entry, rec, where in _records(dataset_dir, names, max_samples, stats):
        key = entry.explicit_columns.get("text") or entry.explicit_columns.get("prompt") or "text"
        text = rec.get(key) if isinstance(rec, dict) else None
        if not isinstance(text, str):
            raise DataError(f"{where}: missing field {key!r} (the document text)")
        if not text.strip():
            raise DataError(f"{where}: field {key!r} is empty")
        ids = ([bos] if bos is not None else []) + template._text(text) + ([eos] if eos is not None else [])
        stats.truncated += len(ids) > cutoff_len
        ids = ids[:cutoff_len]
        if len(ids) < 2:
            stats.dropped += 1
            continue
        examples.append(Example(ids, list(ids)))
    return _checked(examples, stats)


def _checked(samples: list, stats: DatasetStats):
    stats.num_samples = stats.num_rows = len(samples)
    if not samples:
        raise DataError("no trainable samples (all empty or truncated away; check cutoff_len)")
    return samples, stats


# ---------------------------------------------------------------- batches


def _rows(rows: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded input_ids and labels (prompt and padding = IGNORE_INDEX) of (prompt, answer) rows."""
    import torch

    T = max(len(p) + len(a) for p, a in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), T), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, (p, a) in enumerate(rows):
        n = len(p) + len(a)
        ids[i, :n] = torch.tensor(p + a)
        labels[i, len(p):n] = torch.tensor(a)
        mask[i, :n] = 1
    return ids, labels, mask


def pair_batch(samples: list[PairSample], pad_id: int) -> dict:
    """One micro-batch: the chosen rows, then the rejected rows (2B rows), padded to one length."""
    ids, labels, mask = _rows([(s.prompt, s.chosen) for s in samples] + [(s.prompt, s.rejected) for s in samples],
                              pad_id)
    import torch

    return {"input_ids": ids, "labels": labels, "attention_mask": mask,
            "index": torch.tensor([s.index for s in samples], dtype=torch.long)}  # (B,)


def kto_batch(samples: list[KtoSample], pad_id: int) -> dict:
    """One KTO micro-batch, plus the mismatched rows TRL estimates the KL term from: each prompt with the
    previous sample's answer (answers rotated by one within the micro-batch)."""
    import torch

    ids, labels, mask = _rows([(s.prompt, s.answer) for s in samples], pad_id)
    rotated = [samples[-1].answer] + [s.answer for s in samples[:-1]]
    kl_ids, kl_labels, kl_mask = _rows([(s.prompt, a) for s, a in zip(samples, rotated)], pad_id)
    return {"input_ids": ids, "labels": labels, "attention_mask": mask,
            "desirable": torch.tensor([s.desirable for s in samples]),
            "kl_input_ids": kl_ids, "kl_labels": kl_labels, "kl_attention_mask": kl_mask}


def sample_tokens(sample) -> int:
    """Tokens a sample puts through the model (for the step's token count)."""
    if isinstance(sample, PairSample):
        return 2 * len(sample.prompt) + len(sample.chosen) + len(sample.rejected)
    return len(sample.prompt) + len(sample.answer)


__all__ = ["PairSample", "KtoSample", "load_pairs", "load_kto", "load_documents", "pair_batch", "kto_batch",
           "pair_messages", "kto_messages", "encode_answer", "sample_tokens"]
