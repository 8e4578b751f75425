"""Writes a tiny random checkpoint of one architecture with transformers into an e2e model root.

Usage: tiny_checkpoint.py <glm4|gemma3> <out_dir> <tokenizer_dir>. The tokenizer files are the demo model's,
without its chat_template, so the Train page guesses the template from the architecture; the vocabulary is
the tokenizer's, so every id it yields has an embedding.
"""

import json
import sys
from pathlib import Path

import torch
import transformers

SMALL = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             head_dim=16, max_position_embeddings=2048, initializer_range=0.1)
FAMILIES = {
    "glm4": ("Glm4Config", "Glm4ForCausalLM", dict(pad_token_id=0)),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM",
               dict(sliding_window=16, query_pre_attn_scalar=16, layer_types=["sliding_attention", "full_attention"])),
}


def main(kind: str, out_dir: str, tokenizer_dir: str) -> None:
    out, tok_dir = Path(out_dir), Path(tokenizer_dir)
    tok = json.loads((tok_dir / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = max([*tok["model"]["vocab"].values(), *(t["id"] for t in tok.get("added_tokens", []))]) + 1
    tc = json.loads((tok_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    tc.pop("chat_template", None)
    config_class, model_class, extra = FAMILIES[kind]
    torch.manual_seed(0)
    config = getattr(transformers, config_class)(vocab_size=vocab, bos_token_id=tc.get("bos_token_id"),
                                                 **SMALL, **extra)
    getattr(transformers, model_class)(config).save_pretrained(out)
    (out / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(tc), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
