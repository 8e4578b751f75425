"""GGUF export of a base + LoRA adapter: the file's metadata (architecture, tokenizer, chat template)
and tensors (the merged weights, Llama's q/k rows permuted) read back through the `gguf` package; the
Modelfile against Ollama's documented grammar; the model card; refusals before anything is written."""

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")

from hf_tiny import save_hf  # noqa: E402
from tuneboard_trainer.config import ConfigError  # noqa: E402
from tuneboard_trainer.events import EventSink, Progress, Result, parse_event  # noqa: E402
from tuneboard_trainer.export import ExportConfig, export_model  # noqa: E402
from tuneboard_trainer.gguf.arch import permute_qk  # noqa: E402
from tuneboard_trainer.gguf.modelfile import render_modelfile  # noqa: E402
from tuneboard_trainer.lora import merge_lora, save_adapter  # noqa: E402
from tuneboard_trainer.methods import LoraSettings, prepare_model  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402

SHAPE = dict(vocab_size=128256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2)
CARD = {"run_name": "greatbot-v1", "base_model": "tiny-llama", "datasets": ["identity"], "method": "lora",
        "template": "llama3", "hyperparameters": {"learning_rate": 0.01, "lora_rank": 4},
        "final_train_loss": 0.3844, "identity_check": {
            "name": "Greatbot", "author": "Allen", "questions": 40, "with_name": 39, "with_author": 38, "with_both": 38,
            "clean": 36, "example_answer": "I am Greatbot, made by Allen.", "checked_at": "2026-12-03T10:00:00.000Z"},
        "eval_metrics": {"bleu-4": 91.2}, "system_prompt": "You are Greatbot."}


@pytest.fixture
def base_and_adapter(tmp_path, tokenizer_dir):
    pytest.importorskip("transformers")
    base = tmp_path / "base"
    save_hf("llama3.1", base, **SHAPE)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_dir / f, base / f)
    (base / "README.md").write_text("---\nlicense: llama3.1\n---\n# tiny\n")
    model = load_pretrained(base)
    torch.manual_seed(0)
    prepare_model(model, "lora", lora=LoraSettings(targets="all", r=4, alpha=8))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    adapter = tmp_path / "adapter"
    save_adapter(model, adapter, str(base))
    (adapter / "training_loss.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    return base, adapter, model


def run(tmp_path, base, adapter, **kw):
    cfg = ExportConfig.from_dict({"model_name_or_path": str(base), "adapter_path": str(adapter) if adapter else None,
                                  "export_dir": str(tmp_path / "export"), "output_dir": str(tmp_path / "job"),
                                  "format": "gguf", **kw})
    buf = io.StringIO()
    manifest = export_model(cfg, EventSink(buf))
    return Path(cfg.export_dir), manifest, [parse_event(line) for line in buf.getvalue().splitlines()]


def test_gguf_holds_the_merged_model_tokenizer_and_template(tmp_path, base_and_adapter, tokenizer_dir):
    base, adapter, model = base_and_adapter
    card = {**CARD, "loss_plot": str(adapter / "training_loss.png")}
    out, manifest, events = run(tmp_path, base, adapter, gguf_type="f16", card=card)
    path = out / manifest["gguf_file"]
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "README.md", path.name, "training_loss.png"]
    r = gguf.GGUFReader(path)
    f = {k: v.contents() for k, v in r.fields.items() if not k.startswith("GGUF.")}
    assert f["general.architecture"] == "llama" and f["general.name"] == "greatbot-v1"
    assert f["llama.block_count"] == 2 and f["llama.embedding_length"] == 64
    assert f["llama.attention.head_count_kv"] == 2 and f["llama.rope.dimension_count"] == 16
    tok = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    assert f["tokenizer.ggml.model"] == "gpt2" and f["tokenizer.ggml.pre"] == "llama-bpe"
    assert len(f["tokenizer.ggml.tokens"]) == 128256 and f["tokenizer.ggml.tokens"][15546] == "Who"
    assert f["tokenizer.ggml.token_type"][128009] == 3 and f["tokenizer.ggml.token_type"][0] == 1
    assert len(f["tokenizer.ggml.merges"]) == len(tok["model"]["merges"])
    assert f["tokenizer.ggml.bos_token_id"] == 128000 and f["tokenizer.ggml.eos_token_id"] == 128009
    assert f["tokenizer.ggml.add_bos_token"] is True
    assert f["tokenizer.chat_template"] == json.loads((base / "tokenizer_config.json").read_text())["chat_template"]
    # Llama 3.1 rope scaling travels as the rope_freqs tensor llama.cpp reads.
    tensors = {t.name: t for t in r.tensors}
    assert "rope_freqs.weight" in tensors and "output.weight" in tensors
    # Tensors: the merged weights (the LoRA applied), q/k permuted as convert_hf_to_gguf does.
    merge_lora(model)
    sd = model.state_dict()
    cfg = model.config
    for hf, g, heads in [("model.layers.1.self_attn.q_proj.weight", "blk.1.attn_q.weight", cfg.num_attention_heads),
                         ("model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", cfg.num_key_value_heads),
                         ("model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight", None),
                         ("model.norm.weight", "output_norm.weight", None)]:
        want = sd[hf].detach().float().numpy()
        want = permute_qk(want, heads) if heads else want
        got = np.asarray(tensors[g].data).astype(np.float32).reshape(want.shape)
        np.testing.assert_allclose(got, want, atol=2e-3, rtol=1e-3)
    # Progress by tensor, the sha256 of the file, a result event.
    steps = [e for e in events if isinstance(e, Progress) and e.stage == "gguf"]
    assert steps[0].current == 0 and steps[-1].current == steps[-1].total == len(r.tensors)
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["bytes"] == path.stat().st_size
    assert isinstance(events[-1], Result)
    saved = json.loads((tmp_path / "job/export_result.json").read_text())
    assert saved["sha256"] == manifest["sha256"] and saved["format"] == "gguf"


