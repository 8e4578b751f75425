"""(d) Fine-tuning methods: which parameters train (lora / freeze / full), and what `save_trained` writes
loads back in transformers / peft with our logits."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from hf_tiny import BASE, rand_ids, save_hf  # noqa: E402
from tuneboard_trainer.lora import LoRALinear, merge_lora  # noqa: E402
from tuneboard_trainer.methods import (  # noqa: E402
    LoraSettings, count_params, freeze_trainable_names, prepare_model, save_trained,
)
from tuneboard_trainer.loss import lm_loss  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402

THREE_LAYERS = dict(num_hidden_layers=3)


@pytest.fixture
def base_dir(tmp_path):
    d = tmp_path / "base"
    save_hf("qwen2", d, **THREE_LAYERS)
    (d / "tokenizer.json").write_text('{"fake": true}')  # tokenizer files are copied, not parsed
    (d / "tokenizer_config.json").write_text("{}")
    return d


def trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def sgd_step(model, seed=0):
    """One optimizer step on trainable parameters; returns the parameter values from before it."""
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = rand_ids((2, 12), seed=seed)
    total, n = lm_loss(model, model(ids), ids)
    (total / n).backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
    return before


def test_lora_method_trains_only_adapter(base_dir):
    model = load_pretrained(base_dir)
    n_train, n_total = prepare_model(model, "lora", lora=LoraSettings(targets=["q_proj", "v_proj"], r=4, alpha=8,
                                                                      use_dora=True))
    layers = model.model.layers
    expected = sum(m.lora_A.weight.numel() + m.lora_B.weight.numel() + m.lora_magnitude_vector.numel()
                   for layer in layers for m in (layer.self_attn.q_proj, layer.self_attn.v_proj))
    assert (n_train, n_total) == (expected, count_params(model)[1]) and n_train > 0
    assert all("lora_" in n for n in trainable(model))
    with torch.no_grad():  # B = 0 at init would leave A without gradient
        for layer in layers:
            layer.self_attn.q_proj.lora_B.weight.normal_(0, 0.1)
            layer.self_attn.v_proj.lora_B.weight.normal_(0, 0.1)
    before = sgd_step(model)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) != ("lora_" in n), n  # adapters moved, everything else did not
    # dict form works too
    m2 = load_pretrained(base_dir)
    prepare_model(m2, "lora", lora={"targets": "all", "r": 2, "alpha": 4, "use_rslora": True})
    assert m2.model.layers[0].mlp.down_proj.scaling == 4 / 2 ** 0.5


@pytest.mark.parametrize("n,modules,expect", [
    (2, "all", lambda name: name.startswith(("model.layers.1.", "model.layers.2."))),
    (1, ["mlp"], lambda name: name.startswith("model.layers.2.mlp.")),
    (-1, ["self_attn", "input_layernorm"],
     lambda name: name.startswith(("model.layers.0.self_attn.", "model.layers.0.input_layernorm."))),
    (1, ["q_proj", "mlp.down_proj"],
     lambda name: name.startswith(("model.layers.2.self_attn.q_proj.", "model.layers.2.mlp.down_proj."))),
])
def test_freeze_selects_last_layers_and_modules(base_dir, n, modules, expect):
    model = load_pretrained(base_dir)
    n_train, n_total = prepare_model(model, "freeze", freeze_trainable_layers=n, freeze_trainable_modules=modules)
    names = [name for name, _ in model.named_parameters()]
    want = {name for name in names if expect(name)}
    assert want and trainable(model) == want
    assert n_train == sum(p.numel() for name, p in model.named_parameters() if name in want)
    assert n_total == sum(p.numel() for p in model.parameters())
    before = sgd_step(model)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) != (name in want), name


def test_freeze_extra_modules_and_errors(base_dir):
    model = load_pretrained(base_dir)
    names = freeze_trainable_names(model, 1, "all", freeze_extra_modules=["norm", "embed_tokens"])
    assert "model.norm.weight" in names and "model.embed_tokens.weight" in names
    assert not any(n.startswith(("model.layers.0.", "model.layers.1.")) for n in names)
    with pytest.raises(ValueError, match="mlpp"):
        freeze_trainable_names(model, 2, ["mlpp"])
    with pytest.raises(ValueError, match="proj"):
        freeze_trainable_names(model, 2, ["proj"])  # whole dotted components only: 'proj' is no module name
    with pytest.raises(ValueError, match="freeze_trainable_layers"):
        freeze_trainable_names(model, 4)
    with pytest.raises(ValueError, match="unknown finetuning method"):
        prepare_model(model, "qlora")


def test_full_method_trains_everything(base_dir):
    model = load_pretrained(base_dir)
    n_train, n_total = prepare_model(model, "full")
    assert n_train == n_total == sum(p.numel() for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("method,arch,shard_bytes", [
    ("full", "qwen2", 10**9),  # one file
    ("freeze", "qwen2", 20_000),  # several shards + index
    ("full", "qwen3", 20_000),  # tied embeddings: lm_head.weight is not written, transformers re-ties it
])
def test_saved_model_loads_in_transformers(tmp_path, method, arch, shard_bytes):
    base = tmp_path / "base"
    save_hf(arch, base, **THREE_LAYERS)
    (base / "tokenizer.json").write_text('{"fake": true}')
    model = load_pretrained(base)
    prepare_model(model, method, freeze_trainable_layers=1)
    sgd_step(model)  # so the saved weights differ from the base checkpoint
    out = save_trained(model, tmp_path / "out", method, base, max_shard_bytes=shard_bytes)

    index = out / "model.safetensors.index.json"
    if shard_bytes < 10**6:
        weight_map = json.loads(index.read_text())["weight_map"]
        assert len(set(weight_map.values())) > 1 and not (out / "model.safetensors").exists()
        assert all((out / f).exists() for f in weight_map.values())
        assert ("lm_head.weight" in weight_map) == (not model.config.tie_word_embeddings)
    else:
        assert (out / "model.safetensors").exists() and not index.exists()
    assert json.loads((out / "config.json").read_text()) == json.loads((base / "config.json").read_text())
    assert (out / "tokenizer.json").read_text() == '{"fake": true}'

    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ids = rand_ids((2, 16), seed=9)
    with torch.no_grad():
        ours = model.eval().logits(ids)
        torch.testing.assert_close(hf(ids).logits, ours, atol=1e-4, rtol=0)
        base_logits = load_pretrained(base).logits(ids)
    assert (ours - base_logits).abs().max() > 1e-3  # training changed the function, and that is what was saved
    assert load_pretrained(out).state_dict().keys() == model.state_dict().keys()


def test_lora_save_trained_writes_peft_adapter(base_dir, tmp_path):
    model = load_pretrained(base_dir)
    prepare_model(model, "lora", lora=LoraSettings(r=4, alpha=8, use_rslora=True))
    sgd_step(model)
    out = save_trained(model, tmp_path / "adapter", "lora", base_dir)
    assert (out / "adapter_config.json").exists() and (out / "tokenizer_config.json").exists()
    pm = peft.PeftModel.from_pretrained(transformers.AutoModelForCausalLM.from_pretrained(base_dir), str(out)).eval()
    ids = rand_ids((1, 10), seed=4)
    with torch.no_grad():
        torch.testing.assert_close(pm(input_ids=ids).logits, model.eval().logits(ids), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="merge_lora"):
        save_trained(model, tmp_path / "x", "full", base_dir)


@pytest.mark.parametrize("variant", [{"use_rslora": True}, {"use_dora": True}, {"use_dora": True, "use_rslora": True}])
def test_merged_export_of_lora_variants_loads_in_transformers(base_dir, tmp_path, variant):
    model = load_pretrained(base_dir)
    prepare_model(model, "lora", lora={"r": 4, "alpha": 8, **variant})
    with torch.no_grad():  # random adapter, random DoRA magnitude
        g = torch.Generator().manual_seed(1)
        for n, p in model.named_parameters():
            p.copy_(p * (1 + 0.3 * torch.randn(p.shape, generator=g)) if n.endswith("magnitude_vector")
                    else torch.randn(p.shape, generator=g) * 0.1 if "lora_" in n else p)
    ids = rand_ids((2, 12), seed=6)
    with torch.no_grad():
        expected = model.eval().logits(ids)
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    out = save_trained(model, tmp_path / "merged", "full", base_dir)
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, expected, atol=1e-4, rtol=0)


def test_save_casts_to_config_dtype(base_dir, tmp_path):
    """A bf16 base trained with fp32 master weights is exported in bf16, as its config.json says."""
    from safetensors.torch import load_file

    cfg = json.loads((base_dir / "config.json").read_text())
    (base_dir / "config.json").write_text(json.dumps({**cfg, "dtype": "bfloat16"}))
    model = load_pretrained(base_dir)
    prepare_model(model, "full")
    out = save_trained(model, tmp_path / "out", "full", base_dir)
    sd = load_file(str(out / "model.safetensors"))
    assert {v.dtype for v in sd.values()} == {torch.bfloat16}
    assert next(model.parameters()).dtype == torch.float32  # the live model is untouched
    assert BASE["vocab_size"] == sd["model.embed_tokens.weight"].shape[0]
