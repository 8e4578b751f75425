"""The training benchmark's host-independent figures, on the CPU: GPU-busy time (here: top-level CPU operator
time) from the profiler, the clock sampled during the measured window, and records that take the best of the
baseline's runs and carry both ratios with the host and clock."""

import threading
import time

import torch

from bench.gpu_busy import ClockSampler, _union_us, busy_time
from bench.train_bench import summarize


def test_union_counts_overlapping_intervals_once():
    assert _union_us([(0, 10), (5, 15), (20, 30), (21, 22)]) == 25
    assert _union_us([]) == 0


def test_busy_time_measures_the_operators_not_the_idle_host():
    a = torch.randn(256, 256)

    def steps():
        for _ in range(3):
            a @ a
            time.sleep(0.2)  # host time with nothing running: not busy

    b = busy_time(steps, torch.device("cpu"))
    assert b["kernels"] >= 3
    assert 0 < b["busy_s"] <= b["kernel_sum_s"] + 1e-9
    assert b["busy_s"] < b["wall_s"] - 0.5  # the sleeps are in the wall time only


def test_clock_is_sampled_during_the_window_only():
    calls = []
    in_window = threading.Event()

    def reader():
        calls.append(in_window.is_set())
        return 1980 if in_window.is_set() else 345

    with ClockSampler(period_s=0.01, reader=reader) as c:
        in_window.set()
        time.sleep(0.1)
    n = len(c.samples)
    time.sleep(0.05)
    assert len(c.samples) == n  # stopped with the window
    s = c.summary()
    assert s["gpu_clock_max_mhz"] == 1980 and s["gpu_clock_mhz"] == 1980 and s["gpu_clock_samples"] == n
    assert ClockSampler(reader=lambda: None).summary() == {}
    with ClockSampler(reader=lambda: None) as none:
        pass
    assert none.summary() == {}


def test_records_take_the_best_baseline_and_both_ratios():
    def run(side, tps, variant=None, **kw):
        return {"workload": "fixed", "side": side, "variant": variant, "tokens_per_s": tps, "peak_gib": 10.0,
                "useful_util": 0.5, **kw}

    runs = [run("baseline", 4000.0, gpu_clock_mhz=1900), run("baseline", 6000.0, gpu_clock_mhz=1980),
            {"workload": "fixed", "side": "baseline", "error": "OOM"},
            run("ours", 15000.0, "ck0", gpu_clock_mhz=1970)]
    meta = {"card": "X", "host_cpu": "Some CPU"}
    busy = {"fixed": {"busy_s": 1.0, "gpu_busy_tokens_per_s": 7500.0}}
    (rec,) = summarize(runs, {}, ["fixed"], 1024, meta, busy)
    assert rec["baseline"] == 6000.0 and rec["ratio"] == 2.5
    assert rec["baseline_best_of"] == 2 and rec["baseline_runs_tokens_per_s"] == [4000.0, 6000.0, None]
    assert rec["baseline_gpu_busy_s"] == 1.0 and rec["ratio_gpu_busy"] == 2.0
    assert rec["host_cpu"] == "Some CPU" and rec["gpu_clock_mhz"] == 1970 and rec["baseline_gpu_clock_mhz"] == 1980


def test_the_training_table_of_docs_is_generated_from_the_json():
    from bench.benchmarks_doc import main, row

    assert main(["--check"]) == 0, "docs/benchmarks.md is out of date: python -m bench.benchmarks_doc"
    line = row({"name": "train.fixed_2x1024", "unit": "tokens/s", "ours": 15000.0, "baseline": 6000.0, "ratio": 2.5,
                "baseline_best_of": 3, "baseline_gpu_busy_tokens_per_s": 7500.0, "ratio_gpu_busy": 2.0,
                "host_cpu": "Some CPU", "gpu_clock_mhz": 1980, "card": "H200", "date": "2026-12-04"},
               "w1", "t")
    assert "6,000.0 tok/s (best of 3)" in line and "7,500.0 tok/s" in line and "**2.5x** / 2x" in line
    assert "Some CPU; 1,980 MHz" in line
