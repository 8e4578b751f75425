"""Hugging Face checkpoint directories (config.json + safetensors): load into a Transformer, save one."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Optional

import torch

from .meta_device import meta_device
from .model import ModelConfig, Transformer, build_model


def _read_safetensors(path: Path, device="cpu", dtype: Optional[torch.dtype] = None,
                      weight_reader: str = "auto", cancel: Optional[threading.Event] = None,
                      stats: Optional[dict] = None) -> dict[str, torch.Tensor]:
    from concurrent.futures import ThreadPoolExecutor

    from safetensors.torch import load_file

    dev = str(device)
    if torch.device(device).type == "cuda":
        # Each tensor straight from the page cache to the GPU, spread over threads (safetensors_io.py).
        from .safetensors_io import read_weights

        return read_weights(path, torch.device(device), dtype, inference=False, method=weight_reader, cancel=cancel,
                            stats=stats)
    if (path / "model.safetensors").exists():
        return load_file(str(path / "model.safetensors"), device=dev)
    index = path / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
        sd: dict[str, torch.Tensor] = {}
        with ThreadPoolExecutor(max_workers=min(8, len(shards)) if dev != "cpu" else 1) as pool:
            for part in pool.map(lambda s: load_file(str(path / s), device=dev), shards):
                sd.update(part)
        return sd
    raise FileNotFoundError(f"{path}: no model.safetensors or model.safetensors.index.json")


def load_config(path) -> ModelConfig:
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"{path}: config.json not found")
    return ModelConfig.from_hf(json.loads(cfg_file.read_text()))


def load_pretrained(path, dtype: torch.dtype = torch.float32, device="cpu", weight_reader: str = "auto",
                    cancel: Optional[threading.Event] = None, stats: Optional[dict] = None) -> Transformer:
    """Load an HF-layout checkpoint directory (config.json + safetensors). weight_reader: how CUDA loads read
    the files (safetensors_io.read_weights' method); cancel: see LoadingWeights; stats: the staged reader's
    per-phase seconds (safetensors_io._read_staged), when it reads."""
    from .safetensors_io import ReadCancelled

    path = Path(path)
    cfg = load_config(path)
    with meta_device():  # no memory and no initialisers for weights that the checkpoint overwrites
        model = build_model(cfg)
    sd = _read_safetensors(path, device if torch.device(device).type == "cuda" else "cpu", dtype, weight_reader,
                           cancel, stats)
    if cancel is not None and cancel.is_set():
        raise ReadCancelled("weight read cancelled")
    expected = set(model.state_dict().keys())
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
        expected.discard("lm_head.weight")
    # Buffers some exporters write (e.g. rotary inv_freq) are recomputed here.
    sd = {k: v for k, v in sd.items() if not k.endswith("rotary_emb.inv_freq")}
    missing, unexpected = expected - set(sd), set(sd) - expected
    if missing or unexpected:
        raise ValueError(
            f"{path}: checkpoint does not match config "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    sd = {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in sd.items()}
    model.load_state_dict(sd, strict=False, assign=True)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.init_rope(device)
    return model.eval()


class LoadingWeights:
    """`load_pretrained` in a background thread, started before a training run tokenizes its data.

    The read is file reads and device copies (they release the GIL) and, on CUDA, the context's start-up; the
    main thread meanwhile loads the tokenizer and tokenizes. The model is the same object `load_pretrained`
    returns (nothing else runs in the thread), so the run trains identically. `result()` waits for it and
    raises what the thread raised; `cancel()` stops the read before its next tensor (a setup that fails on
    its data does not wait for gigabytes it will never use).

    Timings for the setup log: `cuda_init_s` (CUDA's start-up, first in the thread), `read_s` (the rest),
    `stats` (the staged reader's per-phase seconds summed over its threads, and the bytes read).
    While the read runs, the interpreter switches threads every SWITCH_INTERVAL_S (restored after): the
    reader's threads take the GIL back after every file read and device copy, and at the default 5 ms a
    Python-bound thread (the tokenizer, an import) would make each of them wait that long each time.
    """

    SWITCH_INTERVAL_S = 0.0005

    def __init__(self, path, dtype: torch.dtype, device, weight_reader: str = "auto"):
        self._cancel = threading.Event()
        self._model: Optional[Transformer] = None
        self._error: Optional[BaseException] = None
        self.read_s: Optional[float] = None
        self.cuda_init_s: Optional[float] = None
        self.stats: dict = {}
        self._thread = threading.Thread(target=self._load, args=(path, dtype, device, weight_reader),
                                        name="weights-reader", daemon=True)
        self._thread.start()

    def _load(self, path, dtype, device, weight_reader) -> None:
        import sys

        previous = sys.getswitchinterval()
        sys.setswitchinterval(min(previous, self.SWITCH_INTERVAL_S))
        try:
            device = torch.device(device)
            if device.type == "cuda":
                t0 = time.perf_counter()
                torch.cuda.init()
                self.cuda_init_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            try:
                self._model = load_pretrained(path, dtype=dtype, device=device, weight_reader=weight_reader,
                                              cancel=self._cancel, stats=self.stats)
            finally:
                self.read_s = time.perf_counter() - t0
        except BaseException as e:  # noqa: BLE001 -- handed to the main thread by result()
            self._error = e
        finally:
            sys.setswitchinterval(previous)

    def result(self) -> Transformer:
        self._thread.join()
        if self._error is not None:
            raise self._error
        model, self._model = self._model, None
        return model

    def phases(self) -> dict:
        """The thread's seconds for the setup log (train.py's phases)."""
        out = {} if self.cuda_init_s is None else {"CUDA start-up in the background": self.cuda_init_s}
        return {**out, "weights read in the background": self.read_s}

    def cancel(self) -> None:
        self._cancel.set()
        self._thread.join()
        self._model = None


@contextlib.contextmanager
def cancel_on_error(loading: Optional[LoadingWeights]):
    """`with cancel_on_error(loading):` what runs while `loading` reads; an exception cancels the read first."""
    try:
        yield
    except BaseException:
        if loading is not None:
            loading.cancel()
        raise


def save_hf_model(model: Transformer, out_dir, max_shard_bytes: int = 5 * 1024**3) -> list[str]:
    """Write the model's weights in Hugging Face layout: `model.safetensors`, or, above
    `max_shard_bytes`, `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`.

    Names are HF's (`model.layers.0.self_attn.q_proj.weight`); a tied `lm_head.weight` is left out
    as transformers does. Tensors keep their dtype. LoRA layers must be merged first (`merge_lora`).
    Does not write config.json. Returns the weight file names.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    bad = [k for k in sd if ".lora_" in k]
    if bad:
        raise ValueError(f"unmerged LoRA weights (e.g. {bad[0]}); call merge_lora first")
    if model.config.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in sd.items():
        nbytes = v.numel() * v.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = v.detach().cpu().contiguous()
        size += nbytes
    for old in list(out.glob("model*.safetensors")) + [out / "model.safetensors.index.json"]:
        old.unlink(missing_ok=True)  # stale shards from an earlier save would confuse loaders
    if len(shards) == 1:
        names = ["model.safetensors"]
    else:
        names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
        index = {
            "metadata": {"total_size": sum(v.numel() * v.element_size() for v in sd.values())},
            "weight_map": {k: name for name, shard in zip(names, shards) for k in shard},
        }
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    for name, shard in zip(names, shards):
        save_file(shard, str(out / name), metadata={"format": "pt"})
    return names
