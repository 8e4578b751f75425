"""render.py ("as the model sees it") must agree token for token with the trainer's data pipeline."""

import json
import os
import subprocess
import sys

import pytest

from conftest import IDENTITY, TRAINER_DIR, write_dataset
from tuneboard_trainer.data import DataError, load_examples
from tuneboard_trainer.render import render
from tuneboard_trainer.templates import IGNORE_INDEX, load_template


@pytest.mark.parametrize("template_name", ["llama3", "default"])
def test_trained_flags_match_the_trainer_labels(dataset_dir, tokenizer_dir, template_name):
    template = load_template(template_name, tokenizer_dir)
    examples, _ = load_examples(dataset_dir, ["identity"], template, cutoff_len=1024, max_samples=10**6)
    assert len(examples) == len(IDENTITY)
    for k, example in enumerate(examples):
        out = render(dataset_dir, "identity", template_name, tokenizer_dir, k, 1024)
        assert [t["id"] for t in out["tokens"]] == example.input_ids
        assert [t["trained"] for t in out["tokens"]] == [lab != IGNORE_INDEX for lab in example.labels]
        assert out["num_trained"] == sum(lab != IGNORE_INDEX for lab in example.labels)
        assert out["num_tokens"] == len(example.input_ids)
        assert out["lengths"][k] == len(example.input_ids)  # nothing truncated at 1024
        assert out["truncated"] is False


def test_pieces_join_to_the_decoded_text_and_chinese_stays_whole(dataset_dir, tokenizer_dir, tokenizer):
    k = next(i for i, r in enumerate(IDENTITY) if "中文" in r["instruction"])
    out = render(dataset_dir, "identity", "llama3", tokenizer_dir, k, 1024)
    ids = [t["id"] for t in out["tokens"]]
    text = "".join(t["text"] for t in out["tokens"])
    assert text == tokenizer.decode(ids, skip_special_tokens=False)
    assert "用中文介绍你自己" in text and "\ufffd" not in text
    trained = "".join(t["text"] for t in out["tokens"] if t["trained"])
    assert trained == "我是 TestBot。<|eot_id|>"  # the reply and its end-of-turn, nothing of the prompt


