"""RoPE variants (linear, dynamic, yarn, longrope, llama3): the frequencies and the cos/sin scaling are the numbers
transformers' modeling_rope_utils computes, at lengths inside and beyond the original context; each variant
changes the logits (so test_model_parity's logits check tests it) and matches transformers end to end."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import make_hf, rand_ids, save_hf  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402
from tuneboard_trainer.model import ModelConfig  # noqa: E402
from tuneboard_trainer.rope import rope_attention_scaling, rope_inv_freq  # noqa: E402

VARIANTS = ["llama3.1", "llama_linear", "llama_dynamic", "qwen2_yarn", "phi3_longrope"]


@pytest.mark.parametrize("arch", VARIANTS)
@pytest.mark.parametrize("seq_len", [10, 24, 300])
def test_frequencies_and_scaling_are_transformers(arch, seq_len):
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    hf_cfg = make_hf(arch).config
    ours = ModelConfig.from_hf(hf_cfg.to_dict())
    kind = ours.rope_scaling["rope_type"]
    expected, scaling = ROPE_INIT_FUNCTIONS[kind](hf_cfg, "cpu", seq_len=seq_len)
    torch.testing.assert_close(rope_inv_freq(ours, seq_len=seq_len), expected.float(), atol=0, rtol=1e-6)
    assert rope_attention_scaling(ours) == pytest.approx(scaling, rel=1e-12)


def test_the_scaled_range_is_reached():
    """Guards the test above: dynamic and longrope really switch past the original context, yarn scales cos/sin."""
    dyn = ModelConfig.from_hf(make_hf("llama_dynamic").config.to_dict())
    assert not torch.equal(rope_inv_freq(dyn, seq_len=24), rope_inv_freq(dyn, seq_len=10))
    lr = ModelConfig.from_hf(make_hf("phi3_longrope").config.to_dict())
    assert not torch.equal(rope_inv_freq(lr, seq_len=24), rope_inv_freq(lr, seq_len=10))
    assert rope_attention_scaling(lr) > 1.0
    assert rope_attention_scaling(ModelConfig.from_hf(make_hf("qwen2_yarn").config.to_dict())) > 1.0


@pytest.mark.parametrize("arch", VARIANTS[1:])
def test_each_variant_changes_logits_and_matches_transformers(tmp_path, arch):
    hf = save_hf(arch, tmp_path / "scaled", initializer_range=0.2)
    save_hf(arch, tmp_path / "plain", initializer_range=0.2)
    cfg = json.loads((tmp_path / "plain" / "config.json").read_text())
    keep = {k: cfg["rope_parameters"][k] for k in ("rope_theta", "partial_rotary_factor") if k in cfg["rope_parameters"]}
    cfg["rope_parameters"] = {"rope_type": "default", **keep}
    (tmp_path / "plain" / "config.json").write_text(json.dumps(cfg))
    ids = rand_ids((2, 24), seed=9)
    with torch.no_grad():
        scaled = load_pretrained(tmp_path / "scaled").logits(ids)
        plain = load_pretrained(tmp_path / "plain").logits(ids)
        torch.testing.assert_close(scaled, hf(ids).logits, atol=1e-4, rtol=0)
    assert (scaled - plain).abs().max() > 1e-3


def test_an_unknown_rope_type_is_named_with_the_supported_ones(tmp_path):
    from tuneboard_trainer.model import UnsupportedModelError

    cfg = make_hf("llama2").config.to_dict()
    cfg["rope_parameters"] = {"rope_type": "mrope", "rope_theta": 10000.0}
    with pytest.raises(UnsupportedModelError, match="unsupported rope_type 'mrope'; supported: default, linear, "
                                                     "llama3, dynamic, yarn, longrope"):
        ModelConfig.from_hf(cfg)


def test_fast_path_refuses_length_dependent_or_scaled_rope_in_words(tmp_path):
    """Chat runs these on its reference engine (test_families' greedy-generation parity covers yarn)."""
    from tuneboard_trainer.fast.path import FastPath
    from tuneboard_trainer.lora import apply_lora

    save_hf("qwen2_yarn", tmp_path)
    ok, why = FastPath.supported(apply_lora(load_pretrained(tmp_path), "all"))
    assert not ok and why == "yarn RoPE has no fast path yet; training on the reference path"