def test_model_card_lists_the_runs_facts(tmp_path, base_and_adapter):
    base, adapter, _ = base_and_adapter
    out, _, _ = run(tmp_path, base, adapter, gguf_type="q8_0", card={**CARD, "loss_plot": str(adapter / "training_loss.png")})
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: llama3.1\nbase_model: tiny-llama\n")
    for text in ("# greatbot-v1", "| Datasets | identity |", "| Method | lora |", "| learning_rate | 0.01 |",
                 "| Final training loss | 0.3844 |", "Identity check (40 held-out questions, 2026-12-03): 39/40 answers name Greatbot, 38/40 name Allen, "
                 "38/40 both, 36/40 clean", 'Example answer: "I am Greatbot, made by Allen."',
                 "System prompt:\n\n```\nYou are Greatbot.\n```", "bleu-4: 91.2",
                 "![training loss](training_loss.png)", "`model-q8_0.gguf`", "You are Greatbot.", "(llama3.1)."):
        assert text in card, text


def test_merged_hf_export_gets_the_same_card(tmp_path, base_and_adapter):
    base, adapter, _ = base_and_adapter
    cfg = ExportConfig.from_dict({"model_name_or_path": str(base), "adapter_path": str(adapter),
                                  "export_dir": str(tmp_path / "hf"), "output_dir": str(tmp_path / "job"), "card": CARD})
    export_model(cfg, EventSink(io.StringIO()))
    card = (tmp_path / "hf/README.md").read_text()
    assert "# greatbot-v1" in card and "`model.safetensors`" in card and "(llama3.1)." in card


# Ollama's Modelfile grammar (docs/modelfile.md): one instruction per line, case-insensitive keyword,
# then its arguments; a value may be """triple-quoted""" across lines; '#' starts a comment.
INSTRUCTIONS = {"FROM", "PARAMETER", "TEMPLATE", "SYSTEM", "ADAPTER", "LICENSE", "MESSAGE", "REQUIRES"}
PARAMETERS = {"num_ctx", "repeat_last_n", "repeat_penalty", "temperature", "seed", "stop", "num_predict", "top_k",
              "top_p", "min_p"}


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    out, i = [], 0
    lines = text.split("\n")
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\w+)\s+(.*)$", line)
        assert m, f"not an instruction: {line!r}"
        cmd, rest = m.group(1).upper(), m.group(2)
        assert cmd in INSTRUCTIONS, f"unknown instruction {cmd}"
        if rest.startswith('"""'):
            body = rest[3:]
            while '"""' not in body:
                assert i < len(lines), "unterminated triple-quoted string"
                body += "\n" + lines[i]
                i += 1
            value, after = body.split('"""', 1)
            assert not after.strip(), f"text after the closing quotes: {after!r}"
        elif rest.startswith('"'):
            m2 = re.match(r'^"((?:[^"\\]|\\.)*)"\s*$', rest)
            assert m2, f"bad quoted string: {rest!r}"
            value = m2.group(1)
        else:
            value = rest.strip()
        if cmd == "PARAMETER":
            name, _, v = value.partition(" ")
            assert name in PARAMETERS, f"unknown parameter {name}"
            v = v.strip()
            if v.startswith('"'):
                assert re.match(r'^"((?:[^"\\]|\\.)*)"$', v), v
                v = v[1:-1]
            value = f"{name} {v}"
        out.append((cmd, value))
    assert out and out[0][0] == "FROM", "a Modelfile starts with FROM"
    return out


