"""Workload 3's second baseline: the seed run through transformers' own `Trainer`, as LLaMA-Factory runs it.

Written apart from bench.seed_baseline (the hand-written loop), so that a slowdown of one loop shows up as
a gap between the two: `AutoModelForCausalLM.from_pretrained` (sdpa, bf16 on the GPU) + peft LoRA on all 7
projections with fp32 adapters (LLaMA-Factory upcasts the trainable parameters), `Trainer` with its
DataLoader (pinned memory), gradient checkpointing (use_reentrant=False), `adamw_torch_fused`, bf16 mixed
precision, cosine schedule with the same warm-up steps, clip 1.0, one save of the adapter at the end. Batches
are padded to a multiple of 8 with labels -100, as LLaMA-Factory's SFT collator does. The samples are
tokenised by our template (the same token ids as the other sides); their order is the Trainer's own sampler.

    python -m bench.seed_hf_trainer --config run.json    # the TrainConfig JSON of bench.seed_run
Prints JSON lines with the wall-clock "time" of each: {"type": "loaded"}, {"type": "step"}, {"type": "done"}.
Start it from the shell (not as a child reading its pipe) and note the start time: process start -> "done".
"""

import time

T0 = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402


def emit(d):
    now = time.time()
    print(json.dumps({**d, "t": round(now - T0, 3), "time": now}), flush=True)


def collate_fn(pad_id: int, ignore: int, multiple: int = 8):
    import torch

    def collate(rows):
        n = max(len(r["input_ids"]) for r in rows)
        n += (-n) % multiple
        ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), n), ignore, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            k = len(r["input_ids"])
            ids[i, :k] = torch.tensor(r["input_ids"])
            labels[i, :k] = torch.tensor(r["labels"])
            mask[i, :k] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    a = p.parse_args(argv)
    cfg = json.loads(open(a.config).read())

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from tuneboard_trainer.config import TrainConfig
    from tuneboard_trainer.data import load_examples
    from tuneboard_trainer.lora import ALL_TARGETS
    from tuneboard_trainer.optim import warmup_steps
    from tuneboard_trainer.templates import IGNORE_INDEX, load_template

    tc = TrainConfig.from_dict(cfg)
    cuda = tc.device != "cpu"
    template = load_template(tc.template, tc.model_name_or_path)
    examples, _ = load_examples(tc.dataset_dir, tc.dataset, template, tc.cutoff_len, tc.max_samples)
    rows = [{"input_ids": list(e.input_ids), "labels": list(e.labels)} for e in examples]
    emit({"type": "data", "samples": len(rows)})

    t = time.time()
    model = AutoModelForCausalLM.from_pretrained(tc.model_name_or_path, dtype=torch.bfloat16 if cuda else torch.float32,
                                                 attn_implementation="sdpa", device_map={"": 0 if cuda else "cpu"})
    if cuda:
        torch.cuda.synchronize()
    emit({"type": "loaded", "load_s": round(time.time() - t, 2)})
    model.config.use_cache = False
    model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=tc.lora_rank, lora_alpha=tc.lora_alpha, lora_dropout=tc.lora_dropout,
                                             target_modules=list(ALL_TARGETS), task_type="CAUSAL_LM"))
    for q in model.parameters():
        if q.requires_grad:
            q.data = q.data.float()

    per_epoch = math.ceil(math.ceil(len(rows) / tc.per_device_train_batch_size) / tc.gradient_accumulation_steps)
    total = tc.max_steps or math.ceil(tc.num_train_epochs * per_epoch)
    args = TrainingArguments(
        output_dir=tc.output_dir, per_device_train_batch_size=tc.per_device_train_batch_size,
        gradient_accumulation_steps=tc.gradient_accumulation_steps, learning_rate=tc.learning_rate,
        max_steps=total, lr_scheduler_type=tc.lr_scheduler_type, warmup_steps=warmup_steps(tc, total),
        weight_decay=tc.weight_decay, max_grad_norm=tc.max_grad_norm, bf16=cuda, use_cpu=not cuda,
        gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False},
        optim="adamw_torch_fused" if cuda else "adamw_torch", logging_steps=tc.logging_steps, save_strategy="no",
        report_to="none", seed=tc.seed, remove_unused_columns=False, disable_tqdm=True, dataloader_pin_memory=cuda,
    )
    losses = []

    class Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                emit({"type": "step", "step": state.global_step, "loss": round(float(logs["loss"]), 4),
                      "gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 2) if cuda else None})

    trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=[Log()],
                      data_collator=collate_fn(template.pad, IGNORE_INDEX))
    t_train = time.time()
    out = trainer.train()
    train_s = time.time() - t_train
    model.save_pretrained(tc.output_dir)
    emit({"type": "done", "steps": out.global_step, "final_loss": losses[-1] if losses else None,
          "train_loss": round(out.training_loss, 4), "train_s": round(train_s, 2),
          "peak_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 2) if cuda else None})
    return 0


if __name__ == "__main__":
    sys.exit(main())
