"""Reference token generation on our `Transformer` with its dynamic KV cache.

The chat process uses the faster `chat_engine` (static cache, CUDA graphs); this plain loop is what
batch evaluation (`evaluate.py`) and the tests check against, one token at a time.
"""

from __future__ import annotations

import random
from typing import Iterator, Optional

import torch

from .model import KVCache, Transformer


def sample_next(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
                generator: Optional[torch.Generator]) -> int:
    """Pick the next token from (V,) fp32 logits. temperature <= 0 means greedy."""
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k and 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0 < top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a token when the tokens before it already cover top_p (the first always stays).
        drop = probs.cumsum(-1) - probs > top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, idx, drop), float("-inf"))
    probs = logits.softmax(-1)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.inference_mode()
def generate_ids(model: Transformer, prompt: list[int], max_new_tokens: int, stop_ids: set[int],
                 temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
                 seed: Optional[int] = None) -> Iterator[int]:
    """Yield new token ids (stop token excluded) using a KV cache."""
    device = model.lm_head.weight.device
    dtype = model.lm_head.weight.dtype
    max_new_tokens = min(max_new_tokens, model.config.max_position_embeddings - len(prompt))
    if max_new_tokens <= 0:
        return
    cache = KVCache(model.config, 1, len(prompt) + max_new_tokens, device, dtype)
    generator = torch.Generator(device="cpu").manual_seed(seed if seed is not None else random.getrandbits(63))
    ids = torch.tensor([prompt], device=device)  # first pass: the whole prompt (prefill)
    pos = 0
    for _ in range(max_new_tokens):
        hidden = model(ids, cache=cache, start_pos=pos)  # (1, T, D)
        pos += ids.shape[1]
        logits = model.lm_head(hidden[0, -1]).float().cpu()  # (V,)
        nxt = sample_next(logits, temperature, top_k, top_p, generator)
        if nxt in stop_ids:
            return
        yield nxt
        ids = torch.tensor([[nxt]], device=device)  # later passes: one token against the cache

