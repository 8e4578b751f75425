"""SentencePiece vocabularies (Llama 2, Mistral v0.1-v0.3, TinyLlama...) for llama.cpp's `llama` tokenizer
model: each piece with its score and type, in id order.

Two sources, the first found wins:
- `tokenizer.model`, the SentencePiece ModelProto, read with a minimal protobuf decoder (no
  `sentencepiece` or `protobuf` package needed): pieces (text, score, type), the trainer's special ids
  and the normalizer's add_dummy_prefix;
- a `tokenizer.json` converted from one (a BPE model with `byte_fallback` and "▁" for spaces): the
  scores SentencePiece would have are derived from the merge ranks (a piece made by an earlier merge
  scores higher), which is the order llama.cpp's SPM tokenizer merges by.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

# SentencePiece piece types; llama_token_type uses the same numbers.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPACE = "\u2581"  # "▁", SentencePiece's space
_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


@dataclass
class SpVocab:
    pieces: list[str]
    scores: list[float]
    types: list[int]
    add_dummy_prefix: bool = True
    special_ids: dict[str, int] = field(default_factory=dict)  # unk / bos / eos / pad -> id


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = out = 0
    while True:
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, i
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"tokenizer.model: unsupported protobuf wire type {wire}")
        if i > len(buf):
            raise ValueError("tokenizer.model: truncated protobuf")
        yield num, wire, v


def read_model_proto(path: Path) -> SpVocab:
    """ModelProto: 1 pieces {1 piece, 2 score, 3 type}, 2 trainer_spec {3 model_type, 40-43 unk/bos/eos/pad
    ids}, 3 normalizer_spec {3 add_dummy_prefix}."""
    buf = Path(path).read_bytes()
    pieces, scores, types = [], [], []
    special = {"unk": 0, "bos": 1, "eos": 2, "pad": -1}  # trainer_spec defaults
    add_dummy_prefix = True
    for num, wire, v in _fields(buf):
        if num == 1 and wire == 2:
            text, score, kind = "", 0.0, NORMAL
            for n, w, pv in _fields(v):
                if n == 1 and w == 2:
                    text = pv.decode("utf-8")
                elif n == 2 and w == 5:
                    score = struct.unpack("<f", pv)[0]
                elif n == 3 and w == 0:
                    kind = pv
            pieces.append(text)
            scores.append(score)
            types.append(kind)
        elif num == 2 and wire == 2:
            for n, w, tv in _fields(v):
                if w == 0 and n in (40, 41, 42, 43):
                    special[("unk", "bos", "eos", "pad")[n - 40]] = tv - (1 << 64) if tv >= 1 << 63 else tv
        elif num == 3 and wire == 2:
            for n, w, nv in _fields(v):
                if n == 3 and w == 0:
                    add_dummy_prefix = bool(nv)
    if not pieces:
        raise ValueError("tokenizer.model holds no SentencePiece pieces")
    return SpVocab(pieces, scores, types, add_dummy_prefix,
                   {k: i for k, i in special.items() if 0 <= i < len(pieces)})


def is_sentencepiece_json(tok: dict) -> bool:
    """A tokenizer.json converted from SentencePiece: BPE with byte fallback, spaces as "▁"."""
    model = tok.get("model") or {}
    text = str(tok.get("normalizer")) + str(tok.get("pre_tokenizer"))
    return model.get("type") == "BPE" and bool(model.get("byte_fallback")) and SPACE in text


def _adds_dummy_prefix(tok: dict) -> bool:
    norm, pre = tok.get("normalizer") or {}, tok.get("pre_tokenizer") or {}
    if "Prepend" in str(norm):
        return True
    for part in pre.get("pretokenizers", [pre]):
        if part.get("type") == "Metaspace":
            return part.get("prepend_scheme", "always") != "never" and part.get("add_prefix_space", True) is not False
    return False


def vocab_from_tokenizer_json(tok: dict) -> SpVocab:
    model = tok["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    n = max(vocab.values()) + 1
    pieces: list[Optional[str]] = [None] * n
    for text, i in vocab.items():
        pieces[i] = text
    rank: dict[str, int] = {}
    for r, m in enumerate(model.get("merges", [])):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        rank.setdefault(a + b, r)
    scores, types = [], []
    unk = model.get("unk_token")
    for i, p in enumerate(pieces):
        if p is None:
            raise ValueError(f"tokenizer.json: no token with id {i}")
        # Merged pieces: -rank (earlier merges win); the rest (characters, specials) sit below every merge.
        scores.append(-float(rank[p]) if p in rank else -1e9)
        types.append(UNKNOWN if p == unk else BYTE if _BYTE_PIECE.match(p) else NORMAL)
    for added in tok.get("added_tokens", []):
        i = added["id"]
        if i >= len(pieces):
            pieces += [f"[PAD{j}]" for j in range(len(pieces), i + 1)]
            scores += [0.0] * (i + 1 - len(scores))
            types += [UNUSED] * (i + 1 - len(types))
        pieces[i] = added["content"]
        if types[i] != UNKNOWN:
            types[i] = CONTROL if added.get("special") else USER_DEFINED
        scores[i] = 0.0
    special = {"unk": vocab[unk]} if unk in vocab else {}
    return SpVocab(pieces, scores, types, _adds_dummy_prefix(tok), special)
