"""(b) LoRALinear == peft's LoRA layer; (c) our saved adapter loads in peft and reproduces our logits."""

import json

import pytest
import torch

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from tuneboard_trainer.lora import (  # noqa: E402
    ALL_TARGETS, LoRALinear, apply_lora, load_adapter, lora_state_dict, merge_lora, save_adapter,
)
from tuneboard_trainer.model import load_pretrained  # noqa: E402

BASE = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rope_theta=10000.0)


def randomise_lora(model, seed=0):
    """Random (non-zero) B so the adapter actually changes outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_lora_linear_matches_peft():
    torch.manual_seed(0)
    base = torch.nn.Linear(24, 40, bias=True)
    ours = LoRALinear.from_linear(base, rank=4, alpha=8, dropout=0.0)
    wrapper = torch.nn.Sequential()
    wrapper.add_module("proj", torch.nn.Linear(24, 40, bias=True))
    wrapper.proj.load_state_dict(base.state_dict())
    pm = peft.get_peft_model(wrapper, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["proj"]))
    randomise_lora(ours, seed=1)
    layer = pm.base_model.model.proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(ours.lora_A.weight)
        layer.lora_B["default"].weight.copy_(ours.lora_B.weight)
    x = torch.randn(3, 5, 24)
    torch.testing.assert_close(ours(x), layer(x), atol=1e-6, rtol=1e-5)
    assert ours.scaling == layer.scaling["default"] == 2.0
    # Fresh init matches peft too: B = 0 makes the adapter a no-op, A is kaiming-uniform sized.
    fresh = LoRALinear.from_linear(base, rank=4, alpha=8, dropout=0.0)
    assert torch.all(fresh.lora_B.weight == 0)
    torch.testing.assert_close(fresh(x), base(x))
    bound = 1 / 24 ** 0.5  # kaiming_uniform(a=sqrt(5)) bound for fan_in 24
    assert fresh.lora_A.weight.abs().max() <= bound and fresh.lora_A.weight.abs().max() > bound / 2


def test_only_lora_params_trainable(tmp_path):
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(transformers.LlamaConfig(**BASE)).save_pretrained(tmp_path)
    model = apply_lora(load_pretrained(tmp_path), "all", r=4, alpha=8)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert len(trainable) == 2 * len(ALL_TARGETS) * BASE["num_hidden_layers"]
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in lora_state_dict(model)


def test_saved_adapter_loads_in_peft(tmp_path):
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**BASE)).eval()
    hf.save_pretrained(tmp_path / "base")
    ours = apply_lora(load_pretrained(tmp_path / "base"), ["q_proj", "v_proj", "down_proj"], r=4, alpha=16)
    randomise_lora(ours)
    save_adapter(ours, tmp_path / "adapter", base_model_name_or_path=str(tmp_path / "base"))

    cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["task_type"] == "CAUSAL_LM" and cfg["r"] == 4
    assert cfg["target_modules"] == ["down_proj", "q_proj", "v_proj"]

    pm = peft.PeftModel.from_pretrained(hf, str(tmp_path / "adapter")).eval()
    ids = torch.randint(0, BASE["vocab_size"], (2, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = ours.eval().logits(ids)
        got = pm(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)

    # Round trip through our own loader, and merging keeps the function.
    again = load_adapter(load_pretrained(tmp_path / "base"), tmp_path / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(again.logits(ids), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(merge_lora(again).logits(ids), expected, atol=1e-4, rtol=0)


def test_adapter_changes_output(tmp_path):
    """Guards the parity test: a random adapter must change logits, so a no-op load would fail."""
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(transformers.LlamaConfig(**BASE)).save_pretrained(tmp_path)
    plain = load_pretrained(tmp_path)
    adapted = apply_lora(load_pretrained(tmp_path), "all", r=4, alpha=8)
    randomise_lora(adapted)
    ids = torch.arange(10)[None]
    with torch.no_grad():
        assert (plain.logits(ids) - adapted.logits(ids)).abs().max() > 1e-2
