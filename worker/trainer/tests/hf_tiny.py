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
