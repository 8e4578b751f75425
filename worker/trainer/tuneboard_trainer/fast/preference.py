"""The preference stages (dpo, kto, rm) on the fast path: a micro-batch's rows packed as separate documents.

stages.PreferenceStep collates a micro-batch as padded rows (dpo: the chosen rows, then the rejected rows). Here
those rows become one padding-free packed stream (`pack_rows`: each row a document of its own, block-diagonal
varlen attention), run through FastPath.hidden, and reduced per document:

- `document_logps`: the sum of log p(label) over each document's labelled tokens, what preference.sequence_logps
  gives on the padded rows. Only labelled positions go through lm_head, a chunk of rows at a time
  (_LinearLogProbs, the SFT loss's chunking), so no (tokens x vocabulary) fp32 logits exist at once.
- `last_hidden`: each document's final hidden state at its last token (the reward model's value head input).

The reference pass (no_grad) runs the same packed stream with every adapter's scaling at 0 (`adapters_zeroed`):
the fast path's projections add `B A x * scaling` themselves, so lora.adapters_disabled alone would not switch
them off. A frozen SFT adapter as reference (stages.weights_swapped) needs nothing here: the fast path reads the
adapter weights on every pass.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import torch

from ..loss import _ce_run
from ..lora import LoRALinear
from .blocks import _post_attn, _pre_attn
from .packing import pack_window
from .shared_prompt import labelled_rows, pack_pairs
from .weights import HostEmbedding


class _LinearLogProbs(torch.autograd.Function):
    """Per-row log p(y_i | h_i) = -CE(h_i @ W.T, y_i) (N,) fp32, computed in chunks of rows.

    d logp_i / d h_i = -(softmax_i - onehot_i) @ W does not depend on the upstream gradient, so it is computed
    during the forward pass chunk by chunk (as _LinearCrossEntropy does) and backward only scales each row by its
    upstream gradient (the preference loss's weight on that document). A trainable W (rare: lm_head is frozen
    under LoRA) gets its gradient by recomputing the chunks in backward, weighted by the upstream gradient.
    """

    @staticmethod
    def forward(ctx, h, W, y, chunk: int, softcap: Optional[float] = None):
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        out = torch.empty(h.shape[0], dtype=torch.float32, device=h.device)
        grad_h = torch.empty_like(h) if need_h else None
        for s in range(0, h.shape[0], chunk):
            ce, g = _chunk(h[s : s + chunk], W, y[s : s + chunk], None, need_h, softcap)
            out[s : s + chunk] = ce
            if need_h:
                grad_h[s : s + chunk] = g @ W  # d CE_i / d h_i
            del g
        ctx.chunk, ctx.softcap, ctx.w_dtype = chunk, softcap, W.dtype
        ctx.save_for_backward(grad_h, h if need_w else None, W if need_w else None, y if need_w else None)
        return -out

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, h, W, y = ctx.saved_tensors
        gh = gw = None
        if grad_h is not None:  # d logp = -d CE
            acc_dtype = torch.promote_types(grad_h.dtype, torch.float32)
            gh = (grad_h.to(acc_dtype) * -grad_out[:, None].to(acc_dtype)).to(grad_h.dtype)
        if W is not None:
            acc = torch.zeros(W.shape, dtype=torch.float32, device=W.device)
            for s in range(0, h.shape[0], ctx.chunk):
                hc = h[s : s + ctx.chunk]
                _, g = _chunk(hc, W, y[s : s + ctx.chunk], -grad_out[s : s + ctx.chunk, None].float(), True,
                              ctx.softcap)
                acc += (g.T @ hc).float()
            gw = acc.to(ctx.w_dtype)
        return gh, gw, None, None, None


def _chunk(hc, W, yc, weight, need_grad: bool, softcap: Optional[float]):
    """(CE (n,) fp32, d CE / d logits (n, V) or None) of one chunk of rows, with Gemma 2's soft-capping."""
    z = hc @ W.T  # (n, V)
    if softcap is None:
        return _ce_run(z, yc, weight, need_grad)
    t = torch.tanh(z.float() / softcap)  # (n, V) fp32
    ce, g = _ce_run((t * softcap).to(z.dtype), yc, weight, need_grad)
    if g is not None:  # d(cap * tanh(z / cap)) / dz = 1 - tanh^2
        g = (g.float() * (1 - t * t)).to(z.dtype)
    return ce, g


