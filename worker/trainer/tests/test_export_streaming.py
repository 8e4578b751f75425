"""Streaming export (export.py): the tensor-by-tensor merge writes the same files as the in-memory merge it
replaced (whole model in fp32, merge_lora, save_trained), for plain LoRA, rsLoRA and DoRA, tied
embeddings, biases and a bf16 base; the shard writer never holds more than one shard's tensors; progress
advances per tensor. CPU only, fp32 merges, pinned seeds, tiny random models (tests/hf_tiny.py)."""

import io
import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny import make_hf  # noqa: E402
from tuneboard_trainer import export as export_mod  # noqa: E402
from tuneboard_trainer.config import ConfigError  # noqa: E402
from tuneboard_trainer.events import EventSink, Log, Progress, parse_event  # noqa: E402
from tuneboard_trainer.export import ExportConfig, ShardWriter, export_model, plan_shards  # noqa: E402
from tuneboard_trainer.lora import load_adapter, merge_lora, save_adapter  # noqa: E402
from tuneboard_trainer.methods import LoraSettings, prepare_model, save_trained  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402

MIB = 1024**2
# ~0.3 MB of fp32 weights (one shard): milliseconds per merge.
SMALL = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2)
WIDE = dict(vocab_size=1000, hidden_size=256, intermediate_size=512, num_hidden_layers=2)  # ~7 MB: 1 MiB shards


def make_base(path: Path, arch="llama3.1", dtype=None, **shape):
    hf = make_hf(arch, **shape)
    if dtype is not None:
        hf = hf.to(dtype)
    hf.save_pretrained(path)
    (path / "tokenizer.json").write_text('{"fake": true}')
    return path


def make_adapter(base: Path, out: Path, seed=0, **settings) -> Path:
    """An adapter with B != 0 (and, for DoRA, a magnitude moved off its init), so every part matters."""
    model = load_pretrained(base)
    torch.manual_seed(seed)
    prepare_model(model, "lora", lora=LoraSettings(**{"targets": "all", "r": 4, "alpha": 8, **settings}))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
            elif n.endswith("lora_magnitude_vector"):
                p.mul_(1 + 0.1 * torch.randn_like(p))
    return save_adapter(model, out, str(base))


def in_memory_export(base: Path, adapter, out: Path, max_shard_mb: int, dtype=None) -> Path:
    """The export as it was before streaming: the whole model in fp32 on the CPU, merged, then saved."""
    model = load_pretrained(base, dtype=torch.float32, device="cpu")
    if adapter:
        load_adapter(model, adapter)
        merge_lora(model)
    cfg = json.loads((base / "config.json").read_text())
    if dtype is None and not (cfg.get("dtype") or cfg.get("torch_dtype")):
        dtype = torch.float32
    return save_trained(model, out, "full", base, max_shard_bytes=max_shard_mb * MIB, dtype=dtype)


def streamed_export(tmp_path: Path, base: Path, adapter, **kw):
    cfg = ExportConfig.from_dict({"model_name_or_path": str(base), "adapter_path": str(adapter) if adapter else None,
                                  "export_dir": str(tmp_path / "streamed"), "output_dir": str(tmp_path / "job"),
                                  "device": "cpu", **kw})
    buf = io.StringIO()
    manifest = export_model(cfg, EventSink(buf))
    return Path(cfg.export_dir), manifest, [parse_event(line) for line in buf.getvalue().splitlines()]


def assert_same_export(got: Path, want: Path):
    """Same weight files, byte for byte (same tensors, same bits, same layout), and the same index."""
    names = sorted(p.name for p in want.glob("model*.safetensors"))
    assert sorted(p.name for p in got.glob("model*.safetensors")) == names
    for name in names:
        assert (got / name).read_bytes() == (want / name).read_bytes(), name
    index = "model.safetensors.index.json"
    assert (got / index).exists() == (want / index).exists()
    if (want / index).exists():
        assert json.loads((got / index).read_text()) == json.loads((want / index).read_text())


