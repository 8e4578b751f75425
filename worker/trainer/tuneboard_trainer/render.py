""""As the model sees it": one dataset record through the chat template and tokenizer, with the
trained tokens marked, and the token length of every record (for a histogram against cutoff_len).

It calls the very functions the trainer uses (data.py's readers and converters, `encode_example`
with its per-turn truncation, templates.py's `encode_multiturn`), so what the Datasets page shows
is what training sees, not a re-implementation that could drift.

    python -m tuneboard_trainer.render --dataset-dir data --dataset identity --template llama3 \
        --model-dir data/models/tuneboard-demo --record 0 --cutoff-len 2048

prints one JSON object on stdout: {"ok": true, ...} or {"ok": false, "error": "..."} (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .data import DataError, alpaca_to_messages, check_columns, encode_example, infer_seqlen, read_records, \
    resolve_dataset, sharegpt_to_messages
from .stage_data import encode_answer, kto_messages, pair_messages
from .templates import IGNORE_INDEX, TemplateError, load_template


def to_messages(entry, rec, where: str) -> list[dict]:
    """The same dispatch as data.load_examples."""
    if entry.formatting == "alpaca":
        return alpaca_to_messages(rec, entry.columns, where)
    return sharegpt_to_messages(rec, entry.columns, entry.tags, where)


def stage_of(entry) -> str:
    """Which loader of stage_data.py reads the entry's records (the Datasets page's kind)."""
    if entry.ranking:
        return "preference"
    return "kto" if entry.explicit_columns.get("kto_tag") else "sft"


def encode_answers(template, entry, rec, where: str, cutoff_len: int) -> dict:
    """A preference or KTO record as stage_data.load_pairs / load_kto tokenize it: prompt ids and each
    answer's ids, cut with the same infer_seqlen budget (both answers of a pair to one length)."""
    if stage_of(entry) == "preference":
        prompt, chosen, rejected = pair_messages(entry, rec, where)
        prompt_ids, chosen_ids = encode_answer(template, prompt, chosen, where)
        _, rejected_ids = encode_answer(template, prompt, rejected, where)
        answers = {"chosen": chosen_ids, "rejected": rejected_ids}
        extra = {}
    else:
        prompt, answer, desirable = kto_messages(entry, rec, where)
        prompt_ids, answer_ids = encode_answer(template, prompt, answer, where)
        answers = {"answer": answer_ids}
        extra = {"desirable": desirable}
    longest = max(len(a) for a in answers.values())
    src_len, tgt_len = infer_seqlen(len(prompt_ids), longest, cutoff_len)
    return {"prompt": prompt_ids, "answers": answers, "full_length": len(prompt_ids) + longest,
            "src_len": src_len, "tgt_len": tgt_len, **extra}


def side(tokenizer, prompt_ids: list[int], answer_ids: list[int]) -> dict:
    """One prompt + answer row: its tokens with the answer's marked trained."""
    ids = prompt_ids + answer_ids
    trained = [False] * len(prompt_ids) + [True] * len(answer_ids)
    tokens = [{"id": i, "text": p, "trained": t} for i, p, t in zip(ids, token_pieces(tokenizer, ids), trained)]
    return {"tokens": tokens, "num_tokens": len(ids), "num_trained": len(answer_ids)}


def token_pieces(tokenizer, ids: list[int]) -> list[str]:
    """The text of each token, such that "".join(pieces) == decode(ids).

    A character split over several byte-level tokens (common for Chinese) cannot be shown per
    token: its text goes to the last token of the group and the others get "". Decoding is done
    from the last clean boundary, so the cost stays linear in practice.
    """
    pieces: list[str] = []
    start = 0  # first token whose text has not been emitted yet
    for i in range(len(ids)):
        text = tokenizer.decode(ids[start : i + 1], skip_special_tokens=False)
        if text.endswith("\ufffd") and i + 1 < len(ids):
            pieces.append("")  # incomplete UTF-8 sequence: wait for the rest
            continue
        pieces.append(text)
        start = i + 1
    return pieces


