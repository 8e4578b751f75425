"""(b) LoRALinear == peft's LoRA layer (plain, rsLoRA, DoRA; forward, dropout and gradients);
(c) our saved adapter of each variant loads in peft and reproduces our logits; load_adapter and merge round-trip."""

import json
import math

import pytest
import torch

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from hf_tiny import BASE, rand_ids, save_hf  # noqa: E402
from tuneboard_trainer.lora import (  # noqa: E402
    ALL_TARGETS, LoRALinear, apply_lora, load_adapter, lora_state_dict, merge_lora, save_adapter,
)
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402

VARIANTS = {"plain": {}, "rslora": {"use_rslora": True}, "dora": {"use_dora": True},
            "rslora_dora": {"use_rslora": True, "use_dora": True}}


def randomise_lora(model, seed=0):
    """Random (non-zero) A, B and DoRA magnitude, so every adapter parameter changes outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lora_magnitude_vector"):
                p.mul_(1 + 0.3 * torch.randn(p.shape, generator=g))
            elif "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def peft_twin(base: torch.nn.Linear, ours: LoRALinear, r, alpha, dropout=0.0, **variant):
    """peft's LoRA layer around a copy of `base`, holding our layer's adapter weights."""
    wrapper = torch.nn.Sequential()
    wrapper.add_module("proj", torch.nn.Linear(base.in_features, base.out_features, bias=base.bias is not None))
    wrapper.proj.load_state_dict(base.state_dict())
    pm = peft.get_peft_model(wrapper, peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                                                      target_modules=["proj"], **variant))
    layer = pm.base_model.model.proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(ours.lora_A.weight)
        layer.lora_B["default"].weight.copy_(ours.lora_B.weight)
        if variant.get("use_dora"):
            layer.lora_magnitude_vector["default"].weight.copy_(ours.lora_magnitude_vector)
    return layer


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lora_linear_matches_peft(variant):
    kw = VARIANTS[variant]
    torch.manual_seed(0)
    base = torch.nn.Linear(24, 40, bias=True)
    with torch.no_grad():
        base.bias.normal_()
    fresh = LoRALinear.from_linear(base, rank=4, alpha=8, dropout=0.0, **kw)
    ours = LoRALinear.from_linear(base, rank=4, alpha=8, dropout=0.0, **kw)
    # DoRA init equals peft's: m = ||W|| row-wise while B = 0 (checked before randomising).
    fresh_peft = peft_twin(base, fresh, 4, 8, **kw)
    if kw.get("use_dora"):
        torch.testing.assert_close(fresh.lora_magnitude_vector, base.weight.norm(dim=1))
        torch.testing.assert_close(fresh.lora_magnitude_vector,
                                   fresh_peft.lora_magnitude_vector["default"].weight.detach())
    randomise_lora(ours, seed=1)
    layer = peft_twin(base, ours, 4, 8, **kw)
    assert ours.scaling == layer.scaling["default"] == (8 / math.sqrt(4) if kw.get("use_rslora") else 8 / 4)

    x = torch.randn(3, 5, 24, requires_grad=True)
    torch.testing.assert_close(ours(x), layer(x), atol=1e-6, rtol=1e-5)
    # Gradients too: DoRA's weight norm is detached in both, so A, B and the magnitude get the same grads.
    g = torch.randn(3, 5, 40)
    grads_ours = torch.autograd.grad(ours(x), [x, ours.lora_A.weight, ours.lora_B.weight], g)
    grads_peft = torch.autograd.grad(layer(x), [x, layer.lora_A["default"].weight, layer.lora_B["default"].weight], g)
    for a, b in zip(grads_ours, grads_peft):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    if kw.get("use_dora"):
        gm = torch.autograd.grad(ours(x), ours.lora_magnitude_vector, g)[0]
        gm_peft = torch.autograd.grad(layer(x), layer.lora_magnitude_vector["default"].weight, g)[0]
        torch.testing.assert_close(gm, gm_peft, atol=1e-5, rtol=1e-4)

    # Fresh init matches peft too: B = 0 makes the adapter a no-op, A is kaiming-uniform sized.
    assert torch.all(fresh.lora_B.weight == 0)
    torch.testing.assert_close(fresh(x), base(x))
    bound = 1 / 24 ** 0.5  # kaiming_uniform(a=sqrt(5)) bound for fan_in 24
    assert fresh.lora_A.weight.abs().max() <= bound and fresh.lora_A.weight.abs().max() > bound / 2


@pytest.mark.parametrize("variant", ["plain", "dora"])
def test_dropout_matches_peft_in_train_mode(variant):
    """Same RNG state -> same dropout mask; DoRA recomputes the base product on the dropped-out input, like peft."""
    kw = VARIANTS[variant]
    torch.manual_seed(0)
    base = torch.nn.Linear(16, 12, bias=True)
    ours = LoRALinear.from_linear(base, rank=4, alpha=8, dropout=0.5, **kw)
    randomise_lora(ours, seed=2)
    layer = peft_twin(base, ours, 4, 8, dropout=0.5, **kw)
    ours.train()
    layer.train()
    x = torch.randn(4, 16)
    torch.manual_seed(7)
    a = ours(x)
    torch.manual_seed(7)
    b = layer(x)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    ours.eval()
    assert (ours(x) - a).abs().max() > 1e-3  # dropout was really active in train mode


@pytest.mark.parametrize("variant", ["plain", "dora"])
def test_only_lora_params_trainable(tmp_path, variant):
    save_hf("llama2", tmp_path)
    model = apply_lora(load_pretrained(tmp_path), "all", r=4, alpha=8, **VARIANTS[variant])
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    per_layer = 3 if variant == "dora" else 2
    llama_targets = [t for t in ALL_TARGETS if t not in ("qkv_proj", "gate_up_proj")]  # the fused ones are Phi-3's
    assert len(trainable) == per_layer * len(llama_targets) * BASE["num_hidden_layers"]
    assert model.lora_config["target_modules"] == llama_targets  # adapter_config.json lists what was wrapped
    assert all(".lora_A." in n or ".lora_B." in n or n.endswith(".lora_magnitude_vector") for n in trainable)
    keys = lora_state_dict(model)
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in keys
    assert ("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector" in keys) == (variant == "dora")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_saved_adapter_loads_in_peft(tmp_path, variant):
    kw = VARIANTS[variant]
    hf = save_hf("llama2", tmp_path / "base")
    ours = apply_lora(load_pretrained(tmp_path / "base"), ["q_proj", "v_proj", "down_proj"], r=4, alpha=16, **kw)
    randomise_lora(ours)
    save_adapter(ours, tmp_path / "adapter", base_model_name_or_path=str(tmp_path / "base"))

    cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["task_type"] == "CAUSAL_LM" and cfg["r"] == 4
    assert cfg["target_modules"] == ["down_proj", "q_proj", "v_proj"]
    assert cfg["use_rslora"] == bool(kw.get("use_rslora")) and cfg["use_dora"] == bool(kw.get("use_dora"))

    pm = peft.PeftModel.from_pretrained(hf, str(tmp_path / "adapter")).eval()
    ids = rand_ids((2, 12), seed=5)
    with torch.no_grad():
        expected = ours.eval().logits(ids)
        got = pm(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    layer = pm.base_model.model.model.layers[0].self_attn.q_proj
    assert layer.scaling["default"] == ours.model.layers[0].self_attn.q_proj.scaling

    # Round trip through our own loader, and merging keeps the function.
    again = load_adapter(load_pretrained(tmp_path / "base"), tmp_path / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(again.logits(ids), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(merge_lora(again).logits(ids), expected, atol=1e-4, rtol=0)
    assert not any(isinstance(m, LoRALinear) for m in again.modules())


def test_peft_saved_key_names_equal_ours(tmp_path):
    """peft 0.21's on-disk names (incl. DoRA's `...q_proj.lora_magnitude_vector`) are exactly the keys we write."""
    from safetensors.torch import load_file

    hf = save_hf("llama2", tmp_path / "base")
    pm = peft.get_peft_model(hf, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "up_proj"],
                                                 use_dora=True, task_type="CAUSAL_LM"))
    pm.save_pretrained(tmp_path / "peft")
    theirs = set(load_file(str(tmp_path / "peft" / "adapter_model.safetensors")))
    ours = apply_lora(load_pretrained(tmp_path / "base"), ["q_proj", "up_proj"], r=4, alpha=8, use_dora=True)
    assert set(lora_state_dict(ours)) == theirs
    assert "base_model.model.model.layers.1.mlp.up_proj.lora_magnitude_vector" in theirs


@pytest.mark.parametrize("variant", ["rslora", "dora"])
def test_variant_changes_output(variant):
    """Guards the variant parity tests: rsLoRA's scaling and DoRA's magnitude really change the output."""
    torch.manual_seed(0)
    base = torch.nn.Linear(16, 12)
    plain = LoRALinear.from_linear(base, rank=4, alpha=8, dropout=0.0)
    randomise_lora(plain, seed=3)
    other = LoRALinear.from_linear(base, rank=4, alpha=8, dropout=0.0, **VARIANTS[variant])
    other.load_state_dict(plain.state_dict(), strict=False)
    if variant == "dora":
        other.init_dora_magnitude()
        x = torch.randn(4, 16)
        torch.testing.assert_close(other(x), plain(x), atol=1e-5, rtol=1e-5)  # m = ||W + sBA||: equals plain LoRA
        with torch.no_grad():
            other.lora_magnitude_vector.mul_(1.5)
    x = torch.randn(4, 16)
    assert (other(x) - plain(x)).abs().max() > 1e-2


def test_adapter_changes_output(tmp_path):
    """Guards the parity test: a random adapter must change logits, so a no-op load would fail."""
    save_hf("llama2", tmp_path)
    plain = load_pretrained(tmp_path)
    adapted = apply_lora(load_pretrained(tmp_path), "all", r=4, alpha=8)
    randomise_lora(adapted)
    ids = torch.arange(10)[None]
    with torch.no_grad():
        assert (plain.logits(ids) - adapted.logits(ids)).abs().max() > 1e-2


def test_load_adapter_rejects_unsupported_options(tmp_path):
    save_hf("llama2", tmp_path / "base")
    ours = apply_lora(load_pretrained(tmp_path / "base"), ["q_proj"], r=2, alpha=4)
    save_adapter(ours, tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps({**cfg, "rank_pattern": {"q_proj": 8}}))
    with pytest.raises(ValueError, match="rank_pattern"):
        load_adapter(load_pretrained(tmp_path / "base"), tmp_path / "a")


def test_load_adapter_accepts_state_dict_style_keys(tmp_path):
    """Adapters written from a peft state_dict carry the adapter name (`lora_A.default.weight`,
    `lora_magnitude_vector.default.weight`); they load to the same function."""
    from safetensors.torch import load_file, save_file

    save_hf("llama2", tmp_path / "base")
    ours = apply_lora(load_pretrained(tmp_path / "base"), ["q_proj", "o_proj"], r=2, alpha=4, use_dora=True)
    randomise_lora(ours)
    save_adapter(ours, tmp_path / "a")
    f = tmp_path / "a" / "adapter_model.safetensors"
    sd = load_file(str(f))
    renamed = {k.replace(".weight", ".default.weight") if ".lora_" in k and not k.endswith("vector")
               else k + ".default.weight": v for k, v in sd.items()}
    assert any(k.endswith("lora_magnitude_vector.default.weight") for k in renamed)
    save_file(renamed, str(f))
    again = load_adapter(load_pretrained(tmp_path / "base"), tmp_path / "a").eval()
    ids = rand_ids((1, 8), seed=2)
    with torch.no_grad():
        torch.testing.assert_close(again.logits(ids), ours.eval().logits(ids), atol=1e-5, rtol=0)
