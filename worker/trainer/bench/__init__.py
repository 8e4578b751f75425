"""Training-throughput benchmarks for tuneboard_trainer.

`python -m bench.train_bench` (from worker/trainer, or with PYTHONPATH=worker/trainer) runs, in one
process on one GPU, LLaMA-Factory's stack (transformers + peft LoRA) and our trainer's model + LoRA on
identical data and weights, and prints tokens/s, step time, peak memory and useful-FLOPs utilisation.
See docs/benchmarks.md (current figures) and lab/ (history, raw results).

    models.py       Llama-3.1-8B's shape (or a tiny one for --quick), seeded random weights on the device,
                    the baseline (LlamaForCausalLM + peft) and ours (Transformer + prepare_model)
    workloads.py    the `fixed` and `variable` workloads as tuneboard_trainer.data Examples / batches
    train_bench.py  the harness: timing, memory, FLOPs, profiler summary, JSON records
    gpu_busy.py     the baseline's GPU-busy time (profiler kernel intervals) and the SM clock sampled under load
    seed_run.py     workload 3 end to end: ours, seed_baseline.py (hand-written loop) and seed_hf_trainer.py
                    (transformers' Trainer), each a plain process writing to a file
    benchmarks_doc.py  the training table of docs/benchmarks.md, generated from docs/benchmarks.json
lab/gpu-all.sh runs every GPU figure in one call under a time budget (`--dry-run`: tiny shapes on the CPU).
"""
