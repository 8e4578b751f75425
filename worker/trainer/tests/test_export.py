"""Export: base + LoRA adapter merged into a Hugging Face folder that transformers loads with the same
logits as the unmerged base + adapter (peft as the reference), in shards that respect the size limit."""

import json
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from hf_tiny import rand_ids, save_hf  # noqa: E402
from tuneboard_trainer.config import ConfigError  # noqa: E402
from tuneboard_trainer.events import EventSink, Progress, Result, parse_event  # noqa: E402
from tuneboard_trainer.export import ExportConfig, export_model  # noqa: E402
from tuneboard_trainer.lora import save_adapter  # noqa: E402
from tuneboard_trainer.methods import LoraSettings, prepare_model  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402

# Wide enough that the weights (~7 MB fp32) need several 1 MiB shards; no tensor is above 1 MiB.
SHAPE = dict(vocab_size=1000, hidden_size=256, intermediate_size=512, num_hidden_layers=2)
MIB = 1024**2


@pytest.fixture
def base_and_adapter(tmp_path):
    base = tmp_path / "base"
    save_hf("llama3.1", base, **SHAPE)
    (base / "tokenizer.json").write_text('{"fake": true}')  # copied, not parsed
    (base / "tokenizer_config.json").write_text("{}")
    (base / "generation_config.json").write_text(json.dumps({"do_sample": True, "temperature": 0.6}))
    model = load_pretrained(base)
    torch.manual_seed(0)
    prepare_model(model, "lora", lora=LoraSettings(targets="all", r=4, alpha=8))
    with torch.no_grad():  # B = 0 at init: give the adapter an effect worth checking
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    adapter = tmp_path / "adapter"
    save_adapter(model, adapter, str(base))
    return base, adapter, model


def run_export(tmp_path, base, adapter, **kw):
    cfg = ExportConfig.from_dict({"model_name_or_path": str(base), "adapter_path": str(adapter) if adapter else None,
                                  "export_dir": str(tmp_path / "export"), "output_dir": str(tmp_path / "job"), **kw})
    buf = __import__("io").StringIO()
    manifest = export_model(cfg, EventSink(buf))
    events = [parse_event(line) for line in buf.getvalue().splitlines()]
    return Path(cfg.export_dir), manifest, events


def test_merged_export_matches_base_plus_adapter(tmp_path, base_and_adapter):
    base, adapter, ours = base_and_adapter
    out, manifest, events = run_export(tmp_path, base, adapter, max_shard_size_mb=1)

    ids = rand_ids((2, 24), vocab=SHAPE["vocab_size"])
    exported = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    reference = peft.PeftModel.from_pretrained(
        transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter).eval()
    with torch.no_grad():
        got = exported(ids).logits
        want = reference(ids).logits
    assert (got - want).abs().max().item() < 1e-4
    assert (ours.logits(ids) - want).abs().max().item() < 1e-4  # our unmerged LoRA agrees too
    # ...and the adapter changed something: the export is not just the base.
    base_logits = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)(ids).logits
    assert (got - base_logits).abs().max().item() > 1e-3

    assert isinstance(events[-1], Result) and events[-1].task == "export"
    assert any(isinstance(e, Progress) and e.stage == "merge" for e in events)
    assert json.loads(Path(events[-1].result_path).read_text()) == manifest
    assert manifest["dtype"] == "F32" and manifest["merged_adapter"] == str(adapter)


def test_shards_respect_max_size_and_index(tmp_path, base_and_adapter):
    base, adapter, _ = base_and_adapter
    out, manifest, _ = run_export(tmp_path, base, adapter, max_shard_size_mb=1)
    from safetensors import safe_open

    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(out.glob("model-*.safetensors"))
    assert len(shards) == manifest["shards"] > 2
    assert sorted(set(index["weight_map"].values())) == [s.name for s in shards]
    total = 0
    for shard in shards:
        with safe_open(str(shard), "pt") as f:
            nbytes = sum(f.get_tensor(k).numel() * 4 for k in f.keys())
            assert all(index["weight_map"][k] == shard.name for k in f.keys())
        assert nbytes <= 1 * MIB, shard.name
        total += nbytes
    assert index["metadata"]["total_size"] == total
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    assert not any(".lora_" in k for k in index["weight_map"])
    assert {f["name"] for f in manifest["files"]} == {p.name for p in out.iterdir()}


def test_export_dtype_and_single_file(tmp_path, base_and_adapter):
    base, _, _ = base_and_adapter
    out, manifest, _ = run_export(tmp_path, base, None, export_dtype="bfloat16")
    assert manifest["shards"] == 1 and (out / "model.safetensors").is_file()
    assert not (out / "model.safetensors.index.json").exists()
    assert manifest["dtype"] == "BF16" and manifest["merged_adapter"] is None
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16"
    loaded = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert next(loaded.parameters()).dtype == torch.bfloat16


def test_refuses_bad_config_and_non_empty_folder(tmp_path, base_and_adapter):
    base, adapter, _ = base_and_adapter
    ok = {"model_name_or_path": str(base), "export_dir": str(tmp_path / "x"), "output_dir": str(tmp_path / "j")}
    for bad, field in (({"max_shard_size_mb": 0}, "max_shard_size_mb"), ({"export_dtype": "int4"}, "export_dtype"),
                       ({"surprise": 1}, "surprise"), ({"export_dir": ""}, "export_dir")):
        with pytest.raises(ConfigError, match=field):
            ExportConfig.from_dict({**ok, **bad})
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="export_dir"):
        export_model(ExportConfig.from_dict(ok), EventSink(__import__("io").StringIO()))
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_export_appears_only_complete_and_replaces_its_own_leftover(tmp_path, base_and_adapter):
    base, adapter, _ = base_and_adapter
    leftover = tmp_path / ".export.partial"  # what a crashed attempt at the same folder leaves
    leftover.mkdir()
    (leftover / "half-written.bin").write_text("half written")
    (tmp_path / "export").mkdir()  # an empty target folder is fine
    out, manifest, _ = run_export(tmp_path, base, adapter, max_shard_size_mb=1)
    assert not leftover.exists()
    assert "half-written.bin" not in {f["name"] for f in manifest["files"]}
    assert manifest["export_dir"] == str(out.resolve())
    transformers.AutoModelForCausalLM.from_pretrained(out)  # loads: complete
