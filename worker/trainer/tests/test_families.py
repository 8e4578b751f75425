"""Families beyond the Llama layout (Gemma 2/3, Phi-3, GLM, Qwen3-MoE, Mixtral): the features that set each apart really change the logits
(so the parity tests in test_model_parity.py test something), the soft-capped loss and its gradient are
transformers' / autograd's, masks and the KV cache behave as in the Llama family, and a short training run
through the trainer lowers the loss and resumes exactly."""

import io
import json
import shutil

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import assert_kv_cache_decoding_matches_full_forward, make_hf, rand_ids, save_hf  # noqa: E402
from test_train import make_cfg, run_events  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402
from tuneboard_trainer.loss import lm_loss  # noqa: E402
from tuneboard_trainer.model import ModelConfig  # noqa: E402

FAMILIES = ["gemma2", "gemma3", "phi3", "glm4", "glm", "qwen3_moe", "mixtral"]
ARCH = {"gemma2": "Gemma2ForCausalLM", "gemma3": "Gemma3ForCausalLM", "phi3": "Phi3ForCausalLM",
        "glm4": "Glm4ForCausalLM", "glm": "GlmForCausalLM", "qwen3_moe": "Qwen3MoeForCausalLM",
        "mixtral": "MixtralForCausalLM"}


def logits_with(tmp_path, arch, **config_changes):
    """Logits of `arch`'s tiny checkpoint with config.json edited (same weights)."""
    d = tmp_path / f"{arch}-{len(list(tmp_path.iterdir()))}"
    save_hf(arch, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(config_changes)
    (d / "config.json").write_text(json.dumps(cfg))
    with torch.no_grad():
        return load_pretrained(d).logits(rand_ids((1, 24), seed=5))


def test_gemma_config_is_read():
    g2 = ModelConfig.from_hf(make_hf("gemma2").config.to_dict())
    g3 = ModelConfig.from_hf(make_hf("gemma3").config.to_dict())
    assert (g2.attn_logit_softcapping, g2.final_logit_softcapping, g2.query_pre_attn_scalar) == (0.5, 1.0, 12.0)
    assert [g2.layer_window(i) for i in range(3)] == [5, None, 5]  # alternating sliding / global
    assert g2.hidden_act == "gelu_pytorch_tanh" and g2.tie_word_embeddings and not g2.qk_norm
    assert g3.qk_norm and g3.attn_logit_softcapping is None and g3.final_logit_softcapping is None
    assert (g3.rope_theta, g3.local_rope_theta, g3.rope_scaling["factor"]) == (1000.0, 50.0, 2.0)


def test_gemma_transformers4_config_layout():
    """Older config.json files: no layer_types (a pattern instead), rope_local_base_freq, rope_scaling."""
    base = make_hf("gemma3").config.to_dict()
    for k in ("layer_types", "rope_parameters"):
        base.pop(k)
    old = {**base, "sliding_window_pattern": 2, "rope_theta": 1000.0, "rope_local_base_freq": 50.0,
           "rope_scaling": {"rope_type": "linear", "factor": 2.0}}
    g3 = ModelConfig.from_hf(old)
    assert [g3.layer_window(i) for i in range(3)] == [5, None, 5]
    assert (g3.rope_theta, g3.local_rope_theta, g3.rope_scaling["factor"]) == (1000.0, 50.0, 2.0)


def test_gemma_features_change_logits(tmp_path):
    """Guards the parity tests: switching any one Gemma feature off moves the logits."""
    g2 = logits_with(tmp_path, "gemma2")
    for change in ({"attn_logit_softcapping": None}, {"final_logit_softcapping": None},
                   {"query_pre_attn_scalar": 8}, {"sliding_window": 64}):
        assert (logits_with(tmp_path, "gemma2", **change) - g2).abs().max() > 1e-3, change
    g3 = logits_with(tmp_path, "gemma3")
    local = {"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000.0},
             "sliding_attention": {"rope_type": "default", "rope_theta": 1000.0}}
    unscaled = {"full_attention": {"rope_type": "default", "rope_theta": 1000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 50.0}}
    for change in ({"rope_parameters": local}, {"rope_parameters": unscaled}):
        assert (logits_with(tmp_path, "gemma3", **change) - g3).abs().max() > 1e-3, change


def test_phi3_and_glm_features_change_logits(tmp_path):
    """Guards the parity tests: partial rotary is read (Phi-4-mini 0.75, GLM 0.5) and GLM's q/k/v biases exist."""
    for arch, partial in (("phi3", 0.75), ("glm4", 0.5), ("glm", 0.5)):
        cfg = ModelConfig.from_hf(make_hf(arch).config.to_dict())
        assert cfg.partial_rotary_factor == partial
        full = {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0}}
        assert (logits_with(tmp_path, arch, **full) - logits_with(tmp_path, arch)).abs().max() > 1e-3, arch
    glm = ModelConfig.from_hf(make_hf("glm4").config.to_dict())
    assert (glm.qkv_bias, glm.o_bias) == (True, False)


