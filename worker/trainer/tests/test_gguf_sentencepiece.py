"""SentencePiece tokenizers (Llama 2 / Mistral style) in GGUF: a tiny one is trained offline, written as
the tokenizer.json such checkpoints ship and as a tokenizer.model protobuf, exported with a tiny Mistral
model, and llama.cpp (llama-cpp-python) must tokenize text exactly as Hugging Face's tokenizer does."""

import io
import json
import shutil
import struct

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from hf_tiny import save_hf  # noqa: E402
from tuneboard_trainer.events import EventSink  # noqa: E402
from tuneboard_trainer.export import ExportConfig, export_model  # noqa: E402
from tuneboard_trainer.gguf.sentencepiece import (BYTE, CONTROL, UNKNOWN, read_model_proto,  # noqa: E402
                                                  vocab_from_tokenizer_json)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Tuneboard fine-tunes language models and exports them for llama.cpp and Ollama.",
    "Hello world, hello tokenizer; the the the quick quick brown.",
    "Numbers like 1234 and 56.78 appear in text, as do dashes - and (brackets).",
] * 20
SAMPLES = [
    "The quick brown fox.",
    "hello  world   with   spaces",
    "Tuneboard exports llama models",
    "unseen words: zebra quartz, 9,876!",
    "bytes fall back: café 日本語 🙂",
    " leading space and trailing ",
]
SPECIALS = ["<unk>", "<s>", "</s>"]


def llama2_style_tokenizer_json() -> dict:
    """A BPE trained on CORPUS, laid out as Llama 2's tokenizer.json: <unk> <s> </s>, the 256 byte pieces,
    then the learned pieces; "▁" for spaces with a prepended one; byte fallback."""
    from tokenizers import Tokenizer, models, normalizers, trainers

    tk = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tk.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tk.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=200, special_tokens=[], show_progress=False))
    raw = json.loads(tk.to_str())
    learned = sorted(raw["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    for t, _ in learned:
        vocab.setdefault(t, len(vocab))
    raw["model"]["vocab"] = vocab
    raw["added_tokens"] = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                            "normalized": False, "special": True} for i, t in enumerate(SPECIALS)]
    return raw


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(num: int, wire: int, payload: bytes) -> bytes:
    key = _varint(num << 3 | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def write_model_proto(path, pieces, scores, types) -> None:
    """A SentencePiece ModelProto: the pieces, trainer_spec (BPE, unk 0 / bos 1 / eos 2), normalizer_spec."""
    body = b"".join(_field(1, 2, _field(1, 2, p.encode()) + _field(2, 5, struct.pack("<f", s)) + _field(3, 0, _varint(t)))
                    for p, s, t in zip(pieces, scores, types))
    trainer = _field(3, 0, _varint(2)) + _field(40, 0, _varint(0)) + _field(41, 0, _varint(1)) + _field(42, 0, _varint(2))
    normalizer = _field(1, 2, b"identity") + _field(3, 0, _varint(1))
    path.write_bytes(body + _field(2, 2, trainer) + _field(3, 2, normalizer))


@pytest.fixture(scope="module")
def hf_tokenizer():
    raw = llama2_style_tokenizer_json()
    return raw, tokenizers.Tokenizer.from_str(json.dumps(raw))


def _export(tmp_path, files: dict, vocab_size: int):
    base = tmp_path / "base"
    save_hf("mistral", base, vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=1)
    for p in base.glob("tokenizer*"):
        p.unlink()
    for name, write in files.items():
        write(base / name)
    (base / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False}))
    m = export_model(ExportConfig.from_dict({
        "model_name_or_path": str(base), "export_dir": str(tmp_path / "out"), "output_dir": str(tmp_path / "job"),
        "format": "gguf", "gguf_type": "f16", "card": {"template": "mistral"}}), EventSink(io.StringIO()))
    return tmp_path / "out" / m["gguf_file"]


def _check_llama_cpp_tokenizes_like_hf(gguf_path, hf):
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    assert llm.token_bos() == 1 and llm.token_eos() == 2
    for text in SAMPLES:
        expected = [1] + hf.encode(text, add_special_tokens=False).ids
        assert llm.tokenize(text.encode("utf-8"), add_bos=True, special=False) == expected, text
        assert llm.detokenize(expected[1:]).decode("utf-8") in (text, " " + text)  # the dummy prefix may stay


def test_sentencepiece_tokenizer_json_tokenizes_in_llama_cpp_as_in_hf(tmp_path, hf_tokenizer):
    raw, hf = hf_tokenizer
    sp = vocab_from_tokenizer_json(raw)
    assert sp.types[0] == UNKNOWN and sp.types[1] == CONTROL and sp.types[3 + 0x41] == BYTE and sp.add_dummy_prefix
    n = len(raw["model"]["vocab"])
    path = _export(tmp_path, {"tokenizer.json": lambda p: p.write_text(json.dumps(raw))}, n)
    _check_llama_cpp_tokenizes_like_hf(path, hf)


def test_sentencepiece_model_file_alone_is_read_from_its_protobuf(tmp_path, hf_tokenizer):
    raw, hf = hf_tokenizer
    sp = vocab_from_tokenizer_json(raw)
    write_model_proto(tmp_path / "probe.model", sp.pieces, sp.scores, sp.types)
    back = read_model_proto(tmp_path / "probe.model")
    assert back.pieces == sp.pieces and back.types == sp.types and back.add_dummy_prefix
    assert back.scores == pytest.approx(sp.scores) and back.special_ids == {"unk": 0, "bos": 1, "eos": 2}
    path = _export(tmp_path, {"tokenizer.model": lambda p: shutil.copyfile(tmp_path / "probe.model", p)}, len(sp.pieces))
    _check_llama_cpp_tokenizes_like_hf(path, hf)


def test_a_truncated_model_file_is_refused_in_words(tmp_path):
    (tmp_path / "bad.model").write_bytes(b"\x0a\xff\x01abc")
    with pytest.raises(ValueError, match="truncated"):
        read_model_proto(tmp_path / "bad.model")
