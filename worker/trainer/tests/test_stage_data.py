"""Datasets of the pt, rm/dpo and kto stages (stage_data.py): every LLaMA-Factory format loads, malformed
records are refused naming the record, pre-training labels every token and packs without crossing documents."""

import json

import pytest
import torch

from tuneboard_trainer.data import DataError, collate, pack_examples
from tuneboard_trainer.stage_data import kto_batch, load_documents, load_kto, load_pairs, pair_batch
from tuneboard_trainer.templates import IGNORE_INDEX, get_template

PAIRS_ALPACA = [
    {"instruction": "Who are you?", "input": "", "chosen": "I am TestBot.", "rejected": "I am ChatGPT."},
    {"instruction": "Say hi", "input": "in French", "chosen": "Bonjour", "rejected": "Hello"},
]
PAIRS_SHAREGPT = [
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                       {"from": "human", "value": "Who made you?"}],
     "chosen": {"from": "gpt", "value": "Unit Labs made me."}, "rejected": {"from": "gpt", "value": "OpenAI."}},
]


@pytest.fixture(scope="module")
def template(tokenizer):
    return get_template("llama3", tokenizer)


def registry(root, entries: dict, files: dict):
    root.mkdir(parents=True, exist_ok=True)
    for name, records in files.items():
        (root / name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (root / "dataset_info.json").write_text(json.dumps(entries))
    return root


def decode(tokenizer, ids):
    return tokenizer.decode(ids, skip_special_tokens=False)


def test_alpaca_and_sharegpt_pairs_load(tmp_path, tokenizer, template):
    d = registry(tmp_path, {
        "a": {"file_name": "a.json", "ranking": True,
              "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}},
        "s": {"file_name": "s.json", "formatting": "sharegpt", "ranking": True,
              "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
    }, {"a.json": PAIRS_ALPACA, "s.json": PAIRS_SHAREGPT})
    samples, stats = load_pairs(d, ["a", "s"], template, cutoff_len=1024, max_samples=100)
    assert stats.num_samples == 3
    assert decode(tokenizer, samples[0].chosen) == "I am TestBot.<|eot_id|>"
    assert decode(tokenizer, samples[0].rejected) == "I am ChatGPT.<|eot_id|>"
    assert decode(tokenizer, samples[1].prompt).endswith("Say hi\nin French<|eot_id|>"
                                                        "<|start_header_id|>assistant<|end_header_id|>\n\n")
    shared = decode(tokenizer, samples[2].prompt)
    assert "Hello!<|eot_id|>" in shared and "Who made you?" in shared  # earlier turns are prompt
    assert decode(tokenizer, samples[2].chosen) == "Unit Labs made me.<|eot_id|>"

    batch = pair_batch(samples, template.pad)
    assert batch["input_ids"].shape[0] == 6  # chosen rows, then rejected rows
    for i, s in enumerate(samples):
        for row, answer in ((i, s.chosen), (i + 3, s.rejected)):
            labelled = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX].tolist()
            assert labelled == answer
            assert batch["input_ids"][row, : len(s.prompt)].tolist() == s.prompt


def test_pairs_truncate_prompt_and_answers_together(tmp_path, template):
    d = registry(tmp_path, {"a": {"file_name": "a.json", "ranking": True}}, {"a.json": [
        {"instruction": "word " * 40, "chosen": "yes " * 30, "rejected": "no"}]})
    samples, stats = load_pairs(d, ["a"], template, cutoff_len=32, max_samples=10)
    s = samples[0]
    assert stats.truncated == 1
    assert len(s.prompt) + max(len(s.chosen), len(s.rejected)) <= 32


@pytest.mark.parametrize("record, problem", [
    ({"instruction": "Q", "chosen": "A"}, "missing field 'rejected'"),
    ({"instruction": "Q", "chosen": "A", "rejected": None}, "missing field 'rejected'"),
    ({"instruction": "Q", "rejected": "B"}, "missing field 'chosen'"),
    ({"instruction": "Q", "chosen": "Same", "rejected": " Same "}, "chosen and rejected are the same answer"),
    ({"instruction": "", "input": "", "chosen": "A", "rejected": "B"}, "empty 'instruction'"),
    ({"instruction": "Q", "chosen": "", "rejected": "B"}, "field 'chosen' is empty"),
])
def test_malformed_alpaca_pair_is_refused_naming_the_record(tmp_path, template, record, problem):
    d = registry(tmp_path, {"prefs": {"file_name": "p.json", "ranking": True}},
                 {"p.json": [PAIRS_ALPACA[0], record]})
    with pytest.raises(DataError) as e:
        load_pairs(d, ["prefs"], template, cutoff_len=1024, max_samples=100)
    assert str(e.value).startswith("dataset 'prefs' record 1: ")
    assert problem in str(e.value)


@pytest.mark.parametrize("record, problem", [
    ({"conversations": [], "chosen": {"from": "gpt", "value": "A"}, "rejected": {"from": "gpt", "value": "B"}},
     "empty prompt"),
    ({"conversations": [{"from": "human", "value": "Q"}], "chosen": {"from": "gpt", "value": "A"}},
     "missing field 'rejected'"),
    ({"conversations": [{"from": "human", "value": "Q"}], "chosen": {"from": "gpt", "value": "A"},
      "rejected": {"from": "gpt", "value": "A"}}, "chosen and rejected are the same answer"),
])
def test_malformed_sharegpt_pair_is_refused_naming_the_record(tmp_path, template, record, problem):
    d = registry(tmp_path, {"prefs": {"file_name": "p.json", "formatting": "sharegpt", "ranking": True}},
                 {"p.json": [PAIRS_SHAREGPT[0], record]})
    with pytest.raises(DataError, match=f"^dataset 'prefs' record 1: .*{problem}"):
        load_pairs(d, ["prefs"], template, cutoff_len=1024, max_samples=100)


def test_pair_stage_refuses_a_dataset_without_ranking(tmp_path, template):
    d = registry(tmp_path, {"sft": {"file_name": "s.json"}}, {"s.json": [{"instruction": "Q", "output": "A"}]})
    with pytest.raises(DataError, match="ranking: true"):
        load_pairs(d, ["sft"], template, cutoff_len=1024, max_samples=100)


def test_kto_records_load_and_batch_with_rotated_answers(tmp_path, tokenizer, template):
    records = [{"instruction": "Who are you?", "output": "I am TestBot.", "label": True},
               {"instruction": "Who are you?", "output": "I am ChatGPT.", "label": False},
               {"instruction": "Name?", "output": "TestBot", "label": "true"}]  # CSV-style cell
    d = registry(tmp_path, {"k": {"file_name": "k.json", "columns": {"kto_tag": "label"}}}, {"k.json": records})
    samples, _ = load_kto(d, ["k"], template, cutoff_len=1024, max_samples=100)
    assert [s.desirable for s in samples] == [True, False, True]
    b = kto_batch(samples, template.pad)
    kl_answers = [b["kl_labels"][i][b["kl_labels"][i] != IGNORE_INDEX].tolist() for i in range(3)]
    assert kl_answers == [samples[2].answer, samples[0].answer, samples[1].answer]
    assert b["desirable"].tolist() == [True, False, True]


def test_kto_record_without_a_boolean_tag_is_refused(tmp_path, template):
    d = registry(tmp_path, {"k": {"file_name": "k.json", "columns": {"kto_tag": "label"}}},
                 {"k.json": [{"instruction": "Q", "output": "A", "label": "maybe"}]})
    with pytest.raises(DataError, match="^dataset 'k' record 0: field 'label' must be true or false"):
        load_kto(d, ["k"], template, cutoff_len=1024, max_samples=100)


def test_pretraining_labels_every_token_and_packs_without_crossing_documents(tmp_path, tokenizer, template):
    docs = [{"text": "The cat sat on the mat."}, {"text": "Tuneboard trains models."}, {"text": "Short."}]
    d = registry(tmp_path, {"c4": {"file_name": "c4.json", "columns": {"prompt": "text"}}}, {"c4.json": docs})
    examples, stats = load_documents(d, ["c4"], template, cutoff_len=64, max_samples=100)
    assert stats.num_samples == 3
    for doc, ex in zip(docs, examples):
        assert decode(tokenizer, ex.input_ids) == "<|begin_of_text|>" + doc["text"] + "<|eot_id|>"
        assert ex.labels == ex.input_ids  # every token labelled
    rows = pack_examples(examples, cutoff_len=64)
    assert len(rows) == 1 and sorted(rows[0].seq_lens) == sorted(len(e.input_ids) for e in examples)
    b = collate(rows, template.pad)
    mask, pos = b["packed_mask"][0, 0], b["position_ids"][0]
    start = 0
    for n in rows[0].seq_lens:  # each document attends only to itself; positions restart
        assert pos[start:start + n].tolist() == list(range(n))
        assert not mask[start:start + n, :start].any() and not mask[start + n:, start:start + n].any()
        assert torch.equal(mask[start:start + n, start:start + n], torch.ones(n, n, dtype=torch.bool).tril())
        # Only a document's first token goes unlabelled: nothing before it in its own document predicts it.
        assert b["labels"][0, start] == IGNORE_INDEX
        assert (b["labels"][0, start + 1:start + n] == b["input_ids"][0, start + 1:start + n]).all()
        start += n


def test_pretraining_document_without_text_is_refused(tmp_path, template):
    d = registry(tmp_path, {"c4": {"file_name": "c4.jsonl"}}, {})
    (tmp_path / "c4.jsonl").write_text('{"text": "ok"}\n{"body": "no text column"}\n')
    with pytest.raises(DataError, match="^dataset 'c4' record 1: missing field 'text'"):
        load_documents(d, ["c4"], template, cutoff_len=64, max_samples=100)