def render(dataset_dir, name: str, template_name: str, model_dir, record: int, cutoff_len: int,
           train_on_prompt: bool = False, mask_history: bool = False) -> dict:
    entry = resolve_dataset(dataset_dir, name)
    records = read_records(entry.path)
    check_columns(entry, records)
    if not records:
        raise DataError(f"dataset {name!r} has no records")
    if not 0 <= record < len(records):
        raise DataError(f"record {record} does not exist (dataset {name!r} has records 0 to {len(records) - 1})")
    if cutoff_len < 1:
        raise DataError("cutoff_len must be at least 1")
    try:
        template = load_template(template_name, model_dir)
    except (TemplateError, ValueError, FileNotFoundError) as e:
        raise DataError(f"template: {e}") from None

    if stage_of(entry) != "sft":
        return render_answers(entry, records, name, template, record, cutoff_len)

    # Full (untruncated) length of every record: what the histogram compares with cutoff_len.
    lengths = []
    for i, rec in enumerate(records):
        where = f"dataset {name!r} record {i}"
        try:
            pairs = template.encode_multiturn(to_messages(entry, rec, where))
        except TemplateError as e:
            raise DataError(f"{where}: {e}") from None
        lengths.append(sum(len(s) + len(t) for s, t in pairs))

    where = f"dataset {name!r} record {record}"
    ids, labels, truncated = encode_example(template, to_messages(entry, records[record], where), cutoff_len,
                                            train_on_prompt, mask_history)
    pieces = token_pieces(template.tokenizer, ids)
    tokens = [{"id": i, "text": p, "trained": lab != IGNORE_INDEX} for i, p, lab in zip(ids, pieces, labels)]
    return {
        "ok": True,
        "dataset": name,
        "template": template.name,
        "record": record,
        "num_records": len(records),
        "tokens": tokens,
        "num_tokens": len(ids),
        "num_trained": sum(1 for t in tokens if t["trained"]),
        "truncated": truncated,
        "full_length": lengths[record],
        "cutoff_len": cutoff_len,
        "lengths": lengths,
        "over_cutoff": sum(1 for n in lengths if n > cutoff_len),
    }


def render_answers(entry, records: list, name: str, template, record: int, cutoff_len: int) -> dict:
    """A preference record as prompt + chosen (the main tokens) and prompt + rejected (`rejected`); a KTO
    record as prompt + answer with its `desirable` flag. Lengths: the prompt plus the longer answer."""
    encoded = [encode_answers(template, entry, rec, f"dataset {name!r} record {i}", cutoff_len)
               for i, rec in enumerate(records)]
    lengths = [e["full_length"] for e in encoded]
    e = encoded[record]
    prompt = e["prompt"][:e["src_len"]]
    cut = {k: ids[:e["tgt_len"]] for k, ids in e["answers"].items()}
    main = side(template.tokenizer, prompt, cut.get("chosen", cut.get("answer", [])))
    out = {
        "ok": True,
        "dataset": name,
        "template": template.name,
        "record": record,
        "num_records": len(records),
        **main,
        "truncated": e["full_length"] > cutoff_len,
        "full_length": lengths[record],
        "cutoff_len": cutoff_len,
        "lengths": lengths,
        "over_cutoff": sum(1 for n in lengths if n > cutoff_len),
    }
    if "rejected" in cut:
        out["rejected"] = side(template.tokenizer, prompt, cut["rejected"])
    if "desirable" in e:
        out["desirable"] = e["desirable"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="tuneboard_trainer.render", description=__doc__.splitlines()[0])
    p.add_argument("--dataset-dir", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--record", type=int, default=0)
    p.add_argument("--cutoff-len", type=int, default=2048)
    p.add_argument("--train-on-prompt", action="store_true")
    p.add_argument("--mask-history", action="store_true")
    args = p.parse_args(argv)
    try:
        out = render(Path(args.dataset_dir), args.dataset, args.template, Path(args.model_dir), args.record,
                     args.cutoff_len, args.train_on_prompt, args.mask_history)
    except DataError as e:
        print(json.dumps({"ok": False, "error": str(e)}, ensure_ascii=False))
        return 2
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
