"""BLEU-4 and ROUGE-1/2/L exactly as LlamaBoard's Evaluate & Predict tab reports them.

LLaMA-Factory (`ComputeSimilarity`, `scripts/eval_bleu_rouge.py`) scores each prediction against
its reference and averages the per-sample scores, all x100 and rounded to 4 decimals:

- BLEU-4: `nltk.sentence_bleu([list(ref)], list(pred), smoothing_function=method3)` -- over
  *characters*, uniform 1..4-gram weights, NIST geometric smoothing, brevity penalty.
- ROUGE-1/2/L: `rouge_chinese.Rouge().get_scores(" ".join(jieba.cut(pred)), " ".join(jieba.cut(ref)))`
  F1 -- over jieba *words*; ROUGE-N counts each distinct n-gram once; ROUGE-L is the LCS of the
  whole word sequences; 0 when either side has no word.

The scoring below is our own pure-Python re-implementation of those two libraries' arithmetic
(checked against them in tests/test_text_metrics.py). Word segmentation uses jieba (pure Python,
a pinned runtime dependency) because its dictionary decides the Chinese words; without it we fall
back to one word per CJK character and whitespace-separated words otherwise.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from fractions import Fraction
from typing import Callable, Iterable, Sequence

# ---------------------------------------------------------------- BLEU (nltk sentence_bleu, method3)


def _ngrams(tokens: Sequence, n: int) -> list[tuple]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _modified_precision(reference: Sequence, hypothesis: Sequence, n: int) -> tuple[int, int]:
    """(clipped matches, hypothesis n-grams) -- nltk keeps the fraction unreduced; method3 needs it."""
    counts = Counter(_ngrams(hypothesis, n))
    ref_counts = Counter(_ngrams(reference, n))
    clipped = sum(min(c, ref_counts[g]) for g, c in counts.items())
    return clipped, max(1, sum(counts.values()))


def sentence_bleu4(reference: Sequence, hypothesis: Sequence) -> float:
    """BLEU-4 of one hypothesis against one reference, in [0, 1] (nltk semantics, method3 smoothing)."""
    parts = [_modified_precision(reference, hypothesis, n) for n in (1, 2, 3, 4)]
    if parts[0][0] == 0:  # no unigram in common: nltk returns 0 before any smoothing
        return 0.0
    hyp_len, ref_len = len(hypothesis), len(reference)
    if hyp_len > ref_len:
        bp = 1.0
    elif hyp_len == 0:
        bp = 0.0
    else:
        bp = math.exp(1 - ref_len / hyp_len)
    # method3 (NIST): the k-th precision with no match becomes 1 / (2^k * its denominator).
    precisions, k = [], 1
    for num, den in parts:
        if num == 0:
            precisions.append(1 / (2**k * den))
            k += 1
        else:
            precisions.append(Fraction(num, den))
    return bp * math.exp(math.fsum(0.25 * math.log(p) for p in precisions))


# ---------------------------------------------------------------- ROUGE (rouge_chinese.Rouge)


def _cut_sentences(text: str) -> list[str]:
    """rouge_chinese's sentence splitter: a break after 。！？? …… and six dots (not before a closing quote)."""
    text = re.sub(r"([。！？\?])([^”’])", r"\1\n\2", text)
    text = re.sub(r"(\.{6})([^”’])", r"\1\n\2", text)
    text = re.sub(r"(\…{2})([^”’])", r"\1\n\2", text)
    text = re.sub(r"([。！？\?][”’])([^，。！？\?])", r"\1\n\2", text)
    return text.rstrip().split("\n")


def _rouge_words(text: str) -> list[str]:
    """The flat word list rouge_chinese scores: whitespace-normalised sentences split on spaces."""
    words: list[str] = []
    for sentence in _cut_sentences(text):
        if sentence:
            words += " ".join(sentence.split()).split(" ")
    return words


def _f1(overlap: int, hyp_count: int, ref_count: int) -> float:
    p = overlap / hyp_count if hyp_count else 0.0
    r = overlap / ref_count if ref_count else 0.0
    return 2.0 * ((p * r) / (p + r + 1e-8))


def _rouge_n(hyp: list[str], ref: list[str], n: int) -> float:
    h, r = set(_ngrams(hyp, n)), set(_ngrams(ref, n))  # distinct n-grams ("exclusive" mode)
    return _f1(len(h & r), len(h), len(r))


def _lcs_len(x: Sequence, y: Sequence) -> int:
    prev = [0] * (len(y) + 1)
    for a in x:
        cur = [0]
        for j, b in enumerate(y, 1):
            cur.append(prev[j - 1] + 1 if a == b else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def _rouge_l(hyp: list[str], ref: list[str]) -> float:
    lcs = _lcs_len(ref, hyp)
    return _f1(lcs, len(hyp), len(ref))


def rouge_f1(hyp_joined: str, ref_joined: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 in [0, 1] of two space-joined word sequences."""
    if not hyp_joined.split() or not ref_joined.split():
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    hyp, ref = _rouge_words(hyp_joined), _rouge_words(ref_joined)
    return {"rouge-1": _rouge_n(hyp, ref, 1), "rouge-2": _rouge_n(hyp, ref, 2), "rouge-l": _rouge_l(hyp, ref)}


# ---------------------------------------------------------------- word segmentation

_CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef])")


def _fallback_cut(text: str) -> list[str]:
    """Without jieba: every CJK character (and CJK punctuation) is a word; other runs split on spaces."""
    out: list[str] = []
    for piece in _CJK.split(text):
        if not piece:
            continue
        if _CJK.fullmatch(piece):
            out.append(piece)
        else:
            out += re.split(r"(\s+)", piece)
    return [w for w in out if w]


def _load_segmenter() -> Callable[[str], list[str]]:
    try:
        import jieba  # type: ignore

        jieba.setLogLevel(logging.CRITICAL)  # its dictionary-loading chatter would reach our stderr log
        return lambda text: list(jieba.cut(text))
    except ImportError:
        return _fallback_cut


_segment: Callable[[str], list[str]] | None = None


def segment(text: str) -> list[str]:
    global _segment
    if _segment is None:
        _segment = _load_segmenter()
    return _segment(text)


# ---------------------------------------------------------------- per sample and averaged

METRIC_KEYS = ("bleu-4", "rouge-1", "rouge-2", "rouge-l")


def sample_scores(prediction: str, reference: str) -> dict[str, float]:
    """LlamaBoard's four scores of one sample, x100 and rounded to 4 decimals."""
    scores = rouge_f1(" ".join(segment(prediction)), " ".join(segment(reference)))
    scores["bleu-4"] = sentence_bleu4(list(reference), list(prediction))
    return {k: round(scores[k] * 100, 4) for k in METRIC_KEYS}


def average_scores(per_sample: Iterable[dict[str, float]]) -> dict[str, float]:
    """Mean of each score over the samples (LlamaBoard's `predict_bleu-4` etc.); 0 for none."""
    rows = list(per_sample)
    if not rows:
        return {k: 0.0 for k in METRIC_KEYS}
    return {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in METRIC_KEYS}
