"""A dpo micro-batch with each pair's prompt computed once: the chosen and the rejected row share their first tokens.

A pair's two rows start with the same prompt (a 128-token prompt is an eighth of a 2 x 512-token pair), and in a
causal model the hidden states of those tokens are the same in both rows. So the pair is packed as its unique
tokens, [shared prefix | chosen suffix | rejected suffix], and every projection, norm and MLP runs once per unique
token. Only attention sees the rows as they are: each block gathers q, k, v into the expanded layout (`expand`),
two documents per pair ([prefix | chosen suffix] and [prefix | rejected suffix], the chosen documents first, as
stages.pair_batch orders the rows), runs the usual block-diagonal attention, and picks each unique token's output
back (`pick`: a prefix token from its chosen copy, which equals its rejected copy). The prefix keys and values get
the gradients of both documents through the gather's backward (at most two addends per token: deterministic).

The labelled rows are explicit, (unique position, target, document) each, since one position can predict a token
of both rows: the prefix's last token predicts the first answer token of the chosen and of the rejected row.

    tokens          unique  N_u = sum over pairs of (len_c + len_r - prefix)
    input_ids       (1, N_u)  position_ids (N_u,): the prefix and both suffixes keep their row positions
    expand          (N_e,)    unique index of each expanded token, N_e = sum of (len_c + len_r)
    pick            (N_u,)    expanded index each unique token's attention output comes from
    cu_seqlens      (2P + 1,) the expanded documents' bounds (int32); max_len their longest
    rows, row_targets, row_docs  (m,): labelled unique positions, their targets, their documents (0 .. 2P-1)
"""

from __future__ import annotations

import torch

from ..templates import IGNORE_INDEX


def shared_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two rows share, leaving each at least one token of its own (a prefix is computed
    once, and each row needs a suffix document position that is its own)."""
    n = min(len(a), len(b)) - 1
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k


def pack_pairs(input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor) -> dict:
    """A collated pair batch (host tensors: P chosen rows, then P rejected rows, right-padded) as one packed
    micro-batch with each pair's shared prefix once (the layout in the module docstring)."""
    rows = input_ids.shape[0]
    if rows % 2:
        raise ValueError("a pair batch has an even number of rows (chosen, then rejected)")
    P = rows // 2
    lengths = attention_mask.sum(1).tolist()
    if min(lengths) == 0:
        raise ValueError("an empty row cannot be a document of its own")
    ids_l, lab_l = input_ids.tolist(), labels.tolist()
    uniq, pos, expand_c, expand_r, pick = [], [], [], [], []
    lab_rows, lab_tgt, lab_doc = [], [], []
    e_r0 = sum(lengths[:P])  # the rejected documents follow every chosen one in the expanded layout
    e_c, e_r = 0, e_r0
    for i in range(P):
        c, r = ids_l[i][: lengths[i]], ids_l[P + i][: lengths[P + i]]
        lc, lr = len(c), len(r)
        p = shared_prefix(c, r)
        base = len(uniq)
        uniq += c + r[p:]
        pos += list(range(lc)) + list(range(p, lr))
        expand_c += range(base, base + lc)
        expand_r += list(range(base, base + p)) + list(range(base + lc, base + lc + lr - p))
        pick += list(range(e_c, e_c + lc)) + list(range(e_r + p, e_r + lr))
        for doc, row, n, unique_at in ((i, i, lc, lambda t: base + t),
                                       (P + i, P + i, lr, lambda t: base + t if t < p else base + lc + t - p)):
            for t in range(n - 1):
                y = lab_l[row][t + 1]
                if y != IGNORE_INDEX:
                    lab_rows.append(unique_at(t))
                    lab_tgt.append(y)
                    lab_doc.append(doc)
        e_c += lc
        e_r += lr
    cu = [0]
    for n in lengths:
        cu.append(cu[-1] + n)
    N = len(uniq)
    return {
        "input_ids": torch.tensor(uniq, dtype=torch.long)[None],  # (1, N_u)
        "position_ids": torch.tensor(pos, dtype=torch.long),  # (N_u,)
        "expand": torch.tensor(expand_c + expand_r, dtype=torch.long),  # (N_e,)
        "pick": torch.tensor(pick, dtype=torch.long),  # (N_u,)
        "cu_seqlens": torch.tensor(cu, dtype=torch.int32),  # (2P + 1,)
        "max_len": max(lengths),
        "rows": torch.tensor(lab_rows, dtype=torch.long),  # (m,)
        "row_targets": torch.tensor(lab_tgt, dtype=torch.long),  # (m,)
        "row_docs": torch.tensor(lab_doc, dtype=torch.long),  # (m,)
        "attention_mask": torch.ones((1, N), dtype=torch.long),
    }


def labelled_rows(mb: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(labelled positions (m,), their targets (m,), their documents (m,)) of a packed micro-batch: explicit in
    pack_pairs' layout, else every position with a target, in the document that holds it (host tensors)."""
    if "rows" in mb:
        return mb["rows"], mb["row_targets"], mb["row_docs"]
    y, cu = mb["targets"], mb["cu_seqlens"].long()
    idx = (y != IGNORE_INDEX).nonzero().squeeze(1)  # (m,)
    return idx, y[idx], torch.bucketize(idx, cu[1:], right=True)


__all__ = ["labelled_rows", "pack_pairs", "shared_prefix"]
