"""(a) Our model's logits equal transformers' for every supported architecture, loaded from the same checkpoint;
masks (padding, packed block-diagonal, sliding window) behave like running the sequences separately."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import (  # noqa: E402
    ARCHS, BASE, LLAMA3_ROPE, assert_kv_cache_decoding_matches_full_forward, make_hf, rand_ids, save_hf,
)
from tuneboard_trainer.model import SUPPORTED_ARCHITECTURES, UnsupportedModelError  # noqa: E402
from tuneboard_trainer.loss import lm_loss  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402

V = BASE["vocab_size"]


@pytest.mark.parametrize("arch", list(ARCHS))
def test_logits_match_transformers(tmp_path, arch):
    hf = save_hf(arch, tmp_path)
    ours = load_pretrained(tmp_path)
    ids = rand_ids((2, 24))
    with torch.no_grad():
        expected = hf(ids).logits
        got = ours.logits(ids)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert type(hf).__name__ in SUPPORTED_ARCHITECTURES
    if hf.config.tie_word_embeddings:
        assert ours.lm_head.weight is ours.model.embed_tokens.weight


def test_architecture_features_are_read():
    """Guards the parity test: each family's distinguishing feature is actually present in the loaded model."""
    from tuneboard_trainer.model import ModelConfig

    def cfg(arch):
        return ModelConfig.from_hf(make_hf(arch).config.to_dict())

    q2, q3, ms, qs = cfg("qwen2"), cfg("qwen3"), cfg("mistral_sliding"), cfg("qwen2_sliding")
    assert (q2.qkv_bias, q2.o_bias) == (True, False)
    assert q3.qk_norm and q3.head_dim == 16 and q3.num_attention_heads * q3.head_dim != q3.hidden_size
    assert [ms.layer_window(i) for i in range(2)] == [5, 5]
    assert [qs.layer_window(i) for i in range(2)] == [None, 5]
    assert cfg("llama3.1").rope_scaling["rope_type"] == "llama3"
    # Qwen configs carry a sliding_window value that is off unless use_sliding_window is set.
    # (max_window_layers 0: were use_sliding_window ignored, every layer would slide.)
    q2_dict = {**make_hf("qwen2").config.to_dict(), "sliding_window": 4, "layer_types": None, "max_window_layers": 0}
    assert ModelConfig.from_hf(q2_dict).layer_window(1) is None
    assert ModelConfig.from_hf({**q2_dict, "use_sliding_window": True}).layer_window(0) == 4


@pytest.mark.parametrize("arch", ["llama2", "mistral_sliding", "qwen3"])
def test_left_padding_mask_matches_transformers(tmp_path, arch):
    hf = save_hf(arch, tmp_path)
    ours = load_pretrained(tmp_path)
    ids = rand_ids((2, 20), seed=2)
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, :6] = 0  # left padding in row 1
    with torch.no_grad():
        expected = hf(ids, attention_mask=mask).logits
        got = ours.logits(ids, attention_mask=mask)
    assert not got.isnan().any()
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-4, rtol=0)


def block_diagonal(lengths, total):
    """(1, 1, total, total) causal mask with one block per segment; padding rows/cols attend nothing."""
    mask = torch.zeros(total, total, dtype=torch.bool)
    pos = torch.zeros(total, dtype=torch.long)
    s = 0
    for n in lengths:
        mask[s:s + n, s:s + n] = torch.ones(n, n, dtype=torch.bool).tril()
        pos[s:s + n] = torch.arange(n)
        s += n
    return mask[None, None], pos[None]


@pytest.mark.parametrize("arch", ["llama3.1", "qwen3", "mistral_sliding"])
def test_packed_block_diagonal_mask_equals_separate_runs(tmp_path, arch):
    save_hf(arch, tmp_path)
    ours = load_pretrained(tmp_path)
    lengths = [7, 9, 4]  # 9 > sliding window 5: the window must still apply inside a segment
    total = sum(lengths) + 3  # trailing padding: rows that may attend nothing must not produce NaN
    ids = rand_ids((1, total), seed=3)
    mask, pos = block_diagonal(lengths, total)
    with torch.no_grad():
        packed = ours.logits(ids, position_ids=pos, attention_mask=mask)
        assert not packed.isnan().any()
        s = 0
        for n in lengths:
            alone = ours.logits(ids[:, s:s + n])
            torch.testing.assert_close(packed[:, s:s + n], alone, atol=1e-5, rtol=0)
            s += n
        # Guard: without the mask, later segments see earlier ones and differ.
        unmasked = ours.logits(ids, position_ids=pos)
        assert (unmasked[:, 7:16] - packed[:, 7:16]).abs().max() > 1e-3


