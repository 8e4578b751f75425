"""Export (LlamaBoard's Export tab): merge a LoRA adapter into its base model and write a Hugging Face
model directory -- safetensors shards no larger than `max_shard_size_mb` with
`model.safetensors.index.json`, config.json, generation_config.json (when the base has one) and the
tokenizer files -- that `transformers.AutoModelForCausalLM.from_pretrained` loads as is.

`python -m tuneboard_trainer export --config FILE` (cli.py); the worker writes FILE and gives the
export directory already checked to lie inside the export root. Events: log, progress, result.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .config import ConfigError
from .events import EventSink, Progress, Result

EXPORT_DTYPES = ("auto", "float32", "bfloat16", "float16")
RESULT_FILE = "export_result.json"  # written into the job's output dir, never into the model directory


@dataclass
class ExportConfig:
    model_name_or_path: str
    export_dir: str
    output_dir: str  # the job's own folder (result file)
    adapter_path: Optional[str] = None  # None: re-save the base (re-shard / cast)
    max_shard_size_mb: int = 5120  # MiB; 5 GiB = transformers' default
    export_dtype: str = "auto"  # auto = the dtype config.json names

    @classmethod
    def from_dict(cls, d: dict) -> "ExportConfig":
        if not isinstance(d, dict):
            raise ConfigError("config: expected a JSON object")
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(d) - known)
        if extra:
            raise ConfigError(f"{extra[0]}: unknown field")
        for key in ("model_name_or_path", "export_dir", "output_dir"):
            if not isinstance(d.get(key), str) or not d[key]:
                raise ConfigError(f"{key}: required (a path)")
        if d.get("adapter_path") is not None and not isinstance(d["adapter_path"], str):
            raise ConfigError("adapter_path: must be a path or null")
        size = d.get("max_shard_size_mb", 5120)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError("max_shard_size_mb: must be a whole number ≥ 1")
        if d.get("export_dtype", "auto") not in EXPORT_DTYPES:
            raise ConfigError(f"export_dtype: must be one of {', '.join(EXPORT_DTYPES)}")
        return cls(**d)

    @classmethod
    def from_file(cls, path) -> "ExportConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"config: cannot read {path} ({e})") from None


def export_model(cfg: ExportConfig, sink: Optional[EventSink] = None) -> dict:
    """Merge and save; returns (and writes to output_dir/export_result.json) a manifest of the files."""
    import torch

    from .lora import load_adapter, merge_lora
    from .methods import save_trained
    from .model import load_pretrained

    sink = sink or EventSink()
    t0 = time.time()
    base, out = Path(cfg.model_name_or_path), Path(cfg.export_dir)
    if not (base / "config.json").is_file():
        raise ConfigError(f"model_name_or_path: {base} has no config.json")
    if cfg.adapter_path and not (Path(cfg.adapter_path) / "adapter_config.json").is_file():
        raise ConfigError(f"adapter_path: {cfg.adapter_path} has no adapter_config.json")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"export_dir: {out} exists and is not empty; choose a new folder")

    sink.emit(Progress(task="export", stage="load", current=0, total=3))
    # fp32 on the CPU: the merge W + s·B·A is exact there, and the cast to the export dtype comes last.
    model = load_pretrained(base, dtype=torch.float32, device="cpu")
    if cfg.adapter_path:
        load_adapter(model, cfg.adapter_path)
        sink.emit(Progress(task="export", stage="merge", current=1, total=3))
        merge_lora(model)
    dtype = None if cfg.export_dtype == "auto" else getattr(torch, cfg.export_dtype)
    sink.emit(Progress(task="export", stage="save", current=2, total=3))
    # Written next to the target and renamed at the end: the export folder only ever appears
    # complete, and a job retried after a crash replaces its own leftover `.partial` folder.
    partial = out.parent / f".{out.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    save_trained(model, partial, "full", base, max_shard_bytes=cfg.max_shard_size_mb * 1024**2, dtype=dtype)
    if dtype is not None:  # config.json (copied from the base) must name the dtype actually written
        config = json.loads((partial / "config.json").read_text(encoding="utf-8"))
        for key in ("torch_dtype", "dtype"):
            if key in config or key == "torch_dtype":
                config[key] = cfg.export_dtype
        (partial / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        out.rmdir()  # empty (checked above); rename needs the name free
    partial.rename(out)
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    manifest = {
        "export_dir": str(out.resolve()),
        "files": [{"name": n, "bytes": (out / n).stat().st_size} for n in files],
        "shards": len([n for n in files if n.endswith(".safetensors")]),
        "max_shard_size_mb": cfg.max_shard_size_mb,
        "dtype": str(next(iter(_saved_dtypes(out)), "unknown")),
        "merged_adapter": cfg.adapter_path,
        "runtime_s": round(time.time() - t0, 3),
    }
    result_path = Path(cfg.output_dir) / RESULT_FILE
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    sink.emit(Progress(task="export", stage="save", current=3, total=3))
    sink.log(f"exported {manifest['shards']} weight file(s) to {out} in {manifest['runtime_s']} s")
    sink.emit(Result(task="export", output_dir=str(out.resolve()), result_path=str(result_path.resolve())))
    return manifest


def _saved_dtypes(out: Path) -> set[str]:
    """The dtypes of the tensors written (read from the safetensors headers, not the tensors)."""
    dtypes = set()
    for shard in out.glob("*.safetensors"):
        with open(shard, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        dtypes |= {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    return dtypes
