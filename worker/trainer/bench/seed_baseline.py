"""Workload 3's baseline process: LLaMA-Factory's stack doing the seed run (run as its own process, timed from
its start by bench.seed_run).

transformers `AutoModelForCausalLM.from_pretrained` (sdpa, bf16, straight to the GPU) + peft LoRA r8 / alpha 16
on all 7 projections, fp32 adapters, gradient checkpointing (use_reentrant=False) + enable_input_require_grads,
bf16 autocast, per-batch padding to a multiple of 8 (LLaMA-Factory's SFT collator), HF's loss from `labels`
normalised over the labelled tokens of the whole accumulation window (transformers' num_items_in_batch),
fused AdamW (HF Trainer's default `adamw_torch_fused`), cosine schedule with warmup, clip 1.0, then
`save_pretrained` of the adapter.

The batches go to the GPU from pinned memory without blocking and the losses are read only at the logging
steps, so the host never waits for the GPU between micro-batches (bench.seed_hf_trainer is the second,
independently written baseline: HF Trainer itself, as LLaMA-Factory runs it).

To make the two sides' losses comparable step by step, both get the *same* samples in the same order (our
tokenizer/template and our seeded epoch order, tuneboard_trainer.data) and the same initial adapter (lora_A drawn
exactly as our trainer draws it from the seed; B = 0 on both sides, as peft does). That changes nothing in
the speed of the stack.

    python -m bench.seed_baseline --config run.json    # the same TrainConfig JSON our trainer gets
Prints JSON lines: {"type": "loaded", ...}, {"type": "step", ...}, {"type": "done", ...}.
"""

import time

T0 = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402


def emit(d):
    # "time": wall-clock seconds since the epoch, so a launcher that noted the process start (the shell, or
    # bench.seed_run) measures start -> event without reading a pipe while the loop runs.
    now = time.time()
    print(json.dumps({**d, "t": round(now - T0, 3), "time": now}), flush=True)


def to_device(b: dict, dev, pin: bool) -> dict:
    """A batch on the device. CUDA: from pinned memory, non-blocking, so the host queues the next micro-batch
    while the GPU still runs the last one (a pageable `.to(dev)` waits for the stream to drain: one full
    host-device sync per micro-batch, which on a launch-bound stack serialises the host's ~10,000 kernel
    launches with the GPU's work)."""
    if not pin:
        return {k: v.to(dev) for k, v in b.items()}
    return {k: v.pin_memory().to(dev, non_blocking=True) for k, v in b.items()}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--blocking-copies", action="store_true",
                   help="pageable, blocking batch copies (a host-device sync per micro-batch), to measure what they cost")
    a = p.parse_args(argv)
    cfg = json.loads(open(a.config).read())

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tuneboard_trainer.data import epoch_batches, load_examples
    from tuneboard_trainer.lora import ALL_TARGETS, LoRALinear
    from tuneboard_trainer.templates import IGNORE_INDEX, load_template
    from tuneboard_trainer.train import lr_lambda, warmup_steps
    from tuneboard_trainer.config import TrainConfig

    from .workloads import pad_to_multiple

    tc = TrainConfig.from_dict(cfg)
    template = load_template(tc.template, tc.model_name_or_path)
    rows, _ = load_examples(tc.dataset_dir, tc.dataset, template, tc.cutoff_len, tc.max_samples)
    emit({"type": "data", "samples": len(rows)})

    t = time.time()
    cuda = tc.device != "cpu"
    model = AutoModelForCausalLM.from_pretrained(tc.model_name_or_path, dtype=torch.bfloat16 if cuda else torch.float32,
                                                 attn_implementation="sdpa", device_map={"": 0 if cuda else "cpu"})
    if cuda:
        torch.cuda.synchronize()
    emit({"type": "loaded", "load_s": round(time.time() - t, 2)})
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=tc.lora_rank, lora_alpha=tc.lora_alpha, lora_dropout=tc.lora_dropout,
                                             target_modules=list(ALL_TARGETS), task_type="CAUSAL_LM"))
    for q in model.parameters():
        if q.requires_grad:
            q.data = q.data.float()
    # The same initial lora_A as our trainer: seed, then per wrapped module in model order, the draws that
    # LoRALinear's constructor makes (nn.Linear inits of A and B, then A's kaiming init).
    torch.manual_seed(tc.seed)
    named = dict(model.named_modules())
    base = model.base_model.model
    for path, mod in base.named_modules():
        name = path.rsplit(".", 1)[-1]
        if name in ALL_TARGETS and hasattr(mod, "lora_A"):
            ref = LoRALinear(mod.in_features, mod.out_features, tc.lora_rank, tc.lora_alpha)
            with torch.no_grad():
                mod.lora_A["default"].weight.copy_(ref.lora_A.weight)
    del named
    model.train()
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=tc.learning_rate, weight_decay=tc.weight_decay, fused=cuda or None)
    per_epoch = math.ceil(math.ceil(len(rows) / tc.per_device_train_batch_size) / tc.gradient_accumulation_steps)
    total = tc.max_steps or math.ceil(tc.num_train_epochs * per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(tc.lr_scheduler_type, warmup_steps(tc, total), total))
    dev = torch.device(tc.device if tc.device != "auto" else "cuda")
    cuda = dev.type == "cuda"
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
    step, epoch, losses, logged, tokens, t_train = 0, 0, [], [], 0, time.time()
    while step < total:
        batches = [pad_to_multiple(b, 8) for b in
                   epoch_batches(rows, tc.per_device_train_batch_size, tc.seed, epoch, template.pad)]
        windows = [batches[w : w + tc.gradient_accumulation_steps]
                   for w in range(0, len(batches), tc.gradient_accumulation_steps)]
        for window in windows:
            n_window = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
            loss_sum = torch.zeros((), device=dev)  # summed on the device: no host sync per micro-batch
            on_dev = [to_device(b, dev, cuda and not a.blocking_copies) for b in window]  # queued now, consumed in order
            for b, d in zip(window, on_dev):
                n_micro = int((b["labels"][:, 1:] != IGNORE_INDEX).sum())
                with amp:
                    out = model(input_ids=d["input_ids"], attention_mask=d["attention_mask"], labels=d["labels"])
                # HF's loss is the micro-batch mean; weigh it by its share of the window's labelled tokens.
                (out.loss * (n_micro / n_window)).backward()
                loss_sum += out.loss.detach() * n_micro
                tokens += int(b["attention_mask"].sum())
            torch.nn.utils.clip_grad_norm_(params, tc.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss_sum / n_window)  # on the device: read at the logging steps only, as HF Trainer
            logged.append(losses[-1])
            if step % tc.logging_steps == 0 or step == 1 or step == total:
                # As our trainer's step event: the mean loss of the steps since the last logged one.
                logged = [float(x) for x in logged]
                emit({"type": "step", "step": step, "loss": round(sum(logged) / len(logged), 4),
                      "gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 2) if cuda else None})
                logged = []
            if step >= total:
                break
        epoch += 1
    losses = [float(x) for x in losses]
    train_s = time.time() - t_train
    model.save_pretrained(tc.output_dir)
    emit({"type": "done", "steps": step, "final_loss": round(losses[-1], 4),
          "train_loss": round(sum(losses) / len(losses), 4), "losses": [round(x, 5) for x in losses],
          "train_s": round(train_s, 2), "tokens": tokens, "tokens_per_s": round(tokens / train_s, 1),
          "peak_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 2) if cuda else None})
    return 0


if __name__ == "__main__":
    sys.exit(main())
