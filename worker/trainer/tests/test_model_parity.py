"""(a) Our model's logits equal transformers' LlamaForCausalLM loaded from the same checkpoint."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from tuneboard_trainer.model import UnsupportedModelError, load_pretrained, lm_loss  # noqa: E402

BASE = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rope_theta=10000.0, max_position_embeddings=256)
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               # Short original context, so positions in a 48-token test hit every band of the scaling.
               "original_max_position_embeddings": 16}
VARIANTS = {
    "plain": {},
    "llama3_rope": {"rope_scaling": LLAMA3_ROPE},
    "tied_with_bias": {"tie_word_embeddings": True, "attention_bias": True, "mlp_bias": True},
}


def save_hf(tmp_path, **overrides):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(**{**BASE, **overrides})
    hf = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # HF zero-inits biases; randomise them so they are actually tested
        for n, p in hf.named_parameters():
            if n.endswith("bias") or "norm" in n:
                p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(tmp_path)
    return hf


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_logits_match_transformers(tmp_path, variant):
    hf = save_hf(tmp_path, **VARIANTS[variant])
    ours = load_pretrained(tmp_path)
    ids = torch.randint(0, BASE["vocab_size"], (2, 48), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(ids).logits
        got = ours.logits(ids)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    if variant == "tied_with_bias":
        assert ours.lm_head.weight is ours.model.embed_tokens.weight


def test_left_padding_mask_matches_transformers(tmp_path):
    hf = save_hf(tmp_path)
    ours = load_pretrained(tmp_path)
    ids = torch.randint(0, BASE["vocab_size"], (2, 20), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, :6] = 0  # left padding in row 1
    with torch.no_grad():
        expected = hf(ids, attention_mask=mask).logits
        got = ours.logits(ids, attention_mask=mask)
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-4, rtol=0)


def test_llama3_rope_scaling_changes_logits(tmp_path):
    """Guards the parity test above: if scaling were ignored, logits would differ from plain RoPE."""
    save_hf(tmp_path / "a")
    save_hf(tmp_path / "b", rope_scaling=LLAMA3_ROPE)
    ids = torch.arange(48)[None] % BASE["vocab_size"]
    with torch.no_grad():
        a, b = load_pretrained(tmp_path / "a").logits(ids), load_pretrained(tmp_path / "b").logits(ids)
    assert (a - b).abs().max() > 1e-3


def test_sharded_checkpoint_loads(tmp_path):
    hf = save_hf(tmp_path / "full")
    hf.save_pretrained(tmp_path / "sharded", max_shard_size="100KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    ids = torch.arange(10)[None]
    with torch.no_grad():
        torch.testing.assert_close(load_pretrained(tmp_path / "sharded").logits(ids), hf(ids).logits,
                                   atol=1e-4, rtol=0)


def test_loss_matches_transformers_and_only_counts_labels(tmp_path):
    hf = save_hf(tmp_path)
    ours = load_pretrained(tmp_path)
    ids = torch.randint(0, BASE["vocab_size"], (2, 30), generator=torch.Generator().manual_seed(3))
    labels = ids.clone()
    labels[:, :12] = -100
    labels[1, 25:] = -100
    expected = hf(ids, labels=labels).loss
    total, n = lm_loss(ours, ours(ids), labels, chunk=7)  # chunk smaller than N: exercises chunking
    assert n == int((labels[:, 1:] != -100).sum())
    torch.testing.assert_close(total / n, expected, atol=1e-5, rtol=0)


def test_loss_gradient_matches_autograd(tmp_path):
    """The fused chunked cross-entropy backward equals plain autograd on full logits."""
    save_hf(tmp_path, tie_word_embeddings=True)
    ours = load_pretrained(tmp_path)
    ours.lm_head.weight.requires_grad_(True)
    ids = torch.randint(0, BASE["vocab_size"], (2, 16), generator=torch.Generator().manual_seed(4))
    labels = ids.clone()
    labels[:, :5] = -100
    h = ours(ids).detach().requires_grad_(True)
    total, n = lm_loss(ours, h, labels, chunk=5)
    (total / n).backward()
    got_h, got_w = h.grad.clone(), ours.lm_head.weight.grad.clone()
    h.grad = None
    ours.lm_head.weight.grad = None
    ref = torch.nn.functional.cross_entropy(ours.lm_head(h)[:, :-1].reshape(-1, BASE["vocab_size"]),
                                            labels[:, 1:].reshape(-1), ignore_index=-100)
    ref.backward()
    torch.testing.assert_close(got_h, h.grad, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(got_w, ours.lm_head.weight.grad, atol=1e-6, rtol=1e-4)


def test_unsupported_architecture_is_named(tmp_path):
    save_hf(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["architectures"] = ["MistralForCausalLM"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedModelError, match="MistralForCausalLM"):
        load_pretrained(tmp_path)
