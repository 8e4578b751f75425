"""make-demo-model writes a loadable HF-layout model, deterministically and idempotently."""

import json

import torch

from conftest import TINY_SHAPE
from tuneboard_trainer.demo_model import DEMO_PRESET, FILES, make_demo_model
from tuneboard_trainer.config import TrainConfig
from tuneboard_trainer.hf_weights import load_pretrained


def test_demo_model_layout_and_idempotence(tmp_path, tokenizer_dir):
    out = make_demo_model(tmp_path / "demo", tokenizer_dir, shape=TINY_SHAPE)
    assert all((out / f).exists() for f in FILES)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["vocab_size"] == 128256
    assert cfg["bos_token_id"] == 128000 and 128009 in cfg["eos_token_id"]
    meta = json.loads((out / "tuneboard.json").read_text())
    assert meta["demo"] is True and meta["preset"] == DEMO_PRESET
    # The preset must be a valid partial training config.
    TrainConfig.from_dict({"model_name_or_path": "m", "dataset_dir": "d", "dataset": ["x"], "output_dir": "o",
                           **DEMO_PRESET})

    mtime = (out / "model.safetensors").stat().st_mtime_ns
    make_demo_model(out, tokenizer_dir, shape=TINY_SHAPE)
    assert (out / "model.safetensors").stat().st_mtime_ns == mtime  # untouched second time

    other = make_demo_model(tmp_path / "again", tokenizer_dir, shape=TINY_SHAPE)
    a, b = load_pretrained(out), load_pretrained(other)
    assert torch.equal(a.model.embed_tokens.weight, b.model.embed_tokens.weight)  # fixed seed
    assert a.lm_head.weight is a.model.embed_tokens.weight


def test_stale_preset_is_refreshed_and_weights_kept(tmp_path, tokenizer_dir):
    out = make_demo_model(tmp_path / "demo", tokenizer_dir, shape=TINY_SHAPE)
    meta_file = out / "tuneboard.json"
    stale = json.loads(meta_file.read_text())
    stale["preset"] = {**DEMO_PRESET, "lora_rank": 16, "lora_alpha": 32}
    meta_file.write_text(json.dumps(stale))
    mtime = (out / "model.safetensors").stat().st_mtime_ns

    make_demo_model(out, tokenizer_dir, shape=TINY_SHAPE)
    assert json.loads(meta_file.read_text())["preset"] == DEMO_PRESET
    assert (out / "model.safetensors").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no temporary file left behind
