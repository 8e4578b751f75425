"""Export (LlamaBoard's Export tab): merge a LoRA adapter into its base model and write a Hugging Face
model directory -- safetensors shards no larger than `max_shard_size_mb` with
`model.safetensors.index.json`, config.json, generation_config.json (when the base has one) and the
tokenizer files -- that `transformers.AutoModelForCausalLM.from_pretrained` loads as is.

`python -m tuneboard_trainer export --config FILE` (cli.py); the worker writes FILE and gives the
export directory already checked to lie inside the export root. Events: log, progress, result.

The merge streams: the base checkpoint is read tensor by tensor (safetensors `safe_open`, memory-mapped),
each LoRA-targeted weight becomes W + s B A (DoRA: lora.py's `merged_weight`, the same function
`merge_lora` uses) in fp32 for that tensor only -- on the GPU when there is one --, is cast to the
export dtype, and goes into the output shard being filled; a full shard is written and dropped.
Peak memory is about one output shard plus one tensor in fp32, whatever the model's size (the old
in-memory merge held the whole model in fp32: ~32 GB for an 8B model).
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .config import ConfigError
from .validation import validate
from .events import EventSink, Progress, Result

RESULT_FILE = "export_result.json"  # written into the job's output dir, never into the model directory


@dataclass
class ExportConfig:
    model_name_or_path: str
    export_dir: str
    output_dir: str  # the job's own folder (result file)
    adapter_path: Optional[str] = None  # None: re-save the base (re-shard / cast)
    max_shard_size_mb: int = 5120  # MiB; 5 GiB = transformers' default
    export_dtype: str = "auto"  # auto = the dtype config.json names
    device: str = "auto"  # per-tensor merge on: auto (cuda when available) | cpu | cuda
    format: str = "hf"  # hf: safetensors folder | gguf: one .gguf + Modelfile (gguf/export.py)
    gguf_type: str = "q8_0"  # gguf only: f16 | bf16 | q8_0 | q4_k_m
    card: Optional[dict] = None  # model card facts (model_card.CARD_FIELDS); None: no README written

    @classmethod
    def from_dict(cls, d: dict) -> "ExportConfig":
        """Validated against the task's contract (lib/schemas/export-config.ts: exportTaskFileSchema)."""
        return cls(**validate("export_task", d))

    @classmethod
    def from_file(cls, path) -> "ExportConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"config: cannot read {path} ({e})") from None