def test_4d_mask_batch_and_validation(tmp_path):
    save_hf("llama2", tmp_path)
    ours = load_pretrained(tmp_path)
    ids = rand_ids((2, 10), seed=4)
    causal = torch.ones(10, 10, dtype=torch.bool).tril()[None, None].expand(2, 1, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(ours.logits(ids, attention_mask=causal), ours.logits(ids), atol=1e-5, rtol=0)
        with pytest.raises(TypeError, match="boolean"):
            ours(ids, attention_mask=causal.float())
        with pytest.raises(ValueError, match="1, 10, 10"):
            ours(ids, attention_mask=causal[:, :, :9])


def test_sliding_window_changes_logits(tmp_path):
    """Guards the sliding-window parity: same weights without the window give different logits past it."""
    save_hf("mistral_sliding", tmp_path / "w")
    save_hf("mistral", tmp_path / "full")
    ids = rand_ids((1, 16), seed=5)
    with torch.no_grad():
        a, b = load_pretrained(tmp_path / "w").logits(ids), load_pretrained(tmp_path / "full").logits(ids)
    torch.testing.assert_close(a[:, :5], b[:, :5], atol=1e-5, rtol=0)  # inside the window: identical
    assert (a[:, 5:] - b[:, 5:]).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ["mistral_sliding", "qwen3"])
def test_kv_cache_decoding_matches_full_forward(tmp_path, arch):
    save_hf(arch, tmp_path)
    assert_kv_cache_decoding_matches_full_forward(load_pretrained(tmp_path))


def test_llama3_rope_scaling_changes_logits(tmp_path):
    """Guards the parity test above: if scaling were ignored, logits would differ from plain RoPE."""
    save_hf("llama2", tmp_path / "a")
    save_hf("llama3.1", tmp_path / "b")
    ids = torch.arange(48)[None] % V
    with torch.no_grad():
        a, b = load_pretrained(tmp_path / "a").logits(ids), load_pretrained(tmp_path / "b").logits(ids)
    assert (a - b).abs().max() > 1e-3
    assert LLAMA3_ROPE["original_max_position_embeddings"] < 48


@pytest.mark.parametrize("arch", ["llama2", "qwen3", "gemma3", "phi3", "glm4"])
def test_sharded_checkpoint_loads(tmp_path, arch):
    hf = make_hf(arch)
    hf.save_pretrained(tmp_path, max_shard_size="20KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1 and not (tmp_path / "model.safetensors").exists()
    ids = torch.arange(10)[None]
    with torch.no_grad():
        torch.testing.assert_close(load_pretrained(tmp_path).logits(ids), hf(ids).logits, atol=1e-4, rtol=0)


def test_loss_matches_transformers_and_only_counts_labels(tmp_path):
    hf = save_hf("qwen2", tmp_path)
    ours = load_pretrained(tmp_path)
    ids = rand_ids((2, 30), seed=3)
    labels = ids.clone()
    labels[:, :12] = -100
    labels[1, 25:] = -100
    expected = hf(ids, labels=labels).loss
    total, n = lm_loss(ours, ours(ids), labels, chunk=7)  # chunk smaller than N: exercises chunking
    assert n == int((labels[:, 1:] != -100).sum())
    torch.testing.assert_close(total / n, expected, atol=1e-5, rtol=0)


def test_loss_gradient_matches_autograd(tmp_path):
    """The fused chunked cross-entropy backward equals plain autograd on full logits."""
    save_hf("llama3.2_tied", tmp_path)
    ours = load_pretrained(tmp_path)
    ours.lm_head.weight.requires_grad_(True)
    ids = rand_ids((2, 16), seed=4)
    labels = ids.clone()
    labels[:, :5] = -100
    h = ours(ids).detach().requires_grad_(True)
    total, n = lm_loss(ours, h, labels, chunk=5)
    (total / n).backward()
    got_h, got_w = h.grad.clone(), ours.lm_head.weight.grad.clone()
    h.grad = None
    ours.lm_head.weight.grad = None
    ref = torch.nn.functional.cross_entropy(ours.lm_head(h)[:, :-1].reshape(-1, V),
                                            labels[:, 1:].reshape(-1), ignore_index=-100)
    ref.backward()
    torch.testing.assert_close(got_h, h.grad, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(got_w, ours.lm_head.weight.grad, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("arch", ["GemmaForCausalLM", "Qwen2MoeForCausalLM"])
def test_unsupported_architecture_is_named(tmp_path, arch):
    save_hf("llama2", tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["architectures"] = [arch]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedModelError, match=arch):
        load_pretrained(tmp_path)
    assert SUPPORTED_ARCHITECTURES == ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                                       "MistralForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM",
                                       "Phi3ForCausalLM", "GlmForCausalLM", "Glm4ForCausalLM",
                                       "Qwen3MoeForCausalLM", "MixtralForCausalLM")
