"""A training run reads its weights in a thread while it tokenizes its data (hf_weights.LoadingWeights): the run
is the same run bit for bit, a failed setup stops the read, and the log says where the time went."""

import io
import json
import threading

import pytest
import torch

from tuneboard_trainer.config import TrainConfig
from tuneboard_trainer.data import DataError
from tuneboard_trainer.events import EventSink, parse_event
from tuneboard_trainer.hf_weights import LoadingWeights, load_pretrained
from tuneboard_trainer.safetensors_io import ReadCancelled, read_weights
from tuneboard_trainer.setup_log import process_start_time
from tuneboard_trainer.train import train


def _cfg(tmp_path, model_dir, dataset_dir, name):
    return TrainConfig.from_dict({
        "model_name_or_path": str(model_dir), "dataset_dir": str(dataset_dir), "dataset": ["identity"],
        "output_dir": str(tmp_path / name), "learning_rate": 3e-2, "max_steps": 3,
        "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "logging_steps": 1,
        "save_steps": 0, "lora_rank": 4, "lora_alpha": 8, "seed": 7})


def _run(cfg, overlap):
    buf = io.StringIO()
    result = train(cfg, EventSink(buf), overlap_loading=overlap)
    return result, [parse_event(line) for line in buf.getvalue().splitlines()]


def test_overlapped_loading_trains_the_same_run(tmp_path, tiny_model_dir, dataset_dir):
    a, events = _run(_cfg(tmp_path, tiny_model_dir, dataset_dir, "overlap"), True)
    b, plain_events = _run(_cfg(tmp_path, tiny_model_dir, dataset_dir, "plain"), False)
    assert a["losses"] == b["losses"]
    adapter = "adapter_model.safetensors"
    assert (tmp_path / "overlap" / adapter).read_bytes() == (tmp_path / "plain" / adapter).read_bytes()
    logs = [e.message for e in events if e.type == "log"]
    setup = next(m for m in logs if m.startswith("setup took"))
    assert "weights read in the background" in setup and "waiting for weights" in setup
    assert "weights read in the background" not in next(m for m in (e.message for e in plain_events
                                                                      if e.type == "log") if m.startswith("setup took"))
    timing = next(m for m in logs if m.startswith("timing: "))
    for part in ("start-up and imports", "setup", "first step", "other steps", "final save"):
        assert part in timing, timing
    assert [e.type for e in events].index("done") > [e.message if e.type == "log" else "" for e in events].index(timing)


def test_a_data_error_cancels_the_read(tmp_path, tiny_model_dir, dataset_dir, monkeypatch):
    import tuneboard_trainer.train as train_mod

    started, cancelled = [], []
    real = train_mod.LoadingWeights

    class Watched(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            started.append(self)

        def cancel(self):
            cancelled.append(self)
            super().cancel()

    monkeypatch.setattr(train_mod, "LoadingWeights", Watched)
    (dataset_dir / "dataset_info.json").write_text(json.dumps(
        {"identity": {"file_name": "identity.json", "columns": {"prompt": "question", "response": "output"}}}))
    with pytest.raises(DataError, match="columns.prompt names column 'question'"):
        _run(_cfg(tmp_path, tiny_model_dir, dataset_dir, "bad"), True)
    assert started and cancelled == started
    assert not started[0]._thread.is_alive()


def test_loading_weights_hands_over_the_model_or_the_error(tmp_path, tiny_model_dir):
    loading = LoadingWeights(tiny_model_dir, torch.float32, "cpu")
    model = loading.result()
    reference = load_pretrained(tiny_model_dir, dtype=torch.float32, device="cpu")
    for (n, p), (m, q) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert n == m and torch.equal(p, q), n
    assert loading.read_s is not None and loading.read_s >= 0
    missing = LoadingWeights(tmp_path / "nothing here", torch.float32, "cpu")
    with pytest.raises(FileNotFoundError, match="config.json not found"):
        missing.result()


@pytest.mark.parametrize("method", ["staged", "safe_open"])
def test_a_cancelled_read_stops(tiny_model_dir, method):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ReadCancelled):
        read_weights(tiny_model_dir, torch.device("cpu"), None, inference=False, method=method, cancel=cancel)
    with pytest.raises(ReadCancelled):
        load_pretrained(tiny_model_dir, dtype=torch.float32, device="cpu", cancel=cancel)


def test_process_start_time_is_before_now():
    import time

    t = process_start_time()
    assert t is None or 0 < time.time() - t < 24 * 3600


def test_cuda_start_names_the_device_and_never_imports_torch():
    import subprocess
    import sys

    from conftest import TRAINER_DIR
    from tuneboard_trainer.cuda_start import cuda_device_index, start_cuda_context

    assert [cuda_device_index(d) for d in ("auto", "cuda", "cuda:3", "cpu", "cuda:x")] == [0, 0, 3, None, None]
    assert start_cuda_context("cpu") is None
    code = ("import sys\n"
            "from tuneboard_trainer.cuda_start import start_cuda_context\n"
            "t = start_cuda_context('cuda')\n"
            "t.join()\n"
            "print('torch' in sys.modules, t.result['ok'] in (True, False))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=TRAINER_DIR, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"], out.stderr[-2000:]


def test_the_staged_readers_statistics_make_a_log_line(tiny_model_dir):
    from tuneboard_trainer.setup_log import reader_message

    stats = {}
    read_weights(tiny_model_dir, torch.device("cpu"), None, inference=False, method="staged", stats=stats)
    msg = reader_message(stats)
    assert msg.startswith("weights read through pinned buffers: per-thread sums alloc ") and "chunks" in msg
    assert reader_message({}) is None


def test_the_seed_benchmark_reads_our_phases_from_the_log():
    from bench.seed_run import SIDE_MODULES, our_phases

    assert SIDE_MODULES["ours_sequential"][-1] == "--sequential-loading"
    events = [{"type": "log", "message": "setup took 7.1s (data 0.4s, weights read in the background 5.7s, "
                                         "waiting for weights 5.3s, optimizer 0.2s); 60 steps, 6 per epoch"},
              {"type": "log", "message": "timing: start-up and imports 3.2s, setup 7.1s, first step 1.1s, "
                                         "other steps 4.0s, final save 0.4s"}]
    assert our_phases(events) == {
        "setup": {"data": 0.4, "weights read in the background": 5.7, "waiting for weights": 5.3, "optimizer": 0.2},
        "run": {"start-up and imports": 3.2, "setup": 7.1, "first step": 1.1, "other steps": 4.0, "final save": 0.4}}
