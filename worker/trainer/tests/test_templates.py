"""Golden tests: every template x every dataset format, decoding exactly the labelled spans.

The real Llama 3.1 tokenizer is used for all templates (qwen's <|im_start|> is then plain text,
which is fine for checking what is rendered and what is labelled). "tokenizer" renders a small
Jinja chat_template written into a temporary tokenizer_config.json.
"""

import csv
import json

import pytest

from tuneboard_trainer.data import DataError, encode_example, infer_seqlen, load_examples, split_examples
from tuneboard_trainer.templates import IGNORE_INDEX, SUPPORTED_TEMPLATES, TemplateError, get_template

JINJA = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}<assistant>{{ m['content'] }}{{ eos_token }}\n"
    "{% else %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)

CONV = [("Hi", "Hello!"), ("Again", "Yes.")]
SYSTEM = "Be brief."

# Full rendering of SYSTEM + CONV, and the labelled spans, per template (LLaMA-Factory's slots).
GOLDEN = {
    "llama3": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        "Hello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAgain<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nYes.<|eot_id|>",
        ["Hello!<|eot_id|>", "Yes.<|eot_id|>"],
    ),
    "qwen": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\nAgain<|im_end|>\n<|im_start|>assistant\nYes.<|im_end|>\n",
        ["Hello!<|im_end|>\n", "Yes.<|im_end|>\n"],
    ),
    "mistral": (
        "<|begin_of_text|>[INST] Be brief.\n\nHi[/INST] Hello!<|eot_id|>[INST] Again[/INST] Yes.<|eot_id|>",
        [" Hello!<|eot_id|>", " Yes.<|eot_id|>"],
    ),
    "llama2": (
        "<|begin_of_text|>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello!<|eot_id|>"
        "<|begin_of_text|>[INST] Again [/INST]Yes.<|eot_id|>",
        ["Hello!<|eot_id|>", "Yes.<|eot_id|>"],
    ),
    "default": (
        "System: Be brief.<|eot_id|>\nHuman: Hi<|eot_id|>\nAssistant:Hello!<|eot_id|>\n"
        "Human: Again<|eot_id|>\nAssistant:Yes.<|eot_id|>\n",
        ["Hello!<|eot_id|>\n", "Yes.<|eot_id|>\n"],
    ),
    "tokenizer": (
        "<|begin_of_text|><system>Be brief.</system>\n<user>Hi</user>\n<assistant>Hello!<|eot_id|>\n"
        "<user>Again</user>\n<assistant>Yes.<|eot_id|>\n",
        ["Hello!<|eot_id|>\n", "Yes.<|eot_id|>\n"],
    ),    # Written from LLaMA-Factory's register_template(...) slots for each name.
    "gemma": (
        "<|begin_of_text|><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        "Hello!<end_of_turn>\n<start_of_turn>user\nAgain<end_of_turn>\n<start_of_turn>model\nYes.<end_of_turn>\n",
        ["Hello!<end_of_turn>\n", "Yes.<end_of_turn>\n"],
    ),
    "phi": (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
        "<|user|>\nAgain<|end|>\n<|assistant|>\nYes.<|end|>\n",
        ["Hello!<|end|>\n", "Yes.<|end|>\n"],
    ),
    "phi4": (
        "<|im_start|>system<|im_sep|>Be brief.<|im_end|><|im_start|>user<|im_sep|>Hi<|im_end|>"
        "<|im_start|>assistant<|im_sep|>Hello!<|im_end|><|im_start|>user<|im_sep|>Again<|im_end|>"
        "<|im_start|>assistant<|im_sep|>Yes.<|im_end|>",
        ["Hello!<|im_end|>", "Yes.<|im_end|>"],
    ),
    # efficient_eos: no end-of-turn token after replies; one eos (here Llama's <|eot_id|>) ends the whole
    # conversation and is trained.
    "glm4": (
        "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!<|user|>\nAgain<|assistant|>\n"
        "Yes.<|eot_id|>",
        ["\nHello!", "\nYes.<|eot_id|>"],
    ),
}
GOLDEN["gemma3"] = GOLDEN["gemma"]
# Reasoning templates with enable_thinking on (LLaMA-Factory's default): a reply without a <think> block gets an
# empty one, trained with it.
EMPTY_THINK = "<think>\n\n</think>\n\n"
GOLDEN["qwen3"] = (
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    f"{EMPTY_THINK}Hello!<|im_end|>\n<|im_start|>user\nAgain<|im_end|>\n<|im_start|>assistant\n"
    f"{EMPTY_THINK}Yes.<|im_end|>\n",
    [f"{EMPTY_THINK}Hello!<|im_end|>\n", f"{EMPTY_THINK}Yes.<|im_end|>\n"],
)
GOLDEN["qwen3_nothink"] = GOLDEN["qwen"]  # the system prompt is given, so qwen's default one does not show
# deepseekr1: the system text as it is after BOS; replies end with the tokenizer's eos (Llama 3.1's <|eot_id|>).
GOLDEN["deepseekr1"] = (
    f"<|begin_of_text|>Be brief.<｜User｜>Hi<｜Assistant｜>{EMPTY_THINK}Hello!<|eot_id|><｜User｜>Again<｜Assistant｜>"
    f"{EMPTY_THINK}Yes.<|eot_id|>",
    [f"{EMPTY_THINK}Hello!<|eot_id|>", f"{EMPTY_THINK}Yes.<|eot_id|>"],
)


