"""(d) llama3 template golden tests and (f) dataset validation errors."""

import json

import pytest

from conftest import IDENTITY, write_dataset
from tuneboard_trainer.data import DataError, collate, epoch_batches, load_examples
from tuneboard_trainer.templates import IGNORE_INDEX, get_template


@pytest.fixture(scope="module")
def template(tokenizer):
    return get_template("llama3", tokenizer)


def labelled_spans(ids, labels):
    """Contiguous runs of labelled ids."""
    spans, cur = [], []
    for i, l in zip(ids, labels):
        if l != IGNORE_INDEX:
            assert l == i
            cur.append(i)
        elif cur:
            spans.append(cur)
            cur = []
    if cur:
        spans.append(cur)
    return spans


def test_llama3_golden_rendering(tokenizer, template):
    ids, labels = template.encode_turns([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ])
    assert tokenizer.decode(ids, skip_special_tokens=False) == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    )
    # Same ids as tokenizing the rendered string in one go.
    rendered = tokenizer.decode(ids, skip_special_tokens=False)
    assert tokenizer.encode(rendered, add_special_tokens=False).ids == ids
    spans = labelled_spans(ids, labels)
    assert [tokenizer.decode(s, skip_special_tokens=False) for s in spans] == ["Hello!<|eot_id|>"]


def test_labels_are_exactly_assistant_replies(tokenizer, template, dataset_dir):
    examples, stats = load_examples(dataset_dir, ["identity"], template, cutoff_len=1024, max_samples=100)
    assert stats.num_samples == len(IDENTITY) and stats.truncated == 0
    for rec, ex in zip(IDENTITY, examples):
        spans = [tokenizer.decode(s, skip_special_tokens=False) for s in labelled_spans(ex.input_ids, ex.labels)]
        expected = [a + "<|eot_id|>" for _, a in rec.get("history", [])] + [rec["output"] + "<|eot_id|>"]
        assert spans == expected
        text = tokenizer.decode(ex.input_ids, skip_special_tokens=False)
        assert text.startswith("<|begin_of_text|>")
        assert ("<|start_header_id|>system" in text) == ("system" in rec)
        prompt = rec["instruction"] + ("\n" + rec["input"] if rec["input"] else "")
        assert f"<|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>" in text


def test_prompt_for_generation_ends_with_assistant_header(tokenizer, template):
    ids = template.encode_prompt([{"role": "user", "content": "Who are you?"}])
    assert tokenizer.decode(ids, skip_special_tokens=False).endswith(
        "Who are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_truncation_and_max_samples(tmp_path, template):
    long = [{"instruction": "q", "input": "", "output": "word " * 200}] + IDENTITY
    d = write_dataset(tmp_path / "d", long)
    examples, stats = load_examples(d, ["identity"], template, cutoff_len=32, max_samples=3)
    assert stats.num_samples == 3 and stats.truncated == 1
    assert all(len(e.input_ids) <= 32 for e in examples)


def test_long_prompt_is_cut_to_keep_the_reply(tmp_path, template, tokenizer):
    # LLaMA-Factory's per-turn budget: a short reply keeps all its tokens, the prompt gives way.
    d = write_dataset(tmp_path / "d", [{"instruction": "word " * 100, "input": "", "output": "ok"}] + IDENTITY[:1])
    (ex, _), stats = load_examples(d, ["identity"], template, cutoff_len=16, max_samples=10)
    assert stats.truncated == 2 and stats.dropped == 0 and len(ex.input_ids) == 16
    assert tokenizer.decode(labelled_spans(ex.input_ids, ex.labels)[0], skip_special_tokens=False) == "ok<|eot_id|>"


def test_sample_with_no_label_left_is_dropped(tmp_path, template):
    # cutoff 4: the reply's share int(4 * 2 / 107) is 0 tokens, so nothing is left to train on.
    d = write_dataset(tmp_path / "d", [{"instruction": "word " * 100, "input": "", "output": "ok"}] + IDENTITY[:1])
    examples, stats = load_examples(d, ["identity"], template, cutoff_len=4, max_samples=10)
    assert stats.dropped == 1 and stats.num_samples == 1


@pytest.mark.parametrize("bad, message", [
    ({"instruction": "q"}, "record 2: missing field 'output'"),
    ({"instruction": "q", "output": 5}, "record 2: field 'output' must be a string"),
    ("just a string", "record 2: expected an object"),
    ({"instruction": "q", "output": "a", "history": [["only one"]]}, "record 2: field 'history'"),
])
def test_malformed_record_names_its_index(tmp_path, template, bad, message):
    d = write_dataset(tmp_path / "d", IDENTITY[:2] + [bad])
    with pytest.raises(DataError, match=message):
        load_examples(d, ["identity"], template, cutoff_len=64, max_samples=10)


def test_unknown_dataset_and_formatting(tmp_path, template):
    d = write_dataset(tmp_path / "d", IDENTITY)
    with pytest.raises(DataError, match="'nope' is not registered"):
        load_examples(d, ["nope"], template, 64, 10)
    (d / "dataset_info.json").write_text(json.dumps({"identity": {"file_name": "identity.json",
                                                                  "formatting": "openai"}}))
    with pytest.raises(DataError, match="formatting 'openai' is not supported"):
        load_examples(d, ["identity"], template, 64, 10)


def test_custom_columns(tmp_path, template, tokenizer):
    recs = [{"q": "Hi", "a": "Hello"}]
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.json").write_text(json.dumps(recs))
    (d / "dataset_info.json").write_text(json.dumps(
        {"x": {"file_name": "x.json", "columns": {"prompt": "q", "response": "a"}}}))
    (ex,), _ = load_examples(d, ["x"], template, 64, 10)
    assert tokenizer.decode(labelled_spans(ex.input_ids, ex.labels)[0], skip_special_tokens=False) == \
        "Hello<|eot_id|>"


def test_batches_shuffle_by_seed_and_pad(template, dataset_dir):
    examples, _ = load_examples(dataset_dir, ["identity"], template, 256, 100)
    a = [b["input_ids"].tolist() for b in epoch_batches(examples, 4, seed=1, epoch=0, pad_id=template.pad)]
    b = [b["input_ids"].tolist() for b in epoch_batches(examples, 4, seed=1, epoch=0, pad_id=template.pad)]
    c = [b["input_ids"].tolist() for b in epoch_batches(examples, 4, seed=1, epoch=1, pad_id=template.pad)]
    assert a == b and a != c
    batch = collate(examples[:3], pad_id=template.pad)
    lens = [len(e.input_ids) for e in examples[:3]]
    assert batch["input_ids"].shape == (3, max(lens))
    assert batch["attention_mask"].sum(1).tolist() == lens
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
