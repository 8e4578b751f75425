"""Packing: a packed batch gives the same per-sample losses as the samples run one by one (fp32)."""

import torch

from conftest import IDENTITY  # noqa: F401  (dataset_dir fixture uses it)
from tuneboard_trainer.data import collate, load_examples, pack_examples
from tuneboard_trainer.loss import lm_loss
from tuneboard_trainer.hf_weights import load_pretrained
from tuneboard_trainer.templates import IGNORE_INDEX, get_template


def test_packed_rows_layout(tokenizer, dataset_dir):
    examples, _ = load_examples(dataset_dir, ["identity"], get_template("llama3", tokenizer), 128, 100)
    rows = pack_examples(examples, 128)
    assert sum(len(r.seq_lens) for r in rows) == len(examples) and len(rows) < len(examples)
    assert all(len(r.input_ids) == sum(r.seq_lens) <= 128 for r in rows)
    b = collate(rows, pad_id=0)
    r0 = rows[0]
    first, second = r0.seq_lens[0], r0.seq_lens[1]
    assert b["position_ids"][0, :first].tolist() == list(range(first))
    assert b["position_ids"][0, first:first + second].tolist() == list(range(second))  # restarts at 0
    m = b["packed_mask"][0, 0]
    assert m.shape == (b["input_ids"].shape[1],) * 2 and m.dtype == torch.bool
    assert m[first, first] and not m[first, first - 1] and m[first - 1, 0] and not m[0, 1]  # block-diag causal
    starts = [sum(r0.seq_lens[:k]) for k in range(len(r0.seq_lens))]
    assert all(r0.labels[s] == IGNORE_INDEX for s in starts)  # no sample learns to follow another


def test_packed_losses_equal_one_by_one(tokenizer, tiny_model_dir, dataset_dir):
    torch.manual_seed(0)
    model = load_pretrained(tiny_model_dir).eval()
    examples, _ = load_examples(dataset_dir, ["identity"], get_template("llama3", tokenizer), 128, 100)
    rows = pack_examples(examples, 128)
    b = collate(rows, pad_id=0)
    with torch.no_grad():
        hidden = model(b["input_ids"], position_ids=b["position_ids"], attention_mask=b["packed_mask"])
        packed, single = [], []
        for r, row in enumerate(rows):
            s = 0
            for n in row.seq_lens:
                loss, k = lm_loss(model, hidden[r : r + 1, s : s + n], b["labels"][r : r + 1, s : s + n])
                packed.append((tuple(row.input_ids[s : s + n]), float(loss) / k))
                s += n
        for e in examples:
            ids = torch.tensor([e.input_ids])
            loss, k = lm_loss(model, model(ids), torch.tensor([e.labels]))
            single.append((tuple(e.input_ids), float(loss) / k))
    packed, single = dict(packed), dict(single)
    assert packed.keys() == single.keys() and len(single) == len(examples)
    for key in single:
        assert abs(packed[key] - single[key]) < 1e-5, (packed[key], single[key])