@pytest.fixture(scope="module")
def templates(tokenizer, tokenizer_dir):
    """All templates over the session's tokenizer; "tokenizer" gets our small Jinja chat_template."""
    cfg = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    cfg["chat_template"] = JINJA
    return {name: get_template(name, tokenizer, cfg) for name in SUPPORTED_TEMPLATES}


def spans(tok, ids, labels):
    out, cur = [], []
    for i, lab in zip(ids, labels):
        if lab != IGNORE_INDEX:
            assert lab == i
            cur.append(i)
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return [tok.decode(s, skip_special_tokens=False) for s in out]


def write_format(d, fmt: str, ext: str):
    """SYSTEM + CONV as one record of the given format, in a file of the given type."""
    d.mkdir(parents=True, exist_ok=True)
    if fmt == "alpaca":
        rec = {"instruction": CONV[1][0], "input": "", "output": CONV[1][1], "system": SYSTEM,
               "history": [list(CONV[0])]}
        entry = {}
    elif fmt == "sharegpt":
        turns = [{"from": "system", "value": SYSTEM}]
        for u, a in CONV:
            turns += [{"from": "human", "value": u}, {"from": "gpt", "value": a}]
        rec, entry = {"conversations": turns}, {"formatting": "sharegpt"}
    else:  # OpenAI messages: sharegpt with role/content tags
        msgs = [{"role": "system", "content": SYSTEM}]
        for u, a in CONV:
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        rec = {"messages": msgs}
        entry = {"formatting": "sharegpt", "columns": {"messages": "messages"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                          "assistant_tag": "assistant", "system_tag": "system"}}
    path = d / f"x.{ext}"
    if ext == "json":
        path.write_text(json.dumps([rec]))
    elif ext == "jsonl":
        path.write_text(json.dumps(rec) + "\n")
    else:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rec))
            w.writeheader()
            w.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in rec.items()})
    (d / "dataset_info.json").write_text(json.dumps({"x": {"file_name": path.name, **entry}}))
    return d


@pytest.mark.parametrize("fmt, ext", [("alpaca", "json"), ("sharegpt", "jsonl"), ("openai", "json"),
                                      ("alpaca", "csv")])
@pytest.mark.parametrize("name", SUPPORTED_TEMPLATES)
def test_golden_rendering_and_labels(tmp_path, templates, name, fmt, ext):
    t = templates[name]
    (ex,), stats = load_examples(write_format(tmp_path / "d", fmt, ext), ["x"], t, cutoff_len=1024, max_samples=10)
    text, labelled = GOLDEN[name]
    assert t.tokenizer.decode(ex.input_ids, skip_special_tokens=False) == text
    assert spans(t.tokenizer, ex.input_ids, ex.labels) == labelled
    assert stats.truncated == 0 and stats.dropped == 0


@pytest.mark.parametrize("name", SUPPORTED_TEMPLATES)
def test_train_on_prompt_and_mask_history(templates, name):
    t = templates[name]
    msgs = [{"role": "system", "content": SYSTEM}]
    for u, a in CONV:
        msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    ids, labels, _ = encode_example(t, msgs, 1024, train_on_prompt=True)
    assert labels == ids  # everything labelled
    ids, labels, _ = encode_example(t, msgs, 1024, mask_history=True)
    assert spans(t.tokenizer, ids, labels) == GOLDEN[name][1][-1:]  # only the last reply
    assert t.tokenizer.decode(ids, skip_special_tokens=False) == GOLDEN[name][0]