def export_model(cfg: ExportConfig, sink: Optional[EventSink] = None) -> dict:
    """Merge and save; returns (and writes to output_dir/export_result.json) a manifest of the files."""
    import torch

    from .base_quantization import is_projection_weight, merge_warning, read_base_quantization, requantized
    from .methods import _config_dtype, copy_tokenizer_files

    if cfg.format == "gguf":
        from .gguf.export import export_gguf

        return export_gguf(cfg, sink)
    sink = sink or EventSink()
    t0 = time.time()
    base, out = Path(cfg.model_name_or_path), Path(cfg.export_dir)
    if not (base / "config.json").is_file():
        raise ConfigError(f"model_name_or_path: {base} has no config.json")
    if cfg.adapter_path and not (Path(cfg.adapter_path) / "adapter_config.json").is_file():
        raise ConfigError(f"adapter_path: {cfg.adapter_path} has no adapter_config.json")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"export_dir: {out} exists and is not empty; choose a new folder")
    device = _merge_device(cfg.device)
    try:
        base_method = read_base_quantization(cfg.adapter_path) if cfg.adapter_path else None
    except ValueError as e:
        raise ConfigError(f"adapter_path: {e}") from None
    if base_method is not None:
        sink.log(merge_warning(base_method), "warning")

    sink.emit(Progress(task="export", stage="load", current=0, total=1))
    base_config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    # auto: the dtype config.json names; without one, fp32 (what the in-memory merge always wrote).
    dtype = getattr(torch, cfg.export_dtype) if cfg.export_dtype != "auto" else (_config_dtype(base_config) or torch.float32)
    stage = "merge" if cfg.adapter_path else "save"
    with ExitStack() as stack:
        # Both checked (names, shapes, adapter keys) before anything is written.
        source = _SourceCheckpoint(base, stack)
        adapter = _StreamedAdapter(source.skeleton, Path(cfg.adapter_path), stack) if cfg.adapter_path else None
        names = source.names
        plan = plan_shards([(n, source.numel(n) * _out_itemsize(source.dtype(n), dtype)) for n in names],
                           cfg.max_shard_size_mb * 1024**2)
        # Written next to the target and renamed at the end: the export folder only ever appears
        # complete, and a job retried after a crash replaces its own leftover `.partial` folder.
        partial = out.parent / f".{out.name}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)

        def wrote(name: str, index: int, count: int, nbytes: int) -> None:
            sink.log(f"wrote {name} ({index} of {count}, {nbytes / 1024**2:.1f} MiB)")

        writer = ShardWriter(partial, plan, on_shard=wrote)
        sink.emit(Progress(task="export", stage=stage, current=0, total=len(names)))
        for i, name in enumerate(names, 1):
            tensor = source.get(name)
            if base_method is not None and is_projection_weight(name):
                tensor = requantized(tensor, base_method)  # the base the adapter was trained against
            if adapter is not None and name in adapter.layers:
                try:
                    tensor = adapter.merge(name, tensor, device, dtype)
                except torch.OutOfMemoryError:
                    # A GPU shared with a chat model or another process: the CPU merges the same way.
                    torch.cuda.empty_cache()
                    sink.log(f"GPU out of memory merging {name}; merging on the CPU from here", "warning")
                    device = torch.device("cpu")
                    tensor = adapter.merge(name, tensor, device, dtype)
            writer.add(name, _cast(tensor, dtype))
            del tensor
            sink.emit(Progress(task="export", stage=stage, current=i, total=len(names)))
        writer.finish()
    if adapter is not None:
        sink.emit(Progress(task="export", stage="save", current=0, total=1))
    shutil.copyfile(base / "config.json", partial / "config.json")
    if (base / "generation_config.json").is_file():
        shutil.copyfile(base / "generation_config.json", partial / "generation_config.json")
    copy_tokenizer_files(base, partial)
    if cfg.export_dtype != "auto":  # config.json (copied from the base) must name the dtype actually written
        config = json.loads((partial / "config.json").read_text(encoding="utf-8"))
        for key in ("torch_dtype", "dtype"):
            if key in config or key == "torch_dtype":
                config[key] = cfg.export_dtype
        (partial / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if cfg.card is not None:
        from .model_card import write_model_card

        write_model_card(partial, cfg.card, base, notes=[merge_warning(base_method)] if base_method else [])
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
        "base_quantization": base_method,
        "runtime_s": round(time.time() - t0, 3),
    }
    result_path = Path(cfg.output_dir) / RESULT_FILE
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    done_stage, done_total = ("save", 1) if adapter is not None else (stage, len(names))
    sink.emit(Progress(task="export", stage=done_stage, current=done_total, total=done_total))
    sink.log(f"exported {manifest['shards']} weight file(s) to {out} in {manifest['runtime_s']} s")
    sink.emit(Result(task="export", output_dir=str(out.resolve()), result_path=str(result_path.resolve())))
    return manifest


def _merge_device(choice: str):
    import torch

    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("device: cuda was chosen but no CUDA GPU is available")
    # Full fp32 matmuls: TF32 would round B @ A to 10 mantissa bits.
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device("cuda")


def _cast(t, dtype):
    """Floating tensors to the export dtype (through fp32, as the in-memory merge did); others as they are."""
    import torch

    if not t.is_floating_point() or t.dtype == dtype:
        return t
    if t.dtype != torch.float32 and dtype != torch.float32:
        t = t.float()
    return t.to(dtype)


_ST_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
                "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def _out_itemsize(st_dtype: str, export_dtype) -> int:
    """Bytes per element once written: floating tensors take the export dtype, others keep theirs."""
    if st_dtype.startswith(("F", "BF")):
        return export_dtype.itemsize
    return _ST_ITEMSIZE[st_dtype]


class _SourceCheckpoint:
    """The base checkpoint, memory-mapped shard by shard: names in the order the model (and so the
    in-memory export) writes them, dtype/shape from the headers, one tensor read at a time."""

    def __init__(self, base: Path, stack: ExitStack):
        import torch
        from safetensors import safe_open

        from .model import build_model
        from .hf_weights import load_config
        from .safetensors_io import weight_files

        cfg = load_config(base)  # UnsupportedModelError for architectures we cannot run either
        with torch.device("meta"):  # names and shapes only, no memory
            self.skeleton = build_model(cfg)
        handles = {f: stack.enter_context(safe_open(str(f), framework="pt", device="cpu")) for f in weight_files(base)}
        self._where = {k: h for h in handles.values() for k in h.keys()}
        # The same checks as load_pretrained: a tied lm_head is not written, exporters' rotary buffers are
        # recomputed, and anything else missing or extra means the checkpoint does not fit its config.
        expected = list(self.skeleton.state_dict().keys())
        have = {k for k in self._where if not k.endswith("rotary_emb.inv_freq")}
        if cfg.tie_word_embeddings:
            expected.remove("lm_head.weight")
            have.discard("lm_head.weight")
        missing, unexpected = set(expected) - have, have - set(expected)
        if missing or unexpected:
            raise ValueError(f"{base}: checkpoint does not match config "
                             f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
        self.names = expected

    def dtype(self, name: str) -> str:
        return self._where[name].get_slice(name).get_dtype()

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._where[name].get_slice(name).get_shape())

    def numel(self, name: str) -> int:
        n = 1
        for d in self._where[name].get_slice(name).get_shape():
            n *= d
        return n

    def get(self, name: str):
        return self._where[name].get_tensor(name)


