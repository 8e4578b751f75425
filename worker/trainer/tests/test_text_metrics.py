"""BLEU-4 / ROUGE-1/2/L: our pure-Python scoring against the reference libraries LLaMA-Factory uses
(nltk's sentence_bleu with method3, rouge_chinese, jieba; the test extra of pyproject.toml), on fixed strings."""

import pytest

from tuneboard_trainer import text_metrics as tm

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
rouge_chinese = pytest.importorskip("rouge_chinese")
jieba = pytest.importorskip("jieba")

PAIRS = [
    # English
    ("I am Greatbot, an AI assistant developed by Allen.", "I am Greatbot, an AI assistant developed by Allen."),
    ("Hello! I am Greatbot, made by Allen. How can I help?", "Hi, I am Greatbot, an assistant created by Allen."),
    ("The cat sat on the mat.", "A dog lay on the rug near the door."),
    ("the the the the", "the cat is on the mat"),
    ("yes", "Yes, I can help you with that."),
    ("A much longer prediction than the reference, repeating words words words words.", "short one"),
    ("xyz", "abc"),
    ("", "an empty prediction"),
    ("line one.\n\nline two?  And   spaces", "line one. line two? and spaces"),
    # Chinese and mixed
    ("我是 Greatbot，由 Allen 开发的人工智能助手。", "您好，我是 Greatbot，一个由 Allen 开发的 AI 助手。"),
    ("今天天气很好，我们去公园散步吧！", "今天天气不错。我们去公园走走？好的……然后回家"),
    ("我爱北京天安门", "我爱北京天安门"),
    ("机器学习是人工智能的一个分支。", "深度学习属于机器学习。它是人工智能的一部分。"),
    ("“你好！”他说。", "他说：“你好！”然后走了。"),
    ("，。", "好"),
]


def reference_scores(pred: str, label: str) -> dict:
    """LLaMA-Factory's computation (scripts/eval_bleu_rouge.py), verbatim in substance."""
    hyp, ref = list(jieba.cut(pred)), list(jieba.cut(label))
    bleu = nltk_bleu.sentence_bleu([list(label)], list(pred), smoothing_function=nltk_bleu.SmoothingFunction().method3)
    if len(" ".join(hyp).split()) == 0 or len(" ".join(ref).split()) == 0:
        result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
    else:
        result = rouge_chinese.Rouge().get_scores(" ".join(hyp), " ".join(ref))[0]
    out = {k: round(v["f"] * 100, 4) for k, v in result.items()}
    out["bleu-4"] = round(bleu * 100, 4)
    return out


@pytest.mark.parametrize("pred, label", PAIRS)
def test_matches_llamafactory_reference(pred, label):
    assert tm.sample_scores(pred, label) == pytest.approx(reference_scores(pred, label), abs=1e-4)


def test_bleu_matches_nltk_on_word_tokens():
    smooth = nltk_bleu.SmoothingFunction().method3
    for pred, label in PAIRS:
        ours = tm.sentence_bleu4(label.split(), pred.split())
        theirs = nltk_bleu.sentence_bleu([label.split()], pred.split(), smoothing_function=smooth)
        assert ours == pytest.approx(float(theirs), abs=1e-12), (pred, label)


def test_rouge_matches_rouge_chinese_on_character_tokens():
    # The fallback segmenter (one word per CJK character) goes through the same ROUGE arithmetic.
    for pred, label in PAIRS:
        h, r = " ".join(tm._fallback_cut(pred)), " ".join(tm._fallback_cut(label))
        ours = tm.rouge_f1(h, r)
        if not h.split() or not r.split():
            assert ours == {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
            continue
        theirs = rouge_chinese.Rouge().get_scores(h, r)[0]
        for k in ("rouge-1", "rouge-2", "rouge-l"):
            assert ours[k] == pytest.approx(theirs[k]["f"], abs=1e-12), (k, pred, label)


def test_perfect_and_disjoint():
    assert tm.sample_scores("我爱北京天安门", "我爱北京天安门") == {"bleu-4": 100.0, "rouge-1": 100.0, "rouge-2": 100.0,
                                                             "rouge-l": 100.0}
    assert tm.sample_scores("xyz", "abc") == {"bleu-4": 0.0, "rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}


def test_average_is_mean_of_samples():
    rows = [tm.sample_scores(p, lab) for p, lab in PAIRS[:4]]
    avg = tm.average_scores(rows)
    for k in tm.METRIC_KEYS:
        assert avg[k] == pytest.approx(sum(r[k] for r in rows) / 4, abs=1e-4)
    assert tm.average_scores([]) == {k: 0.0 for k in tm.METRIC_KEYS}