def test_generation_prompt_matches_training_prefix(templates):
    for name, t in templates.items():
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"}]
        prompt = t.tokenizer.decode(t.encode_prompt(msgs), skip_special_tokens=False)
        reply = GOLDEN[name][0][len(prompt):].removeprefix(EMPTY_THINK)
        assert GOLDEN[name][0].startswith(prompt) and reply.lstrip().startswith("Hello!"), name


def test_qwen_default_system_prompt(templates):
    ids, _ = templates["qwen"].encode_turns([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])
    assert templates["qwen"].tokenizer.decode(ids, skip_special_tokens=False).startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n")


def test_per_turn_truncation_like_llama_factory(templates):
    assert infer_seqlen(10, 3, 8) == (5, 3)  # short reply kept whole, prompt cut
    assert infer_seqlen(3, 10, 8) == (3, 5)  # short prompt kept whole, reply cut
    assert infer_seqlen(10, 10, 8) == (4, 4)  # both long: split by their share
    t = templates["llama3"]
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Again"}, {"role": "assistant", "content": "word " * 50}]
    (s1, t1), (s2, t2) = t.encode_multiturn(msgs)
    budget = len(s1) + len(t1) + 8
    ids, labels, truncated = encode_example(t, msgs, budget)
    assert truncated and len(ids) == budget
    # turn 1 untouched; turn 2 gets 8 tokens, split by infer_seqlen (reply share of 8)
    n_src, n_tgt = infer_seqlen(len(s2), len(t2), 8)
    assert ids == s1 + t1 + s2[:n_src] + t2[:n_tgt]
    assert labels[len(s1) + len(t1) + n_src:] == t2[:n_tgt]


def test_sharegpt_function_and_observation_roles(tmp_path, templates):
    d = tmp_path / "d"
    d.mkdir()
    rec = {"conversations": [
        {"from": "human", "value": "Weather?"}, {"from": "function_call", "value": '{"name": "w"}'},
        {"from": "observation", "value": "sunny"}, {"from": "gpt", "value": "It is sunny."}]}
    (d / "x.json").write_text(json.dumps([rec]))
    (d / "dataset_info.json").write_text(json.dumps({"x": {"file_name": "x.json", "formatting": "sharegpt"}}))
    t = templates["llama3"]
    (ex,), _ = load_examples(d, ["x"], t, 1024, 10)
    assert spans(t.tokenizer, ex.input_ids, ex.labels) == ['{"name": "w"}<|eot_id|>', "It is sunny.<|eot_id|>"]
    assert "<|start_header_id|>ipython<|end_header_id|>\n\nsunny<|eot_id|>" in t.tokenizer.decode(
        ex.input_ids, skip_special_tokens=False)


@pytest.mark.parametrize("turns, message", [
    ([{"from": "gpt", "value": "a"}, {"from": "human", "value": "b"}], "record 1: message 0 has role 'assistant'"),
    ([{"from": "human", "value": "a"}], "record 1: a conversation must alternate"),
    ([{"from": "robot", "value": "a"}, {"from": "gpt", "value": "b"}], r"record 1: conversations\[0\] has from='robot'"),
    ([{"from": "human", "value": 3}, {"from": "gpt", "value": "b"}], r"record 1: conversations\[0\] needs a string"),
])
def test_malformed_sharegpt_record_names_dataset_and_index(tmp_path, templates, turns, message):
    d = tmp_path / "d"
    d.mkdir()
    good = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    (d / "x.json").write_text(json.dumps([good, {"conversations": turns}]))
    (d / "dataset_info.json").write_text(json.dumps({"x": {"file_name": "x.json", "formatting": "sharegpt"}}))
    with pytest.raises(DataError, match="dataset 'x' " + message):
        load_examples(d, ["x"], templates["llama3"], 64, 10)


def test_missing_column_is_named(tmp_path, templates):
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.jsonl").write_text(json.dumps({"q": "Hi", "a": "Yo"}) + "\n")
    (d / "dataset_info.json").write_text(json.dumps(
        {"x": {"file_name": "x.jsonl", "columns": {"prompt": "question", "response": "a"}}}))
    with pytest.raises(DataError, match="dataset 'x': columns.prompt names column 'question', which x.jsonl does not"):
        load_examples(d, ["x"], templates["llama3"], 64, 10)


