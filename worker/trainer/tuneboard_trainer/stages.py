"""The training stages a run can take (cfg.stage) and what differs between them in train.py.

- sft: supervised fine-tuning (data.py, loss.lm_loss); the GPU fast path serves it.
- pt: continued pre-training: raw documents (stage_data.load_documents), every token labelled, always packed
  without crossing documents; the same next-token loss as sft, fast path included.
- dpo: preference pairs (stage_data.load_pairs) with pref_loss sigmoid / hinge / ipo (DPO, against the
  reference: the model with its LoRA adapter switched off), orpo or simpo (no reference); preference.py.
- kto: desirable / undesirable answers (stage_data.load_kto), the same reference; preference.py.
- rm: a reward model: preference pairs, a value head (one linear layer, `v_head`) on the last token's hidden
  state, the pairwise loss of preference.py; the head is saved beside the adapter or model as
  value_head.safetensors (LLaMA-Factory's file and key names).

The preference and reward stages train in one process (LoRA for the reference-based losses); a config asking for
anything else is refused before the model loads. With fast_path auto (CUDA) or on, a LoRA run's micro-batch rows
go through the fast path packed as separate documents (fast/preference.py); otherwise the reference path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Optional

import torch

from .config import ConfigError, TrainConfig
from .lora import adapters_disabled
from .preference import (REFERENCE_LOSSES, kto_loss, last_token_hidden, pair_loss, reward_pair_loss,
                         sequence_logps)
from .fast.preference import adapters_zeroed, document_logps, last_hidden, pack_for
from .reference_cache import ReferenceCache
from .stage_data import kto_batch, load_documents, load_kto, load_pairs, pair_batch, sample_tokens

PREFERENCE_STAGES = ("rm", "dpo", "kto")  # served by PreferenceStep
VALUE_HEAD_FILE = "value_head.safetensors"


def needs_reference(cfg: TrainConfig) -> bool:
    return cfg.stage == "kto" or (cfg.stage == "dpo" and cfg.pref_loss in REFERENCE_LOSSES)


def check_stage(cfg: TrainConfig, distributed: bool) -> None:
    """Refuse what this trainer cannot run for cfg.stage, naming the field (ConfigError)."""
    if cfg.stage not in PREFERENCE_STAGES:
        return
    if cfg.packing:
        raise ConfigError(f"packing: stage {cfg.stage} trains on whole pairs; turn packing off")
    if distributed:
        raise ConfigError(f"num_gpus: stage {cfg.stage} trains in one process (one GPU or the CPU)")
    if needs_reference(cfg) and cfg.finetuning_type != "lora":
        what = f"pref_loss {cfg.pref_loss}" if cfg.stage == "dpo" else "kto"
        raise ConfigError(f"finetuning_type: {what} compares against a reference model, which is the base model "
                          "with the LoRA adapter switched off: use lora (or pref_loss orpo / simpo)")


def reference_words(cfg: TrainConfig, chained: bool) -> str:
    """Which model the reference is, as the log and the Run page say it."""
    if not needs_reference(cfg):
        return "no reference model"
    if chained:
        return "reference: the SFT model (the SFT run's adapter as it ended, frozen)"
    return "reference: the base model with the LoRA adapter switched off"


def describe(cfg: TrainConfig, chained: bool = False, fast: bool = False, shared_prompt: bool = False) -> Optional[str]:
    """The log line that says what a non-sft stage trains, against which reference and on which path (chained:
    the run starts from an sft run, run_state.is_stage_chain; fast: its rows go through the fast path;
    shared_prompt: that fast path computes a pair's prompt once, FastPath.shares_prompts)."""
    path = "runs on the fast path (rows packed as documents)" if fast else "runs on the reference path"
    if fast and shared_prompt and cfg.stage == "dpo":
        path = "runs on the fast path (rows packed as documents, each pair's prompt computed once)"
    if cfg.stage == "pt":
        return "stage pt: pre-training on raw text, every token labelled, documents packed without crossing"
    if cfg.stage == "dpo":
        ref = reference_words(cfg, chained)
        extra = f", gamma {cfg.simpo_gamma}" if cfg.pref_loss == "simpo" else ""
        ftx = f", SFT weight {cfg.pref_ftx}" if cfg.pref_ftx > 0 and cfg.pref_loss != "orpo" else ""
        kept = ", its log-probs kept per pair after the pair's first step" if needs_reference(cfg) else ""
        return f"stage dpo: pref_loss {cfg.pref_loss}, beta {cfg.pref_beta}{extra}{ftx}; {ref}{kept}; {path}"
    if cfg.stage == "rm":
        return f"stage rm: a value head on the last token, pairwise loss; {path}"
    if cfg.stage == "kto":
        return (f"stage kto: beta {cfg.pref_beta}, desirable weight {cfg.kto_chosen_weight}, undesirable weight "
                f"{cfg.kto_rejected_weight}; {reference_words(cfg, chained)}; {path}")
    return None


def fast_path_setup(cfg: TrainConfig, rows: list) -> tuple[TrainConfig, int]:
    """(the config fast.for_training plans with, the run's tokens) for a preference stage: a micro-batch of B
    samples puts 2B rows through the model (dpo and rm: chosen and rejected; kto: the answers and the KL rows), so
    the packed stream is sized for 2B rows; the tokens decide regional compile."""
    tokens = sum(sample_tokens(r) for r in rows) * (2 if cfg.stage == "kto" else 1) * cfg.num_train_epochs
    return dataclasses.replace(cfg, per_device_train_batch_size=2 * cfg.per_device_train_batch_size), tokens


def load_stage_data(cfg: TrainConfig, template):
    """(samples, stats) of a pt, dpo or kto run."""
    args = (cfg.dataset_dir, cfg.dataset, template, cfg.cutoff_len, cfg.max_samples)
    if cfg.stage == "pt":
        return load_documents(*args)
    if cfg.stage in ("rm", "dpo"):
        return load_pairs(*args)
    if cfg.stage == "kto":
        return load_kto(*args)
    raise ValueError(f"no stage data loader for {cfg.stage!r}")


class PreferenceStep:
    """Loss of one micro-batch of a preference stage: the sum of its per-sample losses (the run divides by the
    samples of the whole optimizer step) and TRL's metrics, per sample."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.collate = kto_batch if cfg.stage == "kto" else pair_batch
        self.reference = needs_reference(cfg)
        # name -> tensor: trainable weights swapped in for the reference pass (the SFT model of an SFT -> preference
        # chain); None: the reference is the model with its adapter switched off.
        self.reference_weights: Optional[dict] = None
        # The run's fast.FastPath when its rows go through the fast path (train.py sets it); None: reference path.
        self.fast = None
        # dpo against a reference: its log-probs per training pair after the pair's first step (reference_cache.py)
        self.cache: Optional[ReferenceCache] = None

    def cache_references(self, rows: list, device) -> None:
        """Number the run's training pairs and keep their reference log-probs once computed (dpo with a
        reference loss; kto's KL rows pair samples anew each step, so kto recomputes)."""
        if self.cfg.stage != "dpo" or not self.reference:
            return
        for i, row in enumerate(rows):
            row.index = i
        self.cache = ReferenceCache(len(rows), device)

    def known_reference(self, batch: dict) -> Optional[torch.Tensor]:
        """(2B,) cached reference log-probs of a pair batch (chosen rows, then rejected), or None."""
        return self.cache.lookup(batch) if self.cache is not None else None

    def remember_reference(self, batch: dict, ref: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.store(batch, ref)

    def reference_logps(self, model, batch: dict, device, rows=None) -> torch.Tensor:
        """(2B,) reference log-probs of a pair batch (chosen rows, then rejected): from the cache when every pair
        is known, else a no-grad reference pass over `rows` (this step's inputs of the batch), then kept."""
        ref = self.known_reference(batch)
        if ref is None:
            rows = self._inputs(batch, device) if rows is None else rows
            ref = self._logps(model, rows, device, reference=True)[0]
            self.remember_reference(batch, ref)
        return ref

    def use_chain_reference(self, chained: bool, parent: Optional[dict], resume: Optional[dict], device) -> None:
        """The reference of an SFT -> preference chain is the SFT model: the SFT run's adapter as it ended, frozen
        (`parent` when this run starts the chain; a resumed or continued chain run has it in its own state, saved
        as reference_trainable). Otherwise it stays the model with its adapter switched off."""
        if not self.reference:
            return
        ref = parent["trainable"] if chained else (resume or parent or {}).get("reference_trainable")
        if ref is not None:
            self.use_reference_weights(ref, device)

    def saved_reference(self) -> Optional[dict]:
        """What trainer_state.pt keeps of the reference (reference_trainable); None: the adapter off."""
        if self.reference_weights is None:
            return None
        return {n: t.detach().cpu() for n, t in self.reference_weights.items()}

    def use_reference_weights(self, trainable: dict, device) -> None:
        """Make the reference the model with these (frozen) trainable weights instead of the adapter off."""
        self.reference_weights = {n: t.detach().to(device=device, dtype=torch.float32).clone()
                                  for n, t in trainable.items()}

    @staticmethod
    def samples(batch: dict) -> int:
        n = batch["input_ids"].shape[0]
        return n // 2 if "desirable" not in batch else n

    def _inputs(self, batch: dict, device, kl: bool = False):
        """The rows of `batch` (its kl_ rows with kl) as this step's passes take them: a packed micro-batch on the
        fast path (each row a document), else (input_ids, labels) for the padded reference path."""
        p = "kl_" if kl else ""
        ids, labels, mask = batch[p + "input_ids"], batch[p + "labels"], batch[p + "attention_mask"]
        if self.fast is not None:  # dpo pairs: each pair's prompt once where the fast path shares prompts
            return pack_for(self.fast, ids, labels, mask, device, pairs=self.cfg.stage == "dpo")
        return ids.to(device), labels.to(device)

    def _run_logps(self, model, rows, device):
        if self.fast is not None:
            return document_logps(self.fast, rows, device)
        ids, labels = rows
        return sequence_logps(model, model(ids), labels)

    def _logps(self, model, rows, device, reference: bool):
        if not reference:
            return self._run_logps(model, rows, device)
        if self.reference_weights is not None:
            with torch.no_grad(), weights_swapped(model, self.reference_weights):
                return self._run_logps(model, rows, device)
        with torch.no_grad(), (adapters_zeroed(model) if self.fast is not None else adapters_disabled(model)):
            return self._run_logps(model, rows, device)

    def _reward_scores(self, model, batch: dict, device) -> torch.Tensor:
        if self.fast is not None:
            last = last_hidden(self.fast, self._inputs(batch, device), device)
        else:
            last = last_token_hidden(model(batch["input_ids"].to(device)), batch["attention_mask"].to(device))
        return model.v_head(last.to(model.v_head.weight.dtype)).squeeze(-1)

    def __call__(self, model, batch: dict, device) -> tuple[torch.Tensor, dict]:
        cfg = self.cfg
        if cfg.stage == "rm":
            losses, metrics = reward_pair_loss(*self._reward_scores(model, batch, device).chunk(2))
            # LLaMA-Factory's reward-model metric name for the share of pairs ranked right
            return losses.sum(), {**metrics, "accuracy": metrics["rewards/accuracies"]}
        rows = self._inputs(batch, device)  # packed once for the reference and the policy pass
        if cfg.stage == "kto":
            kl_rows = self._inputs(batch, device, kl=True)
            ref_logps, _ = self._logps(model, rows, device, reference=True)
            ref_kl, _ = self._logps(model, kl_rows, device, reference=True)
            with torch.no_grad():
                kl_logps, _ = self._run_logps(model, kl_rows, device)
            logps, _ = self._logps(model, rows, device, reference=False)
            losses, metrics = kto_loss(cfg.pref_beta, logps, ref_logps, batch["desirable"].to(device), kl_logps,
                                       ref_kl, cfg.kto_chosen_weight, cfg.kto_rejected_weight)
            return losses.sum(), metrics
        ref_c = ref_r = None
        if self.reference:
            ref_c, ref_r = self.reference_logps(model, batch, device, rows).chunk(2)
        logps, n = self._logps(model, rows, device, reference=False)
        (c, r), (nc, nr) = logps.chunk(2), n.chunk(2)
        losses, metrics = pair_loss(cfg.pref_loss, cfg.pref_beta, c, r, nc, nr, ref_c, ref_r, ftx=cfg.pref_ftx,
                                    simpo_gamma=cfg.simpo_gamma)
        return losses.sum(), metrics


@contextlib.contextmanager
def weights_swapped(model, weights: dict):
    """Inside, the parameters named in `weights` hold those tensors (their storage is swapped, nothing is copied);
    the trained values come back on exit. Only for no-grad passes: nothing may keep a graph through them.

    Autocast caches its low-precision copy of a trainable (leaf, requires-grad) parameter per tensor, not per
    storage, until the outermost autocast region ends: the cache is cleared on the way in and out, or the policy
    pass in the same region would compute with the reference's weights."""
    torch.clear_autocast_cache()
    named = dict(model.named_parameters())
    trained = {n: named[n].data for n in weights}
    for n, t in weights.items():
        if t.dtype != trained[n].dtype:
            t = weights[n] = t.to(trained[n].dtype)
        named[n].data = t
    try:
        yield model
    finally:
        for n, t in trained.items():
            named[n].data = t
        torch.clear_autocast_cache()


def attach_value_head(model, device) -> int:
    """Give `model` a trainable fp32 value head `v_head` (hidden -> 1, no bias); returns its parameter count."""
    hidden = model.config.hidden_size
    model.v_head = torch.nn.Linear(hidden, 1, bias=False).to(device=device, dtype=torch.float32)
    torch.nn.init.normal_(model.v_head.weight, std=1 / math.sqrt(hidden + 1))
    return hidden


def save_without_value_head(model, save, out_dir):
    """Run `save(out_dir)` with the value head detached (the adapter or model directory stays what peft and
    transformers read), then write the head as value_head.safetensors: `v_head.summary.weight` and a zero
    `v_head.summary.bias`, the names LLaMA-Factory's reward models use."""
    from safetensors.torch import save_file

    head = model._modules.pop("v_head", None)
    try:
        out = save(out_dir)
    finally:
        if head is not None:
            model.v_head = head
    if head is not None:
        weight = head.weight.detach().float().cpu().contiguous()
        save_file({"v_head.summary.weight": weight, "v_head.summary.bias": torch.zeros(1)},
                  str(out_dir / VALUE_HEAD_FILE), metadata={"format": "pt"})
    return out


def mean_metrics(parts: list[dict]) -> dict:
    """Each metric averaged over all samples of `parts` (lists of per-sample tensors, or scalars)."""
    out = {}
    for key in dict.fromkeys(k for p in parts for k in p):
        values = torch.cat([p[key].detach().float().reshape(-1).cpu() for p in parts if key in p])
        if values.numel():
            v = float(values.mean())
            if math.isfinite(v):
                out[key] = round(v, 4)
    return out


@torch.no_grad()
def evaluate_preference(step: PreferenceStep, model, samples: list, batch_size: int, pad_id: int, device):
    """(mean per-sample loss, metrics) over held-out samples, dropout off."""
    was_training = model.training
    model.eval()
    total, n, parts = 0.0, 0, []
    for s in range(0, len(samples), batch_size):
        batch = step.collate(samples[s:s + batch_size], pad_id)
        loss, metrics = step(model, batch, device)
        total += float(loss)
        n += step.samples(batch)
        parts.append(metrics)
    model.train(was_training)
    return total / max(n, 1), mean_metrics(parts)


__all__ = ["PREFERENCE_STAGES", "PreferenceStep", "attach_value_head", "check_stage", "describe", "fast_path_setup",
           "save_without_value_head", "evaluate_preference",
           "load_stage_data", "mean_metrics", "needs_reference", "reference_words", "weights_swapped"]
