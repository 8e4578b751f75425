"""Fine-tuning loop: setup -> windows of steps (log, eval, save after each) -> final save -> cleanup.

`train(cfg, sink)` builds a TrainingRun (setup: data, model, adapters, fast path, optimizer, resume state), runs
one optimizer step per gradient-accumulation window until total_steps, saves, and reports `done`.

Precision: compute_type bf16/fp16 use autocast on CUDA (fp16 with a GradScaler); on CPU they fall back to fp32
with a `log` warning (a config written for a GPU still runs). Trainable parameters are always fp32 master weights.

Checkpoints (every save_steps, and the final save): checkpoint-N/ holds what `save_trained` writes (PEFT adapter
for lora, HF model for freeze/full) plus `trainer_state.pt` (run_state.py). Resuming from it continues
bit-identically on the same device and config.

Continuing a finished run (`continue_from`, its folder): the new run starts from that run's final state (weights,
optimizer, scheduler, RNG, epoch position, step counter) and trains num_train_epochs (or max_steps) more; the
learning-rate schedule is the one of a single run over both lengths. Early stopping (`early_stopping_patience`)
ends the loop after that many evaluations without improvement; the run then saves and reports as at the end, with the
LoRA weights of its best evaluation (kept in memory at each improvement: adapters are small) in place of the last
step's, as transformers' load_best_model_at_end does; the saved trainer_state.pt holds those weights with the last
step's optimizer state and counters. Freeze/full runs save the last step's weights and say so.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Optional

import torch

from . import distributed
from .config import ConfigError, TrainConfig
from .data import collate, epoch_batches, load_examples, pack_examples, split_examples
from .forward import enable_gradient_checkpointing, evaluate, forward_batch, resolve_device
from .contracts.enums import STAGE_METRICS
from .events import Checkpoint, Done, Eval, EventSink, Step
from .fast import FastPathOptions, for_training
from .fast.graph import graphs_for_training
from .hf_weights import LoadingWeights, cancel_on_error, load_config, load_pretrained
from .import_prefetch import prefetch_imports
from .loss import lm_loss
from .loss_plot import plot_loss
from .methods import LoraSettings, prepare_model
from .setup_log import announce_setup, log_timing, process_start_time, reader_message
from .moe import aux_loss_coef
from .optim import build_optimizer, lr_lambda, warmup_steps
from .stages import (PREFERENCE_STAGES, PreferenceStep, attach_value_head, check_stage, evaluate_preference,
                     fast_path_setup, load_stage_data, mean_metrics)
from .early_stopping import BestWeights, early_stop, saved_message, stop_message
from .run_restore import rescale_lr, restore_run
from .run_save import save_run
from .run_state import is_stage_chain, load_continue_state, load_resume_state, load_trained_weights
from .quant.run import (kernels_ready, load_run_model, needs_quant_loader, reference_path_note,
                        resolve_method)
from .dataset_kind import check_datasets_fit_stage
from .templates import IGNORE_INDEX, TemplateError, check_tokenizer_fits, load_template


# Steps between reads of the losses when nothing else (a log line, eval, a checkpoint) reads them sooner: a
# non-finite loss stops the run at most this many steps late.
SETTLE_EVERY = 16


class TrainingRun:
    """One training run: built by setup (the constructor), then `run()` trains, saves and returns `done`."""

    def __init__(self, cfg: TrainConfig, sink: EventSink, dist_strategy: str = "auto", overlap_loading: bool = True):
        self.t_setup = time.time()
        self.t_process = process_start_time()  # None where /proc is missing
        prefetch_imports()  # torch._dynamo (the optimizer imports it) while data and weights load
        self.cfg = cfg
        self.dist = distributed.setup(dist_strategy)  # under torchrun: DDP/FSDP2 (distributed.py); else a no-op
        self.sink = self.dist.quiet(sink)
        device, self.dtype, self.warnings = resolve_device(cfg)
        self.device = self.dist.device(device)
        check_stage(cfg, distributed=self.dist.enabled)
        # The preference stages' loss per micro-batch (stages.py); None = next-token loss (sft, pt).
        self.pref_step = PreferenceStep(cfg) if cfg.stage in PREFERENCE_STAGES else None
        self.options = FastPathOptions.from_config(cfg)
        self.model_dir = Path(cfg.model_name_or_path)
        if not self.model_dir.is_dir():
            raise ConfigError(f"model_name_or_path: directory {self.model_dir} not found")
        self.vocab_size = load_config(self.model_dir).vocab_size  # unsupported architectures fail here, before
        # tokenizing or loading weights
        self.quant_method = resolve_method(cfg, self.device)  # None: full-precision base weights
        # The weights load in a thread while the data is tokenized (hf_weights.LoadingWeights); a quantized
        # base (loaded layer by layer) and torchrun ranks load in this thread, after the data.
        self.loading = None
        if overlap_loading and not self.dist.enabled and not needs_quant_loader(self.model_dir, self.quant_method):
            self.loading = LoadingWeights(self.model_dir, self.dtype, self.device, self.options.weight_reader)
        with cancel_on_error(self.loading):  # a config or data error is reported without waiting for the read
            self._setup_rest(cfg)

    def _setup_rest(self, cfg: TrainConfig) -> None:
        self.resume = load_resume_state(cfg) if cfg.resume_from_checkpoint else None
        self.parent = load_continue_state(cfg) if cfg.continue_from else None
        # An sft run that this preference run starts from (run_state.is_stage_chain): weights only, step 0.
        self.chained = self.parent is not None and is_stage_chain(self.parent, cfg)
        self.start_step = self.parent["global_step"] if self.parent is not None and not self.chained else 0
        torch.manual_seed(cfg.seed)
        self._load_data()
        self.phases = {"data": time.time() - self.t_setup}  # seconds per setup phase, for the log
        self._load_model()
        t_phase = time.time()
        self._build_optimizer()
        # Its first add_param_group imports torch._dynamo: the time left of import_prefetch's import shows here.
        self.phases["optimizer"] = time.time() - t_phase
        self.step, self.epoch, self.step_in_epoch, self.tokens, self.losses, self.evals = 0, 0, 0, 0, [], []
        self.stopped_early: dict | None = None
        # Early stopping with LoRA: (step, trainable weights) of this run's best evaluation so far.
        self.best_weights = BestWeights()
        if self.resume is not None:
            restore_run(self, self.resume, "resume_from_checkpoint")
        elif self.chained:
            load_trained_weights(self.model, self.parent, "continue_from")
        elif self.parent is not None:
            restore_run(self, self.parent, "continue_from")
            rescale_lr(self.optimizer, self.scheduler)
        if self.pref_step is not None:  # an SFT -> preference chain's reference: the SFT model (stages.py)
            self.pref_step.use_chain_reference(self.chained, self.parent, self.resume, self.device)
        self.out_dir = Path(cfg.output_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_file = self._open_log()
        # save_run (run_save.py) of this run; rank 0 writes (fsdp: all gather)
        self.save_checkpoint = self.dist.saving(functools.partial(save_run, self), self.model)
        self.window_losses: list[float] = []
        self.window_metrics: list[dict] = []  # preference stages: per-sample metrics since the last log line
        self.windows: list = []
        self.pending: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (step, loss, grad norm) not yet read

    # ---------------------------------------------------------------- setup

    def _load_data(self) -> None:
        cfg = self.cfg
        try:
            self.template = load_template(cfg.template, self.model_dir, cfg.enable_thinking)
        except (TemplateError, ValueError) as e:
            raise ConfigError(f"template: {e}") from None
        except FileNotFoundError as e:
            raise ConfigError(f"model_name_or_path: {e}") from None
        try:
            check_tokenizer_fits(self.template.tokenizer, self.vocab_size)
        except TemplateError as e:
            raise ConfigError(f"model_name_or_path: {e}") from None
        check_datasets_fit_stage(cfg.dataset_dir, cfg.dataset, cfg.stage)
        if cfg.stage == "sft":
            self.examples, self.stats = load_examples(cfg.dataset_dir, cfg.dataset, self.template, cfg.cutoff_len,
                                                      cfg.max_samples, cfg.train_on_prompt, cfg.mask_history)
        else:
            self.examples, self.stats = load_stage_data(cfg, self.template)
        self.train_set, self.val_set = split_examples(self.examples, cfg.val_size, cfg.seed)
        self.stats.num_samples, self.stats.num_eval_samples = len(self.train_set), len(self.val_set)
        packed = cfg.packing or cfg.stage == "pt"  # pre-training always packs (documents never cross)
        self.rows = pack_examples(self.train_set, cfg.cutoff_len) if packed else self.train_set
        self.stats.num_rows = len(self.rows)
        if cfg.early_stopping_patience > 0 and not self.val_set:
            raise ConfigError("early_stopping_patience: early stopping needs a validation split: set validation size "
                              "above 0 (this split holds no samples)")

    def _load_model(self) -> None:
        cfg, device, t_phase = self.cfg, self.device, time.time()
        if self.loading is not None:  # read in a thread since the start of setup
            loading, self.loading = self.loading, None
            model = loading.result()
            self.phases.update(loading.phases())
            self.load_msg = reader_message(loading.stats)
        elif needs_quant_loader(self.model_dir, self.quant_method):  # quantized, layer by layer (quant/)
            model = load_run_model(self.model_dir, self.quant_method, self.dtype, device)
        else:
            model = load_pretrained(self.model_dir, dtype=self.dtype, device=device,
                                    weight_reader=self.options.weight_reader)
        wait = "waiting for weights" if "weights read in the background" in self.phases else "weights"
        self.phases[wait], t_phase = time.time() - t_phase, time.time()
        torch.manual_seed(cfg.seed)  # LoRA init depends only on the seed, not on what ran before
        lora = LoraSettings(targets=cfg.lora_target, r=cfg.lora_rank, alpha=cfg.lora_alpha,
                            dropout=cfg.lora_dropout, use_rslora=cfg.use_rslora, use_dora=cfg.use_dora)
        try:
            self.trainable, self.total = prepare_model(model, cfg.finetuning_type, lora=lora,
                                                       freeze_trainable_layers=cfg.freeze_trainable_layers,
                                                       freeze_trainable_modules=cfg.freeze_trainable_modules)
        except ValueError as e:  # a setting that does not fit this model (e.g. more freeze layers than it has)
            msg = str(e)
            field = next((f for f in ("freeze_trainable_layers", "freeze_trainable_modules", "lora_target")
                          if msg.startswith(f)), "finetuning_type")
            raise ConfigError(msg if msg.startswith(field + ":") else f"{field}: {msg}") from None
        if cfg.stage == "rm":  # the reward model's head, trained with the adapter (or the unfrozen weights)
            n_head = attach_value_head(model, device)
            self.trainable, self.total = self.trainable + n_head, self.total + n_head
        self.phases["adapters"], t_phase = time.time() - t_phase, time.time()
        # GPU fast path (fast/): packed varlen micro-batches, same loss; None = the reference path.
        # Preference stages: PreferenceStep packs its own rows through it (stages.fast_path_setup sizes it).
        if self.quant_method is not None and not kernels_ready(device):
            self.fast, self.fast_msg = None, reference_path_note(self.quant_method, cfg.quantization_bit)
        else:
            fast_cfg, run_tokens = ((cfg, sum(len(r.input_ids) for r in self.rows) * cfg.num_train_epochs)
                                    if self.pref_step is None else fast_path_setup(cfg, self.rows))
            self.fast, self.fast_msg = for_training(self.options, fast_cfg, model, device, run_tokens, self.dist)
        if self.pref_step is not None:
            self.pref_step.fast = self.fast
            self.pref_step.cache_references(self.rows, device)  # dpo: reference log-probs kept after epoch 1
        self.aux_coef, self.aux_msg = aux_loss_coef(cfg.moe_aux_loss_coef, model, self.pref_step is None)
        if cfg.gradient_checkpointing and self.fast is None:
            enable_gradient_checkpointing(model)
        model.train()
        # What forward passes go through (DDP/FSDP2 or the model). The fast path runs the blocks itself, so
        # under DDP it gets no wrapper and gradients are averaged by dist.sync_grads after each window.
        self.fwd_model = self.dist.wrap(model, device, manual_grads=self.fast is not None)
        self.params = [p for p in model.parameters() if p.requires_grad]
        # CUDA graphs of the fast path's forward + backward (fast/graph.py; a dpo micro-batch's reference pass,
        # policy pass, loss and backward: fast/pair_graph.py); None = run it eagerly.
        self.graphs, self.graphs_msg = graphs_for_training(self.fast, self.params, device, self.dtype,
                                                             self.pref_step)
        self.phases["training setup"] = time.time() - t_phase
        self.model = model

    def _build_optimizer(self) -> None:
        cfg, dtype, device = self.cfg, self.dtype, self.device
        self.optimizer = build_optimizer(self.model, cfg.learning_rate, cfg.weight_decay)
        micro_per_epoch = math.ceil(len(self.rows) / cfg.per_device_train_batch_size)
        self.accum = cfg.gradient_accumulation_steps * self.dist.world  # micro-batches per optimizer step, all ranks
        self.steps_per_epoch = math.ceil(micro_per_epoch / self.accum)
        # A continued run trains this many steps more than the run it continues.
        self.total_steps = self.start_step + (cfg.max_steps or math.ceil(cfg.num_train_epochs * self.steps_per_epoch))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(cfg.lr_scheduler_type, warmup_steps(cfg, self.total_steps), self.total_steps))
        self.autocast = (torch.autocast(device.type, dtype=dtype) if dtype != torch.float32
                         else contextlib.nullcontext())
        self.scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None

    def _open_log(self):
        log_path = self.out_dir / "trainer_log.jsonl" if self.dist.is_main else Path(os.devnull)
        kept = []
        if self.resume is not None and log_path.exists():  # keep the history up to the checkpoint
            kept = [line for line in log_path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= self.step]
        log_file = open(log_path, "w", encoding="utf-8")
        log_file.writelines(line + "\n" for line in kept)
        return log_file

    def record(self, event, extra: Optional[dict] = None) -> dict:
        """Emit an event and append it to trainer_log.jsonl, with `extra` keys in the file only (the preference
        stages' metrics under TRL's names, as LLaMA-Factory's trainer_log.jsonl has them)."""
        d = self.sink.emit(event)
        self.log_file.write(json.dumps({**d, **(extra or {})}) + "\n")
        self.log_file.flush()
        return d

    def announce(self) -> None:
        """The `started` event and the setup's log lines (setup_log.py)."""
        announce_setup(self)

    # ---------------------------------------------------------------- one window of steps

    def settle(self) -> float:
        """Read the pending steps' losses back (one wait for the GPU), append them to the history, stop on a
        non-finite loss; returns the last step's gradient norm."""
        grad_norm = float("nan")
        for s, loss_t, norm_t in self.pending:
            step_loss, grad_norm = float(loss_t), float(norm_t)
            if not math.isfinite(step_loss):
                raise FloatingPointError(f"loss became {step_loss} at step {s}")
            self.losses.append(step_loss)
            self.window_losses.append(step_loss)
        self.pending.clear()
        return grad_norm

    def run_window(self, window: list[dict]) -> tuple[float, torch.Tensor]:
        """One optimizer step over a gradient-accumulation window; returns (lr, grad norm on the device)."""
        dist, device, scaler = self.dist, self.device, self.scaler
        fast = self.fast if self.pref_step is None else None  # a preference step packs its own rows
        # Normalise by the labelled tokens of the whole window, so every token weighs
        # the same regardless of how it was split into micro-batches.
        n_window = (sum(self.pref_step.samples(b) for b in window) if self.pref_step is not None
                    else sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window))
        # The loss stays on the device: reading it here would make the host wait for every step, and
        # the GPU then idles while the host prepares the next one (settle() reads a batch of them).
        loss_sum, tokens_before = torch.zeros((), device=device), self.tokens
        # (batch, weight) pairs this rank runs: the fast path packs this rank's micro-batches
        # (all of the window in a single process); otherwise each rank takes its padded share.
        mine = ([(b, 1) for b in fast.pack(dist.share_batches(window))] if fast is not None
                else dist.share(window))
        for i, (b, weight) in enumerate(mine):
            scale = weight * dist.world / max(1, n_window)  # ranks' gradients are averaged
            if self.graphs is not None and self.pref_step is not None:  # one replay, summed over the pairs
                loss, metrics = self.graphs.run(b, scale)
                self.window_metrics.append(metrics)
            elif self.graphs is not None:  # forward + backward: one CUDA graph replay
                loss = self.graphs.run(b, scale)
            else:
                with self.autocast, dist.accumulating(self.fwd_model, last=i == len(mine) - 1):
                    if self.pref_step is not None:  # summed over the micro-batch's samples
                        loss, metrics = self.pref_step(self.model, b, device)
                        self.window_metrics.append(metrics)
                    elif fast is not None:
                        loss, _ = fast.loss(b, device)
                        self.window_metrics.extend(fast.metrics())  # MoE: the aux loss fast.loss added
                    else:
                        loss, n_labels = lm_loss(self.model, forward_batch(self.fwd_model, b, device),
                                                 b["labels"].to(device))
                        if self.aux_coef:  # MoE: the router's load-balancing loss, over real tokens
                            aux = self.model.aux_loss(b["attention_mask"].to(device))
                            loss = loss + self.aux_coef * n_labels * aux
                            self.window_metrics.append({"aux_loss": aux.detach()})
                scaled = loss * scale
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            loss_sum += loss.detach().float() * weight
            self.tokens += int(b["attention_mask"].sum()) * int(weight)
        dist.sync_grads(self.params)  # fast path under DDP: the ranks' gradients averaged here
        if dist.enabled:  # summed over ranks (a host value: the all-reduce syncs anyway)
            loss_sum, self.tokens = dist.step_totals(float(loss_sum), self.tokens, tokens_before)
        grad_norm, lr = self._optimizer_step()
        self.step += 1
        self.step_in_epoch += 1
        self.pending.append((self.step, loss_sum / max(1, n_window), grad_norm))
        return lr, grad_norm

    def _optimizer_step(self) -> tuple[torch.Tensor, float]:
        """Clip (or just measure) the gradients, step optimizer and scheduler; returns (grad norm, lr used)."""
        scaler, optimizer = self.scaler, self.optimizer
        if scaler is not None:
            scaler.unscale_(optimizer)
        if self.cfg.max_grad_norm > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.max_grad_norm)
        else:
            grads = [p.grad.norm() for p in self.params if p.grad is not None]
            grad_norm = torch.linalg.vector_norm(torch.stack(grads)) if grads else torch.zeros(())
        lr = self.scheduler.get_last_lr()[0]
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        self.scheduler.step()
        # CUDA graphs accumulate into the same .grad tensors every step: zero them, keep them.
        optimizer.zero_grad(set_to_none=self.graphs is None)
        return grad_norm, lr

    # ---------------------------------------------------------------- log, eval, save after a step

    def after_step(self, lr: float, t0: float, tokens_at_start: int) -> None:
        cfg, step, total = self.cfg, self.step, self.total_steps
        epoch_now = round(step / self.steps_per_epoch, 2)
        log_now = step == 1 or step % cfg.logging_steps == 0 or step == total
        eval_now = bool(self.val_set) and (step % cfg.eval_steps == 0 or step == total)
        save_now = bool(cfg.save_steps) and step % cfg.save_steps == 0 and step < total
        if not (log_now or eval_now or save_now or step >= total or len(self.pending) >= SETTLE_EVERY):
            return
        grad_norm = self.settle()
        if log_now:
            self._log_step(lr, grad_norm, epoch_now, t0, tokens_at_start)
        if eval_now:
            if self.pref_step is not None:
                with self.autocast:
                    eval_loss, eval_metrics = evaluate_preference(self.pref_step, self.model, self.val_set,
                                                                  cfg.per_device_train_batch_size,
                                                                  self.template.pad, self.device)
                self.sink.log("eval: " + ", ".join(f"{k} {v}" for k, v in eval_metrics.items()))
            else:
                eval_loss = evaluate(self.model, self.val_set, cfg.per_device_train_batch_size, self.template.pad,
                                     self.device, self.autocast)
            self.evals.append((step, eval_loss))
            self.record(Eval(step=step, epoch=epoch_now, eval_loss=round(eval_loss, 4)))
            # This run's evaluations only: a continued run starts its patience afresh.
            this_run = [e for e in self.evals if e[0] > self.start_step]
            self._keep_if_best(this_run)
            self.stopped_early = early_stop(this_run, cfg.early_stopping_patience, cfg.early_stopping_min_delta)
        if save_now:
            ckpt = self.save_checkpoint(self.out_dir / f"checkpoint-{step}", len(self.windows))
            self.sink.emit(Checkpoint(step=step, path=str(ckpt)))

    def _keep_if_best(self, this_run: list[tuple[int, float]]) -> None:
        """With early stopping on a LoRA run: a copy of the trainable weights when the newest evaluation is the best."""
        if self.cfg.finetuning_type == "lora":
            self.best_weights.keep_if_best(self.model, self.step, this_run, self.cfg.early_stopping_patience,
                                           self.cfg.early_stopping_min_delta)

    def restore_best(self) -> None:
        """After an early stop: the best evaluation's weights back (when kept), and which step's weights are saved."""
        if self.stopped_early is not None:
            self.best_weights.restore(self.model, self.stopped_early, self.step)
            self.sink.log(saved_message(self.stopped_early, self.step, lora=self.cfg.finetuning_type == "lora"))

    def _log_step(self, lr: float, grad_norm: float, epoch_now: float, t0: float, tokens_at_start: int) -> None:
        elapsed = time.time() - t0
        gpu_mem = None
        if self.device.type == "cuda":  # peak allocated since the previous step event
            gpu_mem = round(torch.cuda.max_memory_allocated(self.device) / 1024**3, 2)
            torch.cuda.reset_peak_memory_stats(self.device)
        metrics = mean_metrics(self.window_metrics)  # preference stages only; {} otherwise
        event = self.record(Step(
            step=self.step, total_steps=self.total_steps, epoch=epoch_now,
            loss=round(sum(self.window_losses) / len(self.window_losses), 4), lr=lr,
            grad_norm=round(grad_norm, 4) if math.isfinite(grad_norm) else None,
            tokens=self.tokens, tokens_per_sec=round((self.tokens - tokens_at_start) / max(elapsed, 1e-9), 1),
            elapsed_s=round(elapsed, 2), gpu_mem_gib=gpu_mem,
            metrics={k: v for k, v in metrics.items() if k in STAGE_METRICS} or None,
        ), extra=metrics)
        self.window_losses, self.window_metrics = [], []
        print(f"step {self.step}/{self.total_steps} loss {event['loss']:.4f} lr {lr:.2e} "
              f"grad_norm {grad_norm:.3f} {event['tokens_per_sec']:.0f} tok/s"
              + "".join(f" {k} {v}" for k, v in metrics.items()), file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- the loop and the finish

    def train_steps(self) -> float:
        """Windows of steps until total_steps; returns the training time in seconds."""
        t0 = time.time()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)  # step events report training peaks, not loading's
        tokens_at_start = self.tokens
        self.first_step_s = None  # the first step pays for CUDA graph capture and kernel start-up: timed apart
        while self.step < self.total_steps:
            batches = list(epoch_batches(self.rows, self.cfg.per_device_train_batch_size, self.cfg.seed,
                                         self.epoch, self.template.pad,
                                         self.pref_step.collate if self.pref_step is not None else collate))
            self.windows = [batches[w : w + self.accum] for w in range(0, len(batches), self.accum)]
            for window in self.windows[self.step_in_epoch:]:
                lr, _ = self.run_window(window)
                self.after_step(lr, t0, tokens_at_start)
                if self.first_step_s is None:  # step 1 is always logged, so its loss was read: the GPU is done
                    self.first_step_s = time.time() - t0
                if self.step >= self.total_steps or self.stopped_early:
                    break
            else:
                self.epoch, self.step_in_epoch = self.epoch + 1, 0
            if self.stopped_early:
                self.settle()
                self.sink.log(stop_message(self.stopped_early))
                self.restore_best()
                break
        runtime = time.time() - t0
        graphs = self.graphs
        if graphs is not None:
            self.sink.log(f"CUDA graphs: {graphs.captures} recorded" + (
                f"; turned off after a failed capture ({graphs.disabled}): the rest ran eagerly"
                if graphs.disabled else ""), level="warning" if graphs.disabled else "info")
        return runtime

    def finish(self, runtime: float) -> dict:
        """all_results.json, the final adapter, the `done` event, trainer_state.pt, training_loss.png, and the GPU
        memory back."""
        evals, losses, dist = self.evals, self.losses, self.dist
        eval_loss = round(evals[-1][1], 4) if evals else None
        train_loss = round(sum(losses) / len(losses), 4)
        results = {"train_loss": train_loss, "eval_loss": eval_loss, "tokens_seen": self.tokens,
                   "runtime_s": round(runtime, 2), "num_samples": len(self.train_set),
                   "num_eval_samples": len(self.val_set), "truncated": self.stats.truncated,
                   "dropped": self.stats.dropped, "global_step": self.step,
                   "epoch": round(self.step / self.steps_per_epoch, 4), "stopped_early": self.stopped_early}
        if dist.is_main:
            (self.out_dir / "all_results.json").write_text(json.dumps(results, indent=2) + "\n")
        t_save = time.time()
        self.save_checkpoint(self.out_dir, len(self.windows), "model")
        log_timing(self, runtime, time.time() - t_save)
        done = self.sink.emit(Done(
            step=self.step, train_loss=train_loss, runtime_s=round(runtime, 2), tokens_seen=self.tokens,
            adapter_path=str(self.out_dir), eval_loss=eval_loss, stopped_early=self.stopped_early,
        ))
        # What resuming and continuing read comes after "done" (the adapter is complete); the worker ends the
        # job when this process exits, so a continued run always finds it.
        self.save_checkpoint(self.out_dir, len(self.windows), "state")
        # The PNG is a keepsake (the dashboard draws its own charts), so "done" does not wait for matplotlib's
        # import and rendering (about a second); the process still exits only after it is written.
        try:
            if dist.is_main:
                plot_loss(self.out_dir / "training_loss.png", losses, evals)
        except ImportError:
            self.sink.log("matplotlib is not installed; training_loss.png was not written", level="warning")
        dist.close()
        del self.model, self.fwd_model, self.optimizer, self.graphs, self.fast
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return {**done, "losses": losses, "evals": evals}


def train(cfg: TrainConfig, sink: EventSink, dist_strategy: str = "auto", overlap_loading: bool = True) -> dict:
    """Train `cfg` to the end, reporting on `sink`; dist_strategy: under torchrun, "ddp", "fsdp" or "auto";
    overlap_loading: read the weights in a thread while the data is tokenized (False: one after the other)."""
    run = TrainingRun(cfg, sink, dist_strategy, overlap_loading)
    run.announce()
    try:
        runtime = run.train_steps()
    finally:
        run.log_file.close()
    # The final result goes to output_dir itself (finish), with its trainer_state.pt: resumable too.
    return run.finish(runtime)
