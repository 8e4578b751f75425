"""GGUF export: a base model (+ LoRA adapter, merged tensor by tensor) to one .gguf file for
llama.cpp, with an Ollama Modelfile and a README model card beside it.

Streams like the Hugging Face export (export.py): the checkpoint is memory-mapped, each tensor is
merged in fp32, permuted and encoded in row chunks (on every core for the K-quants: parallel.py) and
written straight into the file, so peak memory is about one tensor (plus a few chunks in flight)
whatever the model's size.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..config import ConfigError
from ..events import EventSink, Progress, Result
from ..model_card import base_license, write_model_card
from .arch import FILE_TYPE, gguf_arch, hparams, needs_permute, permute_qk, rope_freqs, tensor_name, tensor_type
from .chat_templates import jinja_template
from .modelfile import render_modelfile
from .parallel import ChunkEncoder
from .tokenizer import has_tokenizer, tokenizer_metadata
from .writer import UINT32, GGUFWriter, TensorPlan, Typed

CHUNK_VALUES = 1 << 22  # values per encoding task (16 MB in fp32): a few are in flight at a time
DISK_MARGIN = 64 * 1024**2  # header, Modelfile, card and file-system slack


class _HashingFile:
    """Writes through to a file and hashes every byte on the way (sha256 without reading it back)."""

    def __init__(self, f):
        self.f, self.sha = f, hashlib.sha256()

    def write(self, b) -> None:
        self.sha.update(b)
        self.f.write(b)


def _row_chunks(t) -> Iterator[np.ndarray]:
    """`t` (torch, any float dtype) as float32 numpy row blocks of about CHUNK_VALUES values."""
    import torch

    rows = t.reshape(-1, t.shape[-1]) if t.dim() > 1 else t.reshape(1, -1)
    step = max(1, CHUNK_VALUES // rows.shape[1])
    for i in range(0, rows.shape[0], step):
        yield np.ascontiguousarray(rows[i:i + step].to(torch.float32).numpy())


def check_disk_space(folder: Path, need: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < need + DISK_MARGIN:
        raise ConfigError(f"export_dir: not enough disk space ({(need + DISK_MARGIN) / 1024**3:.2f} GiB needed, "
                          f"{free / 1024**3:.2f} GiB free)")


def gguf_file_name(gguf_type: str) -> str:
    return f"model-{gguf_type}.gguf"


def export_gguf(cfg, sink: Optional[EventSink] = None) -> dict:
    import torch

    from ..export import RESULT_FILE, _merge_device, _SourceCheckpoint, _StreamedAdapter
    from ..hf_weights import load_config

    sink = sink or EventSink()
    t0 = time.time()
    base, out = Path(cfg.model_name_or_path), Path(cfg.export_dir)
    if not (base / "config.json").is_file():
        raise ConfigError(f"model_name_or_path: {base} has no config.json")
    if not has_tokenizer(base):
        raise ConfigError(f"model_name_or_path: {base} has neither tokenizer.json nor tokenizer.model "
                          "(GGUF carries the tokenizer)")
    if cfg.adapter_path and not (Path(cfg.adapter_path) / "adapter_config.json").is_file():
        raise ConfigError(f"adapter_path: {cfg.adapter_path} has no adapter_config.json")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"export_dir: {out} exists and is not empty; choose a new folder")
    mcfg = load_config(base)
    try:
        arch = gguf_arch(mcfg)
    except ValueError as e:
        raise ConfigError(f"model_name_or_path: {e}") from None
    device = _merge_device(cfg.device)
    card = dict(cfg.card or {})
    sink.emit(Progress(task="export", stage="load", current=0, total=1))

    tok_cfg_path = base / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text(encoding="utf-8")) if tok_cfg_path.is_file() else {}
    own_template = tok_cfg.get("chat_template") if isinstance(tok_cfg.get("chat_template"), str) else None
    run_template = card.get("template")
    chat_template = own_template or jinja_template(run_template)
    try:
        meta = {**hparams(mcfg, card.get("run_name") or base.name),
                "general.file_type": Typed(UINT32, FILE_TYPE[cfg.gguf_type]),
                "general.quantization_version": Typed(UINT32, 2),
                **tokenizer_metadata(base, arch, mcfg.vocab_size, chat_template)}
    except ValueError as e:
        raise ConfigError(f"model_name_or_path: {e}") from None

    with ExitStack() as stack:
        encoder = stack.enter_context(ChunkEncoder())
        source = _SourceCheckpoint(base, stack)
        adapter = _StreamedAdapter(source.skeleton, Path(cfg.adapter_path), stack) if cfg.adapter_path else None
        names = source.names
        has_output = "lm_head.weight" in names
        factors = rope_freqs(mcfg)
        plan = [TensorPlan("rope_freqs.weight", tuple(factors.shape), "F32")] if factors is not None else []
        for n in names:
            g, shape = tensor_name(n), source.shape(n)
            plan.append(TensorPlan(g, shape, tensor_type(cfg.gguf_type, g, shape, mcfg.num_hidden_layers, has_output)))
        need = sum(t.nbytes for t in plan)
        out.parent.mkdir(parents=True, exist_ok=True)
        # A cancelled or crashed export to this folder left a `.partial` one: replaced, so its space counts as free.
        partial = out.parent / f".{out.name}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        check_disk_space(out.parent, need)
        partial.mkdir(parents=True)
        file_name = gguf_file_name(cfg.gguf_type)
        total = len(plan)
        sink.emit(Progress(task="export", stage="gguf", current=0, total=total))
        with open(partial / file_name, "wb") as raw:
            f = _HashingFile(raw)
            writer = GGUFWriter(f, meta, plan)
            done = 0
            if factors is not None:
                writer.write("rope_freqs.weight", factors.view(np.uint8))
                done += 1
            by_name = {t.name: t for t in plan}
            for n in names:
                t = source.get(n)
                if adapter is not None and n in adapter.layers:
                    t = adapter.merge(n, t, device, torch.float32)
                heads = needs_permute(mcfg, n)
                if heads:
                    t = torch.from_numpy(permute_qk(t.to(torch.float32).numpy(), heads).copy())
                g = tensor_name(n)
                writer.write(g, encoder.encode(_row_chunks(t), by_name[g].qtype))
                del t
                done += 1
                sink.emit(Progress(task="export", stage="gguf", current=done, total=total))
            writer.close()
        sha256 = f.sha.hexdigest()

    eos = tok_cfg.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    (partial / "Modelfile").write_text(
        render_modelfile(file_name, run_template, eos, card.get("system_prompt"), base_license(base)), encoding="utf-8")
    write_model_card(partial, card, base)
    if out.exists():
        out.rmdir()
    partial.rename(out)
    size = (out / file_name).stat().st_size
    types: dict[str, int] = {}
    for t in plan:
        types[t.qtype] = types.get(t.qtype, 0) + 1
    manifest = {
        "format": "gguf",
        "export_dir": str(out.resolve()),
        "gguf_file": file_name,
        "gguf_type": cfg.gguf_type,
        "sha256": sha256,
        "bytes": size,
        "tensor_types": types,
        "files": [{"name": p.name, "bytes": p.stat().st_size, **({"sha256": sha256} if p.name == file_name else {})}
                  for p in sorted(out.iterdir()) if p.is_file()],
        "model_card": "README.md",
        "model_card_text": (out / "README.md").read_text(encoding="utf-8"),
        "merged_adapter": cfg.adapter_path,
        "runtime_s": round(time.time() - t0, 3),
    }
    result_path = Path(cfg.output_dir) / RESULT_FILE
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    sink.log(f"exported {file_name} ({size / 1024**2:.1f} MiB, sha256 {sha256[:12]}…) to {out} in {manifest['runtime_s']} s")
    sink.emit(Result(task="export", output_dir=str(out.resolve()), result_path=str(result_path.resolve())))
    return manifest