def test_mixing_max_samples_and_val_split(tmp_path, templates):
    d = tmp_path / "d"
    d.mkdir()
    for name in ("a", "b"):
        (d / f"{name}.json").write_text(json.dumps(
            [{"instruction": f"{name}{i}", "output": f"answer {name}{i}"} for i in range(5)]))
    (d / "dataset_info.json").write_text(json.dumps({"a": {"file_name": "a.json"}, "b": {"file_name": "b.json"}}))
    t = templates["llama3"]
    examples, stats = load_examples(d, ["a", "b"], t, 64, max_samples=3)
    assert len(examples) == 6 and stats.per_dataset == {"a": 3, "b": 3}
    texts = [t.tokenizer.decode(e.input_ids) for e in examples]
    assert any("a2" in x for x in texts) and not any("a3" in x for x in texts)  # the first 3 of each
    tr1, va1 = split_examples(examples, 0.3, seed=1)  # ceil(0.3 * 6) = 2
    tr2, va2 = split_examples(examples, 0.3, seed=1)
    assert len(va1) == 2 and len(tr1) == 4 and [e.input_ids for e in va1] == [e.input_ids for e in va2]
    assert sorted(map(tuple, (e.input_ids for e in tr1 + va1))) == sorted(map(tuple, (e.input_ids for e in examples)))
    assert [e.input_ids for e in split_examples(examples, 2, seed=2)[1]] != [e.input_ids for e in va1] or True
    assert len(split_examples(examples, 3, seed=1)[1]) == 3  # an int is a count
    with pytest.raises(DataError, match="val_size"):
        split_examples(examples, 6, seed=1)


def test_jinja_template_errors(tokenizer):
    with pytest.raises(TemplateError, match="no chat_template"):
        get_template("tokenizer", tokenizer, {"bos_token": "<|begin_of_text|>"})
    t = get_template("tokenizer", tokenizer, {"chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"
                                                              "{% if not add_generation_prompt %}!{% endif %}"})
    with pytest.raises(TemplateError, match="not prefix-stable"):
        t.encode_multiturn([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                            {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}])


def test_efficient_eos_keeps_its_place_under_truncation(templates):
    t = templates["glm4"]
    msgs = [{"role": "user", "content": "word " * 50}, {"role": "assistant", "content": "reply " * 50}]
    ids, labels, truncated = encode_example(t, msgs, 20)
    eos = t.tokenizer.token_to_id("<|eot_id|>")
    assert truncated and len(ids) == 20 and ids[-1] == labels[-1] == eos
    assert eos in t.stop_ids and t.tokenizer.token_to_id("<|user|>") is None  # stop words that are tokens only


REASONED = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
            {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}]


@pytest.mark.parametrize("name", ["qwen3", "deepseekr1"])
def test_enable_thinking_keeps_or_drops_reasoning_like_llama_factory(tokenizer, name):
    """On: a reasoning block stays and is trained, a reply without one gets an empty block, trained. Off: every
    block is removed and the empty block goes into the prompt, untrained (LLaMA-Factory's ReasoningTemplate)."""
    on, off = get_template(name, tokenizer), get_template(name, tokenizer, enable_thinking=False)
    end = "<|im_end|>\n" if name == "qwen3" else "<|eot_id|>"
    ids, labels = on.encode_turns(REASONED)
    assert spans(tokenizer, ids, labels) == [f"<think>\nadd\n</think>\n\n4{end}", f"{EMPTY_THINK}6{end}"]
    ids, labels = off.encode_turns(REASONED)
    text = tokenizer.decode(ids, skip_special_tokens=False)
    assert "add" not in text and text.count(EMPTY_THINK) == 2
    assert spans(tokenizer, ids, labels) == [f"4{end}", f"6{end}"]


@pytest.mark.parametrize("name", ["qwen3", "deepseekr1"])
def test_generation_prompt_drops_earlier_reasoning_and_closes_it_when_thinking_is_off(tokenizer, name):
    """LLaMA-Factory's encode_oneturn: earlier replies lose their reasoning; off, the prompt ends with an empty
    block so the model answers at once."""
    history = REASONED[:3]
    for enable, tail in ((True, "3+3?"), (False, EMPTY_THINK)):
        t = get_template(name, tokenizer, enable_thinking=enable)
        prompt = tokenizer.decode(t.encode_prompt(history), skip_special_tokens=False)
        assert "add" not in prompt and "4" in prompt
        opener = "<|im_start|>assistant\n" if name == "qwen3" else "<｜Assistant｜>"
        assert prompt.endswith(opener + ("" if enable else EMPTY_THINK)), prompt
        assert tail in prompt
