"""Tiny random transformers models of every supported architecture, for parity / interop tests (fp32, CPU)."""

import torch

# vocab 97, width 32, 2 layers, GQA 4:2 -- a forward pass takes milliseconds.
BASE = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256)
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               # Short original context, so positions in a 48-token test hit every band of the scaling.
               "original_max_position_embeddings": 16, "rope_theta": 10000.0}

# name -> (transformers class names, config overrides). One entry per architecture family/version we claim.
ARCHS = {
    "llama2": ("LlamaConfig", "LlamaForCausalLM", dict(rope_theta=10000.0)),
    "llama3.1": ("LlamaConfig", "LlamaForCausalLM", dict(rope_parameters=LLAMA3_ROPE)),
    "llama3.2_tied": ("LlamaConfig", "LlamaForCausalLM", dict(rope_parameters=LLAMA3_ROPE, tie_word_embeddings=True)),
    "llama_bias": ("LlamaConfig", "LlamaForCausalLM", dict(attention_bias=True, mlp_bias=True)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(rope_theta=1000000.0)),
    "qwen2.5_tied": ("Qwen2Config", "Qwen2ForCausalLM", dict(tie_word_embeddings=True)),
    # head_dim 16 != hidden/heads (8): Qwen3 takes head_dim from the config.
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", dict(head_dim=16, tie_word_embeddings=True)),
    "mistral": ("MistralConfig", "MistralForCausalLM", dict(sliding_window=None)),
    # A window shorter than the test sequences, so the sliding-window mask matters.
    "mistral_sliding": ("MistralConfig", "MistralForCausalLM", dict(sliding_window=5)),
    "qwen2_sliding": ("Qwen2Config", "Qwen2ForCausalLM",
                      dict(use_sliding_window=True, sliding_window=5, max_window_layers=1)),
    # Caps small enough that the random scores and logits reach tanh's bend (weights 10x transformers' init, so
    # attention scores are not all ~0); query_pre_attn_scalar != head_dim. transformers' SDPA attention drops the
    # score cap silently, its eager attention (the one it recommends for Gemma 2) applies it: compare with that.
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM",
               dict(head_dim=8, query_pre_attn_scalar=12, sliding_window=5, attn_logit_softcapping=0.5, initializer_range=0.2,
                    final_logit_softcapping=1.0, num_hidden_layers=3, attn_implementation="eager")),
    # Global layers: linear-scaled RoPE on a 1k base; sliding layers: their own 50 base (both far from defaults).
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM",
               dict(head_dim=16, query_pre_attn_scalar=12, sliding_window=5, num_hidden_layers=3, initializer_range=0.2,
                    layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                    rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 50.0}})),
    # Phi-4-mini's partial rotary (3/4 of each head rotates) and a sliding window on every layer.
    "phi3": ("Phi3Config", "Phi3ForCausalLM",
             dict(sliding_window=5, pad_token_id=0, eos_token_id=1, initializer_range=0.2,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.75})),
    # GLM-4 0414: sandwich norms, q/k/v bias, half of each head rotated in interleaved pairs.
    "glm4": ("Glm4Config", "Glm4ForCausalLM",
             dict(head_dim=16, pad_token_id=0, eos_token_id=1, initializer_range=0.2)),
    # Mixture of experts: 4 experts, 2 per token; Qwen3-MoE with a dense MLP on layer 1 and the top-k renormalised.
    "qwen3_moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM",
                  dict(head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24,
                       mlp_only_layers=[1], norm_topk_prob=True, initializer_range=0.2)),
    "mixtral": ("MixtralConfig", "MixtralForCausalLM",
                dict(num_local_experts=4, num_experts_per_tok=2, sliding_window=5, initializer_range=0.2)),
    # RoPE variants, each with a short original context so a 24-token test sequence reaches the scaled range.
    "llama_linear": ("LlamaConfig", "LlamaForCausalLM",
                     dict(rope_parameters={"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0})),
    "llama_dynamic": ("LlamaConfig", "LlamaForCausalLM", dict(
        max_position_embeddings=16, rope_parameters={"rope_type": "dynamic", "factor": 3.0, "rope_theta": 10000.0})),
    "qwen2_yarn": ("Qwen2Config", "Qwen2ForCausalLM", dict(rope_parameters={
        "rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 16, "rope_theta": 10000.0})),
    "phi3_longrope": ("Phi3Config", "Phi3ForCausalLM", dict(
        pad_token_id=0, eos_token_id=1, original_max_position_embeddings=16, rope_parameters={
            "rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.75,
            "short_factor": [1.0, 1.5, 2.0], "long_factor": [2.0, 5.0, 11.0]})),
    # glm-4-9b-chat-hf: the same without the sandwich norms.
    "glm": ("GlmConfig", "GlmForCausalLM", dict(head_dim=16, pad_token_id=0, eos_token_id=1, initializer_range=0.2)),
}


def make_hf(arch: str, seed: int = 0, **overrides):
    """A random transformers model; biases and norm weights are perturbed (HF inits them to 0 / 1)."""
    import transformers

    cfg_cls, model_cls, extra = ARCHS[arch]
    torch.manual_seed(seed)
    cfg = getattr(transformers, cfg_cls)(**{**BASE, **extra, **overrides})
    hf = getattr(transformers, model_cls)(cfg).eval()
    with torch.no_grad():
        for n, p in hf.named_parameters():
            if n.endswith("bias") or "norm" in n:
                p.add_(torch.randn_like(p) * 0.1)
    return hf


def save_hf(arch: str, path, seed: int = 0, **overrides):
    hf = make_hf(arch, seed, **overrides)
    hf.save_pretrained(path)
    return hf


def rand_ids(shape, seed=1, vocab=BASE["vocab_size"]):
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def assert_kv_cache_decoding_matches_full_forward(model, seq_len: int = 12, prompt_len: int = 4):
    """A prompt then one token at a time through the KV cache gives the logits of one full forward."""
    from tuneboard_trainer.model import KVCache

    ids = rand_ids((1, seq_len), seed=6)
    cache = KVCache(model.config, 1, seq_len, "cpu", torch.float32)
    with torch.no_grad():
        full = model.logits(ids)
        steps = [model.logits(ids[:, :prompt_len], cache=cache, start_pos=0)]
        steps += [model.logits(ids[:, t:t + 1], cache=cache, start_pos=t) for t in range(prompt_len, seq_len)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