def test_cutoff_truncates_like_the_trainer_and_counts_long_records(dataset_dir, tokenizer_dir):
    template = load_template("llama3", tokenizer_dir)
    full = render(dataset_dir, "identity", "llama3", tokenizer_dir, 0, 4096)["lengths"]
    cutoff = sorted(full)[len(full) // 2]  # about half of the records are longer
    examples, stats = load_examples(dataset_dir, ["identity"], template, cutoff_len=cutoff, max_samples=10**6)
    longest = max(range(len(full)), key=lambda i: full[i])
    out = render(dataset_dir, "identity", "llama3", tokenizer_dir, longest, cutoff)
    assert out["over_cutoff"] == sum(1 for n in full if n > cutoff) == stats.truncated
    assert out["truncated"] is True and out["num_tokens"] == cutoff == len(examples[longest].input_ids)
    assert out["full_length"] == full[longest]
    assert [t["trained"] for t in out["tokens"]] == [lab != IGNORE_INDEX for lab in examples[longest].labels]


def test_openai_messages_dataset(tmp_path, tokenizer_dir):
    data = tmp_path / "data"
    data.mkdir()
    records = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                             {"role": "assistant", "content": "Hello!"}]}]
    (data / "chat.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"chat": {
        "file_name": "chat.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}}}))
    out = render(data, "chat", "llama3", tokenizer_dir, 0, 1024)
    assert "".join(t["text"] for t in out["tokens"] if t["trained"]) == "Hello!<|eot_id|>"
    assert "Be brief." in "".join(t["text"] for t in out["tokens"] if not t["trained"])


def test_errors_name_the_problem(dataset_dir, tokenizer_dir, tmp_path):
    with pytest.raises(DataError, match="record 99 does not exist"):
        render(dataset_dir, "identity", "llama3", tokenizer_dir, 99, 1024)
    with pytest.raises(DataError, match="not registered"):
        render(dataset_dir, "nope", "llama3", tokenizer_dir, 0, 1024)
    with pytest.raises(DataError, match="template"):
        render(dataset_dir, "identity", "nope", tokenizer_dir, 0, 1024)
    bad = write_dataset(tmp_path / "bad", [{"instruction": "Hi", "output": 3}])
    with pytest.raises(DataError, match="record 0: field 'output' must be a string"):
        render(bad, "identity", "llama3", tokenizer_dir, 0, 1024)


def test_command_line_prints_one_json_object(dataset_dir, tokenizer_dir):
    cmd = [sys.executable, "-m", "tuneboard_trainer.render", "--dataset-dir", str(dataset_dir), "--dataset",
           "identity", "--template", "llama3", "--model-dir", str(tokenizer_dir), "--record", "1"]
    env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["ok"] is True and out["record"] == 1 and len(out["lengths"]) == len(IDENTITY)
    done = subprocess.run([*cmd[:-1], "7"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and json.loads(done.stdout) == {
        "ok": False, "error": "record 7 does not exist (dataset 'identity' has records 0 to 5)"}


PAIRS = [
    {"instruction": "Who are you?", "input": "", "chosen": "I am TestBot.", "rejected": "I am ChatGPT, made by OpenAI."},
    {"instruction": "Say hi", "input": "in French", "chosen": "Bonjour", "rejected": "Hello"},
]


def test_a_pair_renders_both_answers_as_the_preference_loader_tokenizes_them(tmp_path, tokenizer_dir):
    from tuneboard_trainer.stage_data import load_pairs

    root = tmp_path / "data"
    root.mkdir()
    (root / "pairs.json").write_text(json.dumps(PAIRS))
    columns = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
    (root / "dataset_info.json").write_text(json.dumps({"pairs": {"file_name": "pairs.json", "ranking": True,
                                                                  "columns": columns}}))
    template = load_template("llama3", tokenizer_dir)
    for cutoff in (1024, 12):
        samples, _ = load_pairs(root, ["pairs"], template, cutoff, 10**6)
        for k, sample in enumerate(samples):
            out = render(root, "pairs", "llama3", tokenizer_dir, k, cutoff)
            assert [t["id"] for t in out["tokens"]] == sample.prompt + sample.chosen
            assert [t["id"] for t in out["rejected"]["tokens"]] == sample.prompt + sample.rejected
            for row, answer in ((out, sample.chosen), (out["rejected"], sample.rejected)):
                assert [t["trained"] for t in row["tokens"]] == [False] * len(sample.prompt) + [True] * len(answer)
                assert row["num_trained"] == len(answer)
    out = render(root, "pairs", "llama3", tokenizer_dir, 0, 1024)
    chosen = "".join(t["text"] for t in out["tokens"] if t["trained"])
    rejected = "".join(t["text"] for t in out["rejected"]["tokens"] if t["trained"])
    assert chosen.startswith("I am TestBot.") and rejected.startswith("I am ChatGPT, made by OpenAI.")
    assert out["lengths"][0] == len(out["rejected"]["tokens"])  # the longer answer counts


def test_a_kto_record_renders_its_answer_and_tag(tmp_path, tokenizer_dir):
    root = tmp_path / "data"
    root.mkdir()
    records = [{"instruction": "Who are you?", "input": "", "output": "I am ChatGPT.", "label": False}]
    (root / "kto.json").write_text(json.dumps(records))
    columns = {"prompt": "instruction", "query": "input", "response": "output", "kto_tag": "label"}
    (root / "dataset_info.json").write_text(json.dumps({"kto": {"file_name": "kto.json", "columns": columns}}))
    out = render(root, "kto", "llama3", tokenizer_dir, 0, 1024)
    assert out["desirable"] is False and "rejected" not in out
    assert "".join(t["text"] for t in out["tokens"] if t["trained"]).startswith("I am ChatGPT.")
