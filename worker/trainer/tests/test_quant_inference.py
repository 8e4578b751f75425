"""Chat, Evaluate and Export of a run trained on a 4-bit base: each rebuilds the base quantized as the run trained
on it (the record beside the adapter), and export merges into the dequantized weights with a warning."""

import io
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from test_evaluate import config as eval_config, direct_loss
from test_train import make_cfg, run_events
from tuneboard_trainer.base_quantization import RECORD_FILE, adapters_base_method, read_base_quantization
from tuneboard_trainer.chat_engine import ChatEngine, load_engine
from tuneboard_trainer.data import load_examples
from tuneboard_trainer.evaluate import evaluate
from tuneboard_trainer.events import EventSink, parse_event
from tuneboard_trainer.export import ExportConfig, export_model
from tuneboard_trainer.hf_weights import load_pretrained
from tuneboard_trainer.lora import load_adapter, merge_lora
from tuneboard_trainer.quant.load import load_quantized
from tuneboard_trainer.templates import load_template

IDS = [128000, 9906, 1917, 11, 358, 1097, 264, 1296, 13]


@pytest.fixture
def nf4_run(tmp_path, tiny_model_dir, dataset_dir):
    """A 4-bit LoRA run's adapter folder (trained: B is not zero)."""
    run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "run", max_steps=4, save_steps=0,
                        quantization_bit="4", gradient_checkpointing=False))
    return tmp_path / "run"


def quantized_reference(model_dir, adapter):
    return load_adapter(load_quantized(model_dir, "nf4", dtype=torch.float32), adapter).eval()


def test_the_run_records_its_base_quantization(nf4_run):
    assert json.loads((nf4_run / RECORD_FILE).read_text()) == {"quantization_bit": "4", "quantization_method": "nf4"}
    assert read_base_quantization(nf4_run) == "nf4"


def test_chat_answers_on_the_base_quantized_as_in_training(nf4_run, tiny_model_dir, tmp_path):
    eng = load_engine(tiny_model_dir, [nf4_run], device="cpu", mode="eager", max_seq_len=64)
    assert eng.base_method == "nf4"
    ref = quantized_reference(tiny_model_dir, nf4_run)
    plain = load_adapter(load_pretrained(tiny_model_dir), nf4_run).eval()
    with torch.inference_mode():
        got = eng.prefill(IDS)
        want = ref.logits(torch.tensor([IDS]))[0, -1]
        unquantized = plain.logits(torch.tensor([IDS]))[0, -1]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert (got - unquantized).abs().max().item() > 1e-3  # the quantization is really applied

    # An adapter trained on the full-precision base cannot share the engine with it.
    other = tmp_path / "plain-adapter"
    shutil.copytree(nf4_run, other, ignore=shutil.ignore_patterns(RECORD_FILE, "checkpoint-*"))
    assert adapters_base_method([other]) is None
    with pytest.raises(ValueError, match="differently quantized bases"):
        load_engine(tiny_model_dir, [nf4_run, other], device="cpu", mode="eager", max_seq_len=64)
    assert ChatEngine(tiny_model_dir, max_seq_len=16).base_method is None


def test_evaluate_scores_the_adapter_on_the_quantized_base(nf4_run, tiny_model_dir, dataset_dir, tmp_path):
    buf = io.StringIO()
    out = evaluate(eval_config(tiny_model_dir, dataset_dir, tmp_path / "eval", predict=False,
                               adapter_path=str(nf4_run)), EventSink(buf))
    logs = [e.message for e in map(parse_event, buf.getvalue().splitlines()) if e.type == "log"]
    assert any("base quantized with nf4" in m for m in logs)
    examples, _ = load_examples(dataset_dir, ["identity"], load_template("llama3", tiny_model_dir), 1024, 100000)
    ref = quantized_reference(tiny_model_dir, nf4_run)
    assert out["metrics"]["eval_loss"] == pytest.approx(direct_loss(ref, examples), rel=1e-4)
    plain = load_adapter(load_pretrained(tiny_model_dir), nf4_run).eval()
    assert abs(out["metrics"]["eval_loss"] - direct_loss(plain, examples)) > 1e-4


def test_export_merges_into_the_dequantized_base_and_warns(nf4_run, tiny_model_dir, tmp_path):
    cfg = ExportConfig.from_dict({"model_name_or_path": str(tiny_model_dir), "adapter_path": str(nf4_run),
                                  "export_dir": str(tmp_path / "export"), "output_dir": str(tmp_path / "job"),
                                  "export_dtype": "float32", "card": {"base_model": "tiny", "method": "lora"}})
    buf = io.StringIO()
    manifest = export_model(cfg, EventSink(buf))
    events = [parse_event(line) for line in buf.getvalue().splitlines()]
    warnings = [e.message for e in events if e.type == "log" and e.level == "warning"]
    assert any("trained on a 4-bit (nf4) quantized base" in w and "quantization error" in w for w in warnings)
    assert manifest["base_quantization"] == "nf4"
    card = (tmp_path / "export" / "README.md").read_text()
    assert "**Warning:** The adapter was trained on a 4-bit (nf4) quantized base" in card

    # Merged weights = dequantized NF4 base + the adapter's delta (what chat and evaluate run on).
    merged = merge_lora(quantized_reference(tiny_model_dir, nf4_run)).state_dict()
    exported = load_file(str(tmp_path / "export" / "model.safetensors"))
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"):
        torch.testing.assert_close(exported[name], merged[name], rtol=0, atol=1e-6)
    base = load_file(str(tiny_model_dir / "model.safetensors"))
    assert not torch.allclose(exported["model.layers.0.mlp.up_proj.weight"].float(),
                              base["model.layers.0.mlp.up_proj.weight"].float(), atol=1e-4)
    # Embeddings and norms are never quantized: exported as stored.
    torch.testing.assert_close(exported["model.embed_tokens.weight"], base["model.embed_tokens.weight"].float())