def pack_rows(input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor) -> dict:
    """A collated batch of right-padded rows (host tensors) as one packed micro-batch, each row a document of its
    own, in row order (fast.pack_window's layout: input_ids, position_ids, targets, cu_seqlens, max_len)."""
    rows = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
    lengths = attention_mask.sum(1)
    if bool((lengths == 0).any()):
        raise ValueError("an empty row cannot be a document of its own")
    (mb,) = pack_window([rows], int(lengths.sum()))
    return mb


def pack_for(fast, input_ids, labels, attention_mask, device, pairs: bool = False) -> dict:
    """pack_rows (pairs: a dpo pair batch, with each pair's prompt once where the fast path shares prompts:
    shared_prompt.pack_pairs), plus the rows' input embeddings looked up once (a frozen table: the reference and
    the policy pass read the same; from a HostEmbedding that saves a host lookup and a 2 x hidden bytes per token
    copy)."""
    mb = (pack_pairs(input_ids, labels, attention_mask) if pairs and fast.shares_prompts
          else pack_rows(input_ids, labels, attention_mask))
    emb = fast.model.model.embed_tokens
    if not emb.weight.requires_grad:
        with torch.no_grad():
            if isinstance(emb, HostEmbedding):
                mb["inputs_embeds"] = emb.lookup(mb["input_ids"][0]).to(device, non_blocking=True)  # (N, D)
            else:
                mb["inputs_embeds"] = emb(mb["input_ids"].to(device, non_blocking=True)[0])  # (N, D)
    return mb


def _hidden(fast, mb: dict, device) -> torch.Tensor:
    """fast.hidden, falling back to eager regions for good if compiling fails (as FastPath.loss does)."""
    try:
        return fast.hidden(mb, device)
    except Exception:
        if not fast.compiled:
            raise
        fast.pre, fast.post, fast.compiled = _pre_attn, _post_attn, False
        return fast.hidden(mb, device)


def document_logps(fast, mb: dict, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of log p(target) over each document's labelled positions (docs,) fp32, labelled count per document
    (docs,)), both on the device, of a packed micro-batch (pack_rows / pack_for)."""
    model = fast.model
    h = _hidden(fast, mb, device)  # (N, D)
    docs = len(mb["cu_seqlens"]) - 1
    idx, y, doc = labelled_rows(mb)  # (n,) labelled positions (known on the host), targets, documents
    counts = torch.bincount(doc, minlength=docs).to(device, non_blocking=True)
    sums = torch.zeros(docs, dtype=torch.float32, device=h.device)
    if len(idx) == 0:
        return sums + h.sum() * 0.0, counts
    logp = _LinearLogProbs.apply(h.index_select(0, idx.to(device, non_blocking=True)), model.lm_head.weight,
                                 y.to(device, non_blocking=True), fast.loss_chunk,
                                 getattr(model.config, "final_logit_softcapping", None))
    return sums.index_add(0, doc.to(device, non_blocking=True), logp), counts


def last_hidden(fast, mb: dict, device) -> torch.Tensor:
    """(docs, D): each document's final hidden state at its last token (preference.last_token_hidden's rows)."""
    h = _hidden(fast, mb, device)
    last = mb["cu_seqlens"].long()[1:] - 1
    return h.index_select(0, last.to(device, non_blocking=True))


@contextlib.contextmanager
def adapters_zeroed(model):
    """Inside, every LoRALinear adds nothing: its scaling is 0 (the fast path's projections read it) and its
    adapter is switched off (the reference path's forward reads that). For no-grad reference passes."""
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    saved = [(m.scaling, m.adapter_enabled) for m in layers]
    for m in layers:
        m.scaling, m.adapter_enabled = 0.0, False
    try:
        yield model
    finally:
        for m, (scaling, enabled) in zip(layers, saved):
            m.scaling, m.adapter_enabled = scaling, enabled


__all__ = ["adapters_zeroed", "document_logps", "last_hidden", "pack_for", "pack_rows"]