class _StreamedAdapter:
    """A LoRA adapter read lazily: which base weights it changes, with each layer's scaling / DoRA flag
    taken from LoRALinear layers built on a meta-device copy of the model (lora.py's own targeting)."""

    def __init__(self, skeleton, adapter_dir: Path, stack: ExitStack):
        from safetensors import safe_open

        from .lora import LoRALinear, adapter_key_names, attach_adapter, check_adapter_keys, read_adapter_config

        import torch

        with torch.device("meta"):
            attach_adapter(skeleton, read_adapter_config(adapter_dir), adapter_dir)
        self._file = stack.enter_context(
            safe_open(str(adapter_dir / "adapter_model.safetensors"), framework="pt", device="cpu"))
        self._stored = adapter_key_names(self._file.keys())
        check_adapter_keys(skeleton, self._stored, adapter_dir)
        self.layers = {f"{path}.weight": m for path, m in skeleton.named_modules() if isinstance(m, LoRALinear)}

    def _get(self, key: str, device):
        return self._file.get_tensor(self._stored[key]).to(device)

    def merge(self, weight_name: str, weight, device, dtype):
        """W' for one base weight: merged in fp32 on `device`, cast to the export dtype there, back on the CPU."""
        from .lora import merged_weight

        layer, path = self.layers[weight_name], weight_name[: -len(".weight")]
        magnitude = self._get(f"{path}.lora_magnitude_vector", device) if layer.use_dora else None
        w = merged_weight(weight.to(device), self._get(f"{path}.lora_A.weight", device),
                          self._get(f"{path}.lora_B.weight", device), layer.scaling, magnitude)
        return _cast(w, dtype).cpu()


def plan_shards(sizes: list[tuple[str, int]], max_shard_bytes: int) -> list[list[str]]:
    """Names per output shard, in order: a shard takes tensors until the next would pass the limit
    (a single larger tensor gets a shard of its own) -- save_hf_model's rule, so the layout is the same."""
    shards: list[list[str]] = [[]]
    size = 0
    for name, nbytes in sizes:
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    return shards


def shard_file_names(n: int) -> list[str]:
    return ["model.safetensors"] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]


class ShardWriter:
    """Writes the planned shards as they fill: holds at most one shard's tensors, writes the shard the
    moment its last tensor arrives, then drops them. `finish()` writes model.safetensors.index.json
    (transformers' layout: metadata.total_size and weight_map) when there is more than one shard."""

    def __init__(self, out: Path, plan: list[list[str]], on_shard: Optional[Callable[[str, int, int, int], None]] = None):
        self.out, self.plan, self.files = Path(out), plan, shard_file_names(len(plan))
        self.on_shard = on_shard
        self.buffer: dict = {}  # the current shard's tensors, nothing else
        self._shard = 0
        self._total = 0

    @property
    def held_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.buffer.values())

    def add(self, name: str, tensor) -> None:
        from safetensors.torch import save_file

        want = self.plan[self._shard][len(self.buffer)] if self._shard < len(self.plan) else None
        if name != want:
            raise RuntimeError(f"export: got tensor {name!r}, expected {want!r}")
        self.buffer[name] = tensor.detach().cpu().contiguous()
        if len(self.buffer) == len(self.plan[self._shard]):
            nbytes = self.held_bytes
            file = self.files[self._shard]
            save_file(self.buffer, str(self.out / file), metadata={"format": "pt"})
            self._total += nbytes
            self.buffer = {}
            self._shard += 1
            if self.on_shard:
                self.on_shard(file, self._shard, len(self.plan), nbytes)

    def finish(self) -> None:
        if self._shard != len(self.plan) or self.buffer:
            raise RuntimeError("export: not every planned tensor was written")
        if len(self.plan) > 1:
            index = {"metadata": {"total_size": self._total},
                     "weight_map": {k: f for f, names in zip(self.files, self.plan) for k in names}}
            (self.out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def _saved_dtypes(out: Path) -> set[str]:
    """The dtypes of the tensors written (read from the safetensors headers, not the tensors)."""
    dtypes = set()
    for shard in out.glob("*.safetensors"):
        with open(shard, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        dtypes |= {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    return dtypes