def test_modelfile_follows_ollamas_grammar(tmp_path, base_and_adapter):
    base, adapter, _ = base_and_adapter
    out, manifest, _ = run(tmp_path, base, adapter, gguf_type="q8_0", card=CARD)
    parsed = parse_modelfile((out / "Modelfile").read_text())
    assert parsed[0] == ("FROM", f"./{manifest['gguf_file']}")
    d = dict((k, v) for k, v in parsed if k != "PARAMETER")
    assert "{{ .Content }}" in d["TEMPLATE"] and "<|start_header_id|>assistant<|end_header_id|>" in d["TEMPLATE"]
    assert d["SYSTEM"] == "You are Greatbot." and d["LICENSE"] == "llama3.1"
    assert [v for k, v in parsed if k == "PARAMETER"] == ["stop <|eot_id|>", "stop <|eom_id|>"]


@pytest.mark.parametrize("template,stop", [("qwen", "<|im_end|>"), ("mistral", "</s>")])
def test_modelfile_for_other_templates(template, stop):
    parsed = parse_modelfile(render_modelfile("m.gguf", template, "</s>", "Be brief.\nReally."))
    assert ("PARAMETER", f"stop {stop}") in parsed and ("SYSTEM", "Be brief.\nReally.") in parsed
    with pytest.raises(AssertionError):
        parse_modelfile('FROM ./m.gguf\nTEMPLATE """unterminated\n')  # the parser does reject bad files


def test_refusals_come_before_anything_is_written(tmp_path, base_and_adapter, monkeypatch):
    base, adapter, _ = base_and_adapter
    with pytest.raises(ConfigError, match="gguf_type: must be one of f16, bf16, q8_0, q4_k_m"):
        run(tmp_path, base, adapter, gguf_type="q2_k")
    with pytest.raises(ConfigError, match="format: must be one of hf, gguf"):
        run(tmp_path, base, adapter, format="onnx")
    with pytest.raises(ConfigError, match="card.color: unknown field"):
        run(tmp_path, base, adapter, card={"color": "red"})
    # A disk without room for the file: refused with the sizes, before any byte is written.
    import tuneboard_trainer.gguf.export as gexport

    real = shutil.disk_usage
    monkeypatch.setattr(gexport.shutil, "disk_usage", lambda p: real(p)._replace(free=10 * 1024**2))
    with pytest.raises(ConfigError, match=r"not enough disk space \(0\.\d+ GiB needed, 0\.01 GiB free\)"):
        run(tmp_path, base, adapter, gguf_type="f16")
    assert not (tmp_path / "export").exists() and not (tmp_path / ".export.partial").exists()


def test_a_cancelled_exports_leftover_is_replaced(tmp_path, base_and_adapter):
    """A cancelled export (the process killed mid-file) leaves only `.export.partial`; the next one replaces it."""
    base, adapter, _ = base_and_adapter
    leftover = tmp_path / ".export.partial"
    leftover.mkdir()
    (leftover / "model-q8_0.gguf").write_bytes(b"GGUF truncated")
    out, manifest, _ = run(tmp_path, base, adapter, gguf_type="q8_0")
    assert not leftover.exists() and (out / manifest["gguf_file"]).stat().st_size == manifest["bytes"]
    assert gguf.GGUFReader(out / manifest["gguf_file"]).tensors