def test_lora_targets_a_family_lacks_are_named_with_the_ones_it_has(tmp_path):
    from tuneboard_trainer.lora import apply_lora

    save_hf("phi3", tmp_path)
    with pytest.raises(ValueError, match="lora_target: Phi3ForCausalLM has no q_proj, v_proj layers; its LoRA "
                                         "targets are down_proj, gate_up_proj, o_proj, qkv_proj"):
        apply_lora(load_pretrained(tmp_path), ["q_proj", "v_proj", "o_proj"])
    wrapped = apply_lora(load_pretrained(tmp_path), "all")  # "all": every layer this family has
    assert {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in wrapped.named_parameters() if "lora_A" in n} == {
        "qkv_proj", "o_proj", "gate_up_proj", "down_proj"}


@pytest.mark.parametrize("arch", FAMILIES)
def test_softcapped_loss_and_gradient(tmp_path, arch):
    """lm_loss equals transformers' loss, and its fused backward equals autograd through the full logits."""
    hf = save_hf(arch, tmp_path)
    ours = load_pretrained(tmp_path)
    ids = rand_ids((2, 20), seed=3)
    labels = ids.clone()
    labels[:, :6] = -100
    h = ours(ids).detach().requires_grad_(True)
    total, n = lm_loss(ours, h, labels, chunk=7)
    torch.testing.assert_close(total / n, hf(ids, labels=labels).loss.detach(), atol=1e-5, rtol=0)
    (total / n).backward()
    got = h.grad.clone()
    h.grad = None
    logits = ours.lm_head(h)
    cap = ours.config.final_logit_softcapping
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    ref = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                            labels[:, 1:].reshape(-1), ignore_index=-100)
    ref.backward()
    torch.testing.assert_close(got, h.grad, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("arch", FAMILIES)
def test_left_padding_matches_transformers(tmp_path, arch):
    hf = save_hf(arch, tmp_path)
    ours = load_pretrained(tmp_path)
    ids = rand_ids((2, 20), seed=2)
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, :6] = 0
    with torch.no_grad():
        expected = hf(ids, attention_mask=mask).logits
        got = ours.logits(ids, attention_mask=mask)
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", FAMILIES)
def test_kv_cache_decoding_matches_full_forward(tmp_path, arch):
    save_hf(arch, tmp_path)
    assert_kv_cache_decoding_matches_full_forward(load_pretrained(tmp_path))


@pytest.mark.parametrize("arch", FAMILIES)
def test_packed_rows_equal_separate_runs(tmp_path, arch):
    from test_model_parity import block_diagonal

    save_hf(arch, tmp_path)
    ours = load_pretrained(tmp_path)
    lengths = [7, 9, 4]
    ids = rand_ids((1, sum(lengths) + 3), seed=3)
    mask, pos = block_diagonal(lengths, ids.shape[1])
    with torch.no_grad():
        packed = ours.logits(ids, position_ids=pos, attention_mask=mask)
        s = 0
        for n in lengths:
            torch.testing.assert_close(packed[:, s:s + n], ours.logits(ids[:, s:s + n]), atol=1e-5, rtol=0)
            s += n


def family_model_dir(root, arch, tokenizer_dir):
    """A tiny random `arch` checkpoint written by transformers, with the Llama 3.1 tokenizer's vocabulary."""
    d = root / arch
    save_hf(arch, d, vocab_size=128256)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tokenizer_dir / f, d / f)
    return d


@pytest.mark.parametrize("arch", FAMILIES)
def test_training_lowers_the_loss_and_resumes_exactly(tmp_path, arch, tokenizer_dir, dataset_dir):
    model_dir = family_model_dir(tmp_path, arch, tokenizer_dir)
    kw = dict(max_steps=4, save_steps=2, lora_dropout=0.1, gradient_checkpointing=False, template="llama3",
              fast_path="on")  # "on" asks for the fast path on the CPU too: the log must say why not
    straight, events = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "a", **kw))
    assert straight["losses"][-1] < straight["losses"][0] - 0.1
    if arch.startswith("gemma"):  # fast/gemma.py: Gemma 2 / 3 have a fast path
        assert any(e.type == "log" and e.message.startswith("fast path:") for e in events)
    else:
        assert any(e.type == "log" and ARCH[arch] in e.message and "reference path" in e.message
                   for e in events)
    resumed, _ = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "b", **kw,
                                     resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2")))
    assert resumed["losses"] == straight["losses"]


