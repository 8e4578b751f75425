"""tokenizer.json (+ tokenizer_config.json) -> the tokenizer.ggml.* metadata llama.cpp builds its
vocabulary from: byte-level BPE ("gpt2" model) with its pre-tokenizer name, tokens in id order, token
types, merges, special ids, add_bos, and the chat template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from .writer import INT32, STRING, Array, Typed, UINT32

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


def tokenizer_metadata(model_dir: Path, arch: str, vocab_size: int, chat_template: Optional[str]) -> dict:
    model_dir = Path(model_dir)
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    cfg_path = model_dir / "tokenizer_config.json"
    config = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    model = tok.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"unsupported tokenizer model {model.get('type')!r}: GGUF export handles BPE tokenizers")
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
    if chat_template:
        meta["tokenizer.chat_template"] = chat_template
    return meta