@pytest.mark.parametrize("variant", [{}, {"use_rslora": True}, {"use_dora": True}], ids=["lora", "rslora", "dora"])
def test_streamed_equals_in_memory_merge(tmp_path, variant):
    base = make_base(tmp_path / "base", **SMALL)
    adapter = make_adapter(base, tmp_path / "adapter", **variant)
    want = in_memory_export(base, adapter, tmp_path / "want", max_shard_mb=1)
    got, manifest, _ = streamed_export(tmp_path, base, adapter, max_shard_size_mb=1)
    assert_same_export(got, want)
    assert manifest["merged_adapter"] == str(adapter)
    # The adapter really changed the weights it targets.
    from safetensors.torch import load_file
    merged, orig = load_file(str(got / "model.safetensors")), load_file(str(base / "model.safetensors"))
    assert not torch.equal(merged["model.layers.0.self_attn.q_proj.weight"], orig["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(merged["model.norm.weight"], orig["model.norm.weight"])


def test_tied_bf16_base_with_biases_cast_to_fp16_multi_shard(tmp_path):
    # Qwen2.5 (tied embeddings, q/k/v biases) stored in bf16; DoRA on some targets; fp16 export in shards.
    shape = {**WIDE, "num_attention_heads": 4, "num_key_value_heads": 2}
    base = make_base(tmp_path / "base", "qwen2.5_tied", dtype=torch.bfloat16, **shape)
    adapter = make_adapter(base, tmp_path / "adapter", targets="q_proj,v_proj,down_proj", use_dora=True)
    want = in_memory_export(base, adapter, tmp_path / "want", max_shard_mb=1, dtype=torch.float16)
    got, manifest, _ = streamed_export(tmp_path, base, adapter, max_shard_size_mb=1, export_dtype="float16")
    assert_same_export(got, want)
    assert manifest["shards"] > 2 and manifest["dtype"] == "F16"
    index = json.loads((got / "model.safetensors.index.json").read_text())
    assert "lm_head.weight" not in index["weight_map"]  # tied: transformers re-ties it
    assert "model.layers.1.self_attn.q_proj.bias" in index["weight_map"]
    assert json.loads((got / "config.json").read_text())["torch_dtype"] == "float16"


def test_base_without_adapter_auto_dtype_is_the_configs(tmp_path):
    base = make_base(tmp_path / "base", dtype=torch.bfloat16, **WIDE)
    want = in_memory_export(base, None, tmp_path / "want", max_shard_mb=1)
    got, manifest, events = streamed_export(tmp_path, base, None, max_shard_size_mb=1)
    assert_same_export(got, want)
    assert manifest["dtype"] == "BF16" and manifest["merged_adapter"] is None
    assert not any(isinstance(e, Progress) and e.stage == "merge" for e in events)


def test_writer_never_holds_more_than_one_shard(tmp_path, monkeypatch):
    base = make_base(tmp_path / "base", **WIDE)
    adapter = make_adapter(base, tmp_path / "adapter")
    seen = []  # (bytes held, names held, files on disk) each time a tensor is handed to the writer
    original_add = ShardWriter.add

    def add(self, name, tensor):
        held = self.held_bytes + tensor.numel() * tensor.element_size()  # the buffer once this tensor is in
        seen.append((held, set(self.buffer) | {name}, self.plan))
        original_add(self, name, tensor)
        assert len(self.buffer) < max(len(s) for s in self.plan)  # a full shard is written and dropped at once

    monkeypatch.setattr(ShardWriter, "add", add)
    got, manifest, events = streamed_export(tmp_path, base, adapter, max_shard_size_mb=1)
    plan = seen[0][2]
    assert len(plan) == manifest["shards"] > 2
    for held, names, _ in seen:
        assert held <= MIB
        assert any(names <= set(shard) for shard in plan)  # never tensors of two shards at once
    # Shards are announced as they are written, in order, between the per-tensor progress events.
    logs = [e.message for e in events if isinstance(e, Log) and e.message.startswith("wrote ")]
    assert [m.split()[1] for m in logs] == [f"model-{i:05d}-of-{len(plan):05d}.safetensors" for i in range(1, len(plan) + 1)]
    merge = [e for e in events if isinstance(e, Progress) and e.stage == "merge"]
    assert [e.current for e in merge] == list(range(len(merge))) and merge[-1].current == merge[-1].total
    first_write = next(i for i, e in enumerate(events) if isinstance(e, Log) and e.message.startswith("wrote "))
    assert any(isinstance(e, Progress) and e.stage == "merge" for e in events[first_write:])  # written mid-merge


def test_shard_writer_writes_each_shard_when_it_fills(tmp_path):
    tensors = {f"t{i}": torch.full((64,), float(i)) for i in range(5)}  # 256 bytes each
    plan = plan_shards([(k, 256) for k in tensors], max_shard_bytes=600)
    assert plan == [["t0", "t1"], ["t2", "t3"], ["t4"]]
    writer = ShardWriter(tmp_path, plan)
    for i, (k, v) in enumerate(tensors.items()):
        writer.add(k, v)
        assert writer.held_bytes <= 600
        assert len(list(tmp_path.glob("*.safetensors"))) == (i + 1) // 2 + (i == 4)
    writer.finish()
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == 5 * 256
    assert index["weight_map"]["t4"] == "model-00003-of-00003.safetensors"
    with pytest.raises(RuntimeError, match="t9"):
        ShardWriter(tmp_path / "x", plan).add("t9", tensors["t0"])  # only the planned order is accepted


def test_device_field_is_validated(tmp_path):
    ok = {"model_name_or_path": "m", "export_dir": "e", "output_dir": "o"}
    assert ExportConfig.from_dict(ok).device == "auto"
    with pytest.raises(ConfigError, match="device"):
        ExportConfig.from_dict({**ok, "device": "tpu"})
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device"):
            export_mod._merge_device("cuda")
        assert export_mod._merge_device("auto").type == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_merge_matches_cpu_merge_within_fp32_rounding(tmp_path):
    # On the GPU the B @ A products accumulate in another order: equal up to fp32 rounding, not bit for bit.
    from safetensors.torch import load_file

    base = make_base(tmp_path / "base", **WIDE)
    adapter = make_adapter(base, tmp_path / "adapter", use_dora=True)
    want = in_memory_export(base, adapter, tmp_path / "want", max_shard_mb=1)
    got, manifest, _ = streamed_export(tmp_path, base, adapter, max_shard_size_mb=1, device="cuda")
    index = json.loads((got / "model.safetensors.index.json").read_text())
    assert index == json.loads((want / "model.safetensors.index.json").read_text())
    for shard in sorted(set(index["weight_map"].values())):
        a, b = load_file(str(got / shard)), load_file(str(want / shard))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), k


def test_mismatched_checkpoint_or_adapter_is_refused_before_anything_is_written(tmp_path):
    from safetensors.torch import load_file, save_file

    base = make_base(tmp_path / "base", **SMALL)
    adapter = make_adapter(base, tmp_path / "adapter")
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    weights.pop(next(k for k in weights if "lora_B" in k))
    save_file(weights, str(adapter / "adapter_model.safetensors"))
    with pytest.raises(ValueError, match="adapter keys do not match"):
        streamed_export(tmp_path, base, adapter)
    sd = load_file(str(base / "model.safetensors"))
    save_file({**sd, "model.layers.9.mlp.up_proj.weight": sd["model.norm.weight"].clone()}, str(base / "model.safetensors"))
    with pytest.raises(ValueError, match="does not match config"):
        streamed_export(tmp_path, base, None)
    assert not (tmp_path / "streamed").exists() and not (tmp_path / ".streamed.partial").exists()
