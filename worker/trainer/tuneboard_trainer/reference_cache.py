"""The reference log-probs of a dpo run's training pairs, computed in each pair's first step and read after.

The reference (the base with the LoRA adapter off, or an SFT chain's frozen adapter) does not change during a
run, so from the second epoch on a step needs no reference pass: a quarter of a LoRA DPO step's matmuls (TRL's
precompute_ref_log_probs does the same ahead of training; here it happens as the pairs come). The table lives
on the training device, so reading it costs no host sync; which pairs are known is kept on the host.

A pair's identity is its position in the run's training rows (PairSample.index, set by the run; -1 = not a
training pair, e.g. a held-out pair, which is never cached). A resumed run starts with an empty table.
"""

from __future__ import annotations

from typing import Optional

import torch


class ReferenceCache:
    def __init__(self, pairs: int, device):
        self.table = torch.zeros((pairs, 2), dtype=torch.float32, device=device)  # (pairs, chosen / rejected)
        self.known = torch.zeros(pairs, dtype=torch.bool)  # host: which rows of the table hold values

    def _index(self, batch: dict) -> Optional[torch.Tensor]:
        index = batch.get("index")
        if index is None or len(index) == 0 or bool((index < 0).any()):
            return None
        return index

    def lookup(self, batch: dict) -> Optional[torch.Tensor]:
        """(2B,) reference log-probs of a collated pair batch, its chosen rows then its rejected rows (as
        stage_data.pair_batch orders them), on the table's device; None unless every pair of it is known."""
        index = self._index(batch)
        if index is None or not bool(self.known[index].all()):
            return None
        rows = self.table.index_select(0, index.to(self.table.device, non_blocking=True))  # (B, 2)
        return rows.t().reshape(-1)  # (2B,)

    def store(self, batch: dict, ref: torch.Tensor) -> None:
        """Keep a batch's reference log-probs (2B,): chosen rows then rejected rows."""
        index = self._index(batch)
        if index is None:
            return
        B = len(index)
        self.table.index_copy_(0, index.to(self.table.device, non_blocking=True),
                               ref.detach().float().reshape(2, B).t())
        self.known[index] = True


__all__ = ["ReferenceCache"]
