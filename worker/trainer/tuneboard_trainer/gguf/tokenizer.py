"""tokenizer.json / tokenizer.model (+ tokenizer_config.json) -> the tokenizer.ggml.* metadata llama.cpp
builds its vocabulary from: byte-level BPE ("gpt2" model) with its pre-tokenizer name, tokens in id
order, token types and merges; or SentencePiece ("llama" model, sentencepiece.py) with tokens, scores
and token types; then special ids, add_bos, and the chat template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from .sentencepiece import SpVocab, is_sentencepiece_json, read_model_proto, vocab_from_tokenizer_json
from .writer import FLOAT32, INT32, STRING, Array, Typed, UINT32

# llama_token_type values.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# The number rule of each pre-tokenizer regex tells llama.cpp's known pre-tokenizers apart.
_PRE_BY_DIGITS = {r"\p{N}{1,3}": "llama-bpe", r"\p{N}|": "qwen2"}


def _pre_name(tok: dict, arch: str) -> str:
    text = json.dumps(tok.get("pre_tokenizer") or {})
    pats = []
    for part in (tok.get("pre_tokenizer") or {}).get("pretokenizers", [tok.get("pre_tokenizer") or {}]):
        regex = (part.get("pattern") or {}).get("Regex")
        if regex:
            pats.append(regex)
    for regex in pats:
        for marker, name in _PRE_BY_DIGITS.items():
            if marker in regex:
                return name
    if '"ByteLevel"' in text:
        return "qwen2" if arch.startswith("qwen") else "llama-bpe"
    raise ValueError("unsupported tokenizer: GGUF export handles byte-level BPE tokenizers (Llama 3, Qwen, Mistral Tekken)")


def _token_id(config: dict, key: str, vocab: dict) -> Optional[int]:
    v = config.get(key)
    if isinstance(v, dict):
        v = v.get("content")
    return vocab.get(v) if isinstance(v, str) else None


def _adds_bos(tok: dict, config: dict, bos: Optional[str]) -> bool:
    if "add_bos_token" in config:
        return bool(config["add_bos_token"])
    return bos is not None and bos in json.dumps(tok.get("post_processor") or {})


def has_tokenizer(model_dir: Path) -> bool:
    return (Path(model_dir) / "tokenizer.json").is_file() or (Path(model_dir) / "tokenizer.model").is_file()


def _sentencepiece_metadata(sp: SpVocab, config: dict, vocab_size: int) -> dict:
    n = max(vocab_size, len(sp.pieces))
    pad = n - len(sp.pieces)  # embedding rows past the tokenizer (padded vocabularies)
    pieces = sp.pieces + [f"[PAD{i}]" for i in range(len(sp.pieces), n)]
    meta = {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": Array(STRING, pieces),
        "tokenizer.ggml.scores": Array(FLOAT32, sp.scores + [-1000.0] * pad),
        "tokenizer.ggml.token_type": Array(INT32, sp.types + [UNUSED] * pad),
        "tokenizer.ggml.add_space_prefix": sp.add_dummy_prefix,
    }
    index = {p: i for i, p in enumerate(sp.pieces)}
    for key, gguf_key in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"),
                          ("pad_token", "padding_token_id"), ("unk_token", "unknown_token_id")):
        tid = _token_id(config, key, index)
        if tid is None:
            tid = sp.special_ids.get(key.split("_")[0])
        if tid is not None:
            meta[f"tokenizer.ggml.{gguf_key}"] = Typed(UINT32, tid)
    meta["tokenizer.ggml.add_bos_token"] = bool(config.get("add_bos_token", True))
    meta["tokenizer.ggml.add_eos_token"] = bool(config.get("add_eos_token", False))
    return meta


def tokenizer_metadata(model_dir: Path, arch: str, vocab_size: int, chat_template: Optional[str]) -> dict:
    model_dir = Path(model_dir)
    cfg_path = model_dir / "tokenizer_config.json"
    config = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    json_path, sp_path = model_dir / "tokenizer.json", model_dir / "tokenizer.model"
    tok = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else None
    if sp_path.is_file() and (tok is None or is_sentencepiece_json(tok)):
        meta = _sentencepiece_metadata(read_model_proto(sp_path), config, vocab_size)
    elif tok is not None and is_sentencepiece_json(tok):
        meta = _sentencepiece_metadata(vocab_from_tokenizer_json(tok), config, vocab_size)
    elif tok is not None:
        meta = _bpe_metadata(tok, config, arch, vocab_size)
    else:
        raise ValueError(f"{model_dir} has neither tokenizer.json nor tokenizer.model (GGUF carries the tokenizer)")
    if chat_template:
        meta["tokenizer.chat_template"] = chat_template
    return meta


def _bpe_metadata(tok: dict, config: dict, arch: str, vocab_size: int) -> dict:
    model = tok.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"unsupported tokenizer model {model.get('type')!r}: GGUF export handles byte-level BPE "
                         "and SentencePiece tokenizers")
    vocab: dict[str, int] = dict(model["vocab"])
    types = {i: NORMAL for i in vocab.values()}
    for added in tok.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
        types[added["id"]] = CONTROL if added.get("special") else USER_DEFINED
    by_id = {i: t for t, i in vocab.items()}
    n = max(vocab_size, max(by_id) + 1)
    tokens, token_types = [], []
    for i in range(n):
        if i in by_id:
            tokens.append(by_id[i])
            token_types.append(types[i])
        else:  # embedding rows past the tokenizer (padded vocabularies)
            tokens.append(f"[PAD{i}]")
            token_types.append(UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    bos_text = config.get("bos_token")
    bos_text = bos_text.get("content") if isinstance(bos_text, dict) else bos_text
    meta = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": _pre_name(tok, arch),
        "tokenizer.ggml.tokens": Array(STRING, tokens),
        "tokenizer.ggml.token_type": Array(INT32, token_types),
        "tokenizer.ggml.merges": Array(STRING, merges),
    }
    for key, gguf_key in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"),
                          ("pad_token", "padding_token_id"), ("unk_token", "unknown_token_id")):
        tid = _token_id(config, key, vocab)
        if tid is not None:
            meta[f"tokenizer.ggml.{gguf_key}"] = Typed(UINT32, tid)
    meta["tokenizer.ggml.add_bos_token"] = _adds_bos(tok, config, bos_text)
    meta["tokenizer.ggml.add_eos_token"] = bool(config.get("add_eos_token", False))
    return meta
