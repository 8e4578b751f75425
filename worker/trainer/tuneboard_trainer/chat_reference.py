"""Chat on the reference model (model.build_model) for the families chat_engine's fused layer math does not
compute: Gemma 2/3 (soft-capping, sliding/global layers), Phi-3, GLM, the mixtures of experts, and scaled RoPE.

The same interface as chat_engine.ChatEngine (generate, adapters, select by mask, max_seq_len, device, mode):
the model's own forward with its KV cache (model.KVCache), sliding windows and soft-caps included, one token per
step, no CUDA graphs. LoRA adapters stay unmerged (one at a time) so that a request can answer without them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional

import torch

from .chat_engine import Progress, _noop
from .sampling import GenParams, apply_repetition_penalty, sample, sampling_state, tokens_to_generate
from .hf_weights import load_pretrained
from .lora import adapters_disabled, load_adapter
from .model import KVCache, softcap


class ReferenceChatEngine:
    """One model (plus at most one LoRA adapter) on one device, generating with the reference forward."""

    mode = "reference"

    def __init__(self, model_dir, device="cpu", dtype: Optional[torch.dtype] = None, max_seq_len: int = 4096,
                 progress: Progress = _noop):
        self.device = torch.device(device)
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        progress("weights", 0.0)
        self.model = load_pretrained(model_dir, dtype=self.dtype, device=self.device).eval()
        progress("weights", 1.0)
        self.cfg = self.model.config
        self.max_seq_len = min(max_seq_len, self.cfg.max_position_embeddings)
        self.adapters: list[str] = []
        self.use_adapter = True

    def add_adapters(self, adapter_dirs: list, progress: Progress = _noop) -> None:
        if len(adapter_dirs) > 1:
            raise ValueError(f"chat runs {self.cfg.architecture} on the reference path, which holds one adapter "
                             f"at a time; {len(adapter_dirs)} were given")
        progress("adapters", 0.0)
        for d in adapter_dirs:
            load_adapter(self.model, Path(d))
            self.model.to(self.device)
        self.adapters = [str(d) for d in adapter_dirs]
        progress("adapters", 1.0)

    def select_adapters(self, mask) -> None:
        if len(mask) != len(self.adapters):
            raise ValueError(f"adapter mask has {len(mask)} entries for {len(self.adapters)} loaded adapters")
        self.use_adapter = all(mask)

    def _next_logits(self, ids: torch.Tensor, cache: KVCache, start: int) -> torch.Tensor:
        """(V,) fp32 logits after `ids` (1, T) placed at `start`, soft-capped where the family caps them."""
        hidden = self.model(ids, cache=cache, start_pos=start)  # (1, T, D)
        return softcap(self.model.lm_head(hidden[0, -1]).float(), self.cfg.final_logit_softcapping)

    @torch.inference_mode()
    def generate(self, prompt: list[int], p: GenParams, stop_ids=frozenset()) -> Iterator[int]:
        """Yield new token ids (a stop id ends it, not yielded)."""
        n_max = tokens_to_generate(len(prompt), p, self.max_seq_len)
        mask = p.adapter_mask if p.adapter_mask is not None else (True,) * len(self.adapters)
        self.select_adapters([bool(m) and p.use_adapters for m in mask])
        gen, seen = sampling_state(p, prompt, self.cfg.vocab_size, self.device)
        cache = KVCache(self.cfg, 1, len(prompt) + n_max, self.device, self.dtype)
        with adapters_disabled(self.model) if not self.use_adapter else contextlib.nullcontext():
            logits = self._next_logits(torch.tensor([prompt], device=self.device), cache, 0)
            for i in range(n_max):
                if seen is not None:
                    logits = apply_repetition_penalty(logits, seen, p.repetition_penalty)
                t = int(sample(logits, p, gen))
                if t in stop_ids:
                    return
                yield t
                if i == n_max - 1:
                    return
                if seen is not None:
                    seen[t] = True
                logits = self._next_logits(torch.tensor([[t]], device=self.device), cache, len(prompt) + i)


def load_reference_engine(model_dir, adapter_dirs=(), device=None, max_seq_len: int = 4096,
                          progress: Progress = _noop) -> ReferenceChatEngine:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    eng = ReferenceChatEngine(model_dir, device=device, max_seq_len=max_seq_len, progress=progress)
    if adapter_dirs:
        eng.add_adapters(list(adapter_dirs), progress)
    return eng
