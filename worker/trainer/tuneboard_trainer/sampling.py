"""Sampling for the chat engines: the request's generation parameters (validated) and the next token from logits,
with HF's repetition penalty, temperature, top-k and top-p semantics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class GenParams:
    """Sampling settings, validated (the worker validates with zod too; this process trusts nobody)."""

    max_new_tokens: int = 1024  # LlamaBoard's default
    temperature: float = 0.95  # LlamaBoard's default; 0 = greedy
    top_p: float = 0.7  # LlamaBoard's default; 1 = off
    top_k: int = 0  # 0 = off
    repetition_penalty: float = 1.0  # 1 = off; HF semantics (divides positive logits, multiplies negative)
    seed: Optional[int] = None  # None = random
    use_adapters: bool = True  # False: answer with the base model (compare mode)
    # Which loaded adapters this request uses (by load order); None = all of them. Set by the chat
    # server from a request's adapter_paths, never parsed from the message directly.
    adapter_mask: Optional[tuple] = None

    @classmethod
    def parse(cls, msg: dict) -> "GenParams":
        def num(key, default, lo, hi, integer=False, lo_open=False):
            v = msg.get(key, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and int(v) != v):
                raise ValueError(f"{key}: must be {'an integer' if integer else 'a number'}")
            if (v <= lo if lo_open else v < lo) or v > hi or math.isnan(v):
                raise ValueError(f"{key}: must be in {'(' if lo_open else '['}{lo}, {hi}]")
            return int(v) if integer else float(v)

        seed = msg.get("seed")
        if seed is not None:
            seed = num("seed", None, 0, 2**63 - 1, integer=True)
        use = msg.get("use_adapters", True)
        if not isinstance(use, bool):
            raise ValueError("use_adapters: must be true or false")
        return cls(
            max_new_tokens=num("max_new_tokens", 1024, 1, 8192, integer=True),
            temperature=num("temperature", 0.95, 0.0, 5.0),
            top_p=num("top_p", 0.7, 0.0, 1.0, lo_open=True),
            top_k=num("top_k", 0, 0, 1000, integer=True),
            repetition_penalty=num("repetition_penalty", 1.0, 1.0, 2.0),
            seed=seed,
            use_adapters=use,
        )


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """HF's RepetitionPenaltyLogitsProcessor on (V,) logits; `seen` (V,) bool marks prompt + generated ids."""
    if penalty == 1.0:
        return logits
    pen = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, pen, logits)


def sample(logits: torch.Tensor, p: GenParams, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Next token id (0-d tensor, on the logits' device) from (V,) fp32 logits (penalty already applied)."""
    if p.temperature <= 0:
        return logits.argmax()
    logits = logits / p.temperature
    if p.top_k and p.top_k < logits.numel():
        kth = torch.topk(logits, p.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if p.top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > p.top_p  # tokens before it already cover top_p; the first stays
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, idx, drop), float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[0]


def tokens_to_generate(prompt_len: int, p: GenParams, max_seq_len: int) -> int:
    """How many new tokens a request may produce in a cache of `max_seq_len`; refuses a prompt that fills it."""
    n = min(p.max_new_tokens, max_seq_len - prompt_len)
    if n <= 0:
        raise ValueError(f"the conversation is {prompt_len} tokens; this chat holds at most {max_seq_len}")
    return n


def sampling_state(p: GenParams, prompt: list[int], vocab_size: int,
                   device: torch.device) -> tuple[Optional[torch.Generator], Optional[torch.Tensor]]:
    """A request's random generator (None when greedy; seeded from p.seed, else at random) and its (V,) bool
    mask of tokens already seen (None when there is no repetition penalty to apply)."""
    gen = None
    if p.temperature > 0:
        gen = torch.Generator(device=device)
        gen.manual_seed(p.seed if p.seed is not None else int(torch.randint(0, 2**62, ()).item()))
    seen = None
    if p.repetition_penalty != 1.0:
        seen = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        seen[torch.tensor(prompt, device=device)] = True
    return gen, seen