@pytest.mark.parametrize("arch", ["gemma2", "gemma3", "phi3", "glm", "glm4", "qwen3_moe", "mixtral", "qwen2_yarn"])
def test_chat_greedy_tokens_are_transformers_generate(tmp_path, arch):
    """The chat server's reference engine (KV cache, sliding windows past the window, soft-caps, experts) picks
    the tokens transformers' greedy generate picks."""
    from tuneboard_trainer.sampling import GenParams
    from tuneboard_trainer.chat_reference import load_reference_engine

    hf = save_hf(arch, tmp_path)
    prompt = rand_ids((1, 9), seed=11)  # longer than the tiny configs' 5-token sliding window
    with torch.no_grad():
        expected = hf.generate(prompt, max_new_tokens=12, min_new_tokens=12, do_sample=False,
                               pad_token_id=0)[0, 9:].tolist()
    engine = load_reference_engine(tmp_path, device="cpu")
    got = list(engine.generate(prompt[0].tolist(), GenParams(max_new_tokens=12, temperature=0.0)))
    assert got == expected
    assert engine.mode == "reference"


def test_chat_server_loads_a_new_family_on_the_reference_engine(tmp_path, tokenizer_dir):
    from tuneboard_trainer.chat_server import ChatServer

    model_dir = family_model_dir(tmp_path, "gemma2", tokenizer_dir)
    out = io.StringIO()
    ChatServer(stdout=out).load(str(model_dir), [], "gemma")
    loaded = [json.loads(line) for line in out.getvalue().splitlines() if '"loaded"' in line]
    assert loaded and loaded[-1]["mode"] == "reference"


@pytest.mark.parametrize("arch", ["gemma3", "phi3", "glm4"])
def test_merged_export_loads_in_transformers_with_our_adapters_logits(tmp_path, arch):
    """Export merges our adapter into the family's own layout: transformers loads the folder and agrees."""
    from tuneboard_trainer.export import ExportConfig, export_model
    from tuneboard_trainer.lora import apply_lora, save_adapter

    save_hf(arch, tmp_path / "base")
    (tmp_path / "base" / "tokenizer.json").write_text('{"fake": true}')  # copied, not parsed
    ours = apply_lora(load_pretrained(tmp_path / "base"), "all", r=4, alpha=8)
    with torch.no_grad():
        for n, p in ours.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(1))
    save_adapter(ours, tmp_path / "adapter", str(tmp_path / "base"))
    cfg = ExportConfig.from_dict({"model_name_or_path": str(tmp_path / "base"),
                                  "adapter_path": str(tmp_path / "adapter"),
                                  "export_dir": str(tmp_path / "export"), "output_dir": str(tmp_path / "job")})
    export_model(cfg)
    exported = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "export", dtype=torch.float32).eval()
    ids = rand_ids((2, 16), seed=12)
    with torch.no_grad():
        want = ours.eval().logits(ids)
        torch.testing.assert_close(exported(ids).logits, want, atol=1e-4, rtol=0)
        assert (want - load_pretrained(tmp_path / "base").logits(ids)).abs().max() > 1e-3


def test_training_refuses_a_tokenizer_of_another_model_or_none_in_words(tmp_path, tokenizer_dir, dataset_dir):
    from tuneboard_trainer.config import ConfigError

    d = tmp_path / "m"
    save_hf("glm4", d)  # vocabulary 97; the Llama 3.1 tokenizer's ids go past 128000
    with pytest.raises(ConfigError, match="model_name_or_path: .*has no tokenizer files: tokenizer.json"):
        run_events(make_cfg(tmp_path, d, dataset_dir, "a", template="glm4"))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tokenizer_dir / f, d / f)
    with pytest.raises(ConfigError, match=r"token ids up to 128255, but the model's vocabulary .* has 97 entries"):
        run_events(make_cfg(tmp_path, d, dataset_dir, "b", template="glm4"))


def test_training_on_an_unsupported_architecture_names_it_and_the_supported_ones(tmp_path, dataset_dir):
    from tuneboard_trainer.model import UnsupportedModelError

    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"architectures": ["FalconForCausalLM"], "vocab_size": 97}))
    with pytest.raises(UnsupportedModelError, match="'FalconForCausalLM'; supported: LlamaForCausalLM, .*Glm4ForCausalLM"):
        run_events(make_cfg(tmp_path, d, dataset_dir, "a"))
