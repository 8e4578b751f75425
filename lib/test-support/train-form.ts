// The Train form's payload as the browser posts it (every value a string), for tests that queue a
// LoRA run through createRun. Each test overrides what it is about.
export function trainForm(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_name_or_path: "tiny",
    template: "llama3",
    finetuning_type: "lora",
    dataset: ["identity"],
    learning_rate: "2e-4",
    num_train_epochs: "2",
    max_samples: "1000",
    cutoff_len: "512",
    per_device_train_batch_size: "2",
    gradient_accumulation_steps: "1",
    lr_scheduler_type: "cosine",
    warmup_steps: "0",
    max_grad_norm: "1.0",
    logging_steps: "1",
    save_steps: "0",
    lora_rank: "8",
    lora_alpha: "16",
    lora_dropout: "0",
    lora_target: "all",
    seed: "42",
    ...overrides,
  };
}
