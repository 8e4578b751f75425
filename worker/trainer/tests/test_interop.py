"""(e) Interop with the Hugging Face ecosystem, per architecture:
checkpoint written by transformers -> our loader; adapter written by us -> peft; adapter written by peft -> ours."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from hf_tiny import make_hf, rand_ids, save_hf  # noqa: E402
from tuneboard_trainer.lora import apply_lora, load_adapter, save_adapter  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402

# Each architecture with a different LoRA variant, so every pairing of features is exercised somewhere.
CASES = [
    ("llama3.1", {}),
    ("llama3.2_tied", {"use_dora": True}),
    ("qwen2", {"use_rslora": True}),
    ("qwen2.5_tied", {"use_dora": True, "use_rslora": True}),
    ("qwen3", {"use_dora": True}),
    ("mistral_sliding", {"use_rslora": True, "use_dora": True}),
    ("gemma2", {}),
    ("gemma3", {"use_rslora": True}),
    ("phi3", {}),
    ("glm4", {"use_dora": True}),
    ("glm", {"use_rslora": True}),
    ("qwen3_moe", {}),
    ("mixtral", {"use_rslora": True}),
]
# Our adapters' targets per family: the fused families name their layers as peft does (qkv_proj, gate_up_proj).
OUR_TARGETS = {"phi3": ["qkv_proj", "o_proj", "gate_up_proj"], "glm4": ["q_proj", "k_proj", "o_proj", "gate_up_proj"],
               "glm": ["q_proj", "v_proj", "down_proj"],
               # MoE: attention (transformers stores the experts as 3-D tensors, not layers peft can wrap).
               "qwen3_moe": ["q_proj", "k_proj", "o_proj"], "mixtral": ["q_proj", "v_proj", "o_proj"]}
IDS = rand_ids((2, 14), seed=11)


def randomise(params, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in params:
            if "lora_magnitude_vector" in name:
                p.mul_(1 + 0.3 * torch.randn(p.shape, generator=g))
            elif "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.mark.parametrize("arch", sorted({a for a, _ in CASES}))
def test_transformers_checkpoint_loads_in_ours(tmp_path, arch):
    hf = make_hf(arch)
    hf.save_pretrained(tmp_path)  # transformers' own writer, default settings
    ours = load_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(ours.logits(IDS), hf(IDS).logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch,variant", CASES, ids=[a for a, _ in CASES])
def test_our_adapter_loads_in_peft(tmp_path, arch, variant):
    hf = save_hf(arch, tmp_path / "base")
    targets = OUR_TARGETS.get(arch, ["q_proj", "k_proj", "o_proj", "up_proj"])
    ours = apply_lora(load_pretrained(tmp_path / "base"), targets, r=4, alpha=8, **variant)
    randomise(ours.named_parameters(), seed=2)
    save_adapter(ours, tmp_path / "adapter", str(tmp_path / "base"))
    pm = peft.PeftModel.from_pretrained(hf, str(tmp_path / "adapter")).eval()
    with torch.no_grad():
        expected = ours.eval().logits(IDS)
        torch.testing.assert_close(pm(input_ids=IDS).logits, expected, atol=1e-4, rtol=0)
        assert (expected - load_pretrained(tmp_path / "base").logits(IDS)).abs().max() > 1e-2  # adapter matters


@pytest.mark.parametrize("arch,variant", CASES, ids=[a for a, _ in CASES])
def test_peft_adapter_loads_in_ours(tmp_path, arch, variant):
    hf = save_hf(arch, tmp_path / "base")
    # MoE: peft's "all-linear" also wraps transformers' 3-D expert tensors (ParamWrapper), which have no layer here.
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"] if arch in ("qwen3_moe", "mixtral") else "all-linear"
    cfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=targets, task_type="CAUSAL_LM",
                          **variant)
    pm = peft.get_peft_model(hf, cfg)
    randomise(pm.named_parameters(), seed=3)
    pm.save_pretrained(tmp_path / "peft")
    saved = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert saved["use_dora"] == bool(variant.get("use_dora")) and saved["use_rslora"] == bool(variant.get("use_rslora"))

    base = load_pretrained(tmp_path / "base")
    with torch.no_grad():
        plain = base.logits(IDS)
    ours = load_adapter(base, tmp_path / "peft").eval()
    with torch.no_grad():
        expected = pm.eval()(input_ids=IDS).logits
        got = ours.logits(IDS)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert (got - plain).abs().max() > 1e-2  # the adapter really was applied
    # Re-saved by us (keeping peft's full-path target_modules), it loads back to the same function.
    save_adapter(ours, tmp_path / "again")
    again = load_adapter(load_pretrained(tmp_path / "base"), tmp_path / "again").eval()
    with torch.no_grad():
        torch.testing.assert_close(again.logits(IDS), got, atol=1e-5, rtol=0)
