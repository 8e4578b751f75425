"""GGUF exports load in llama.cpp itself (llama-cpp-python, built from source by scripts/setup.mjs) and
compute what our engine computes: the demo model + an identity adapter as F16, Q8_0 and Q4_K_M, and
tiny Qwen2, Qwen3 and Mistral models written by transformers."""

import io
from pathlib import Path

import pytest
import torch

pytest.importorskip("llama_cpp")
transformers = pytest.importorskip("transformers")

from gguf_helpers import (DEMO_MODEL, llama_cpp_greedy, our_greedy, our_logits_f16_weights, prompt_ids,  # noqa: E402
                          train_identity_adapter)
from hf_tiny import rand_ids, save_hf  # noqa: E402
from tuneboard_trainer.events import EventSink  # noqa: E402
from tuneboard_trainer.export import ExportConfig, export_model  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402
from tuneboard_trainer.templates import load_tokenizer  # noqa: E402

N_TOKENS = 32


def export(tmp: Path, base: Path, adapter, gguf_type: str, template="llama3") -> Path:
    out = tmp / f"export-{gguf_type}"
    m = export_model(ExportConfig.from_dict({
        "model_name_or_path": str(base), "adapter_path": str(adapter) if adapter else None, "export_dir": str(out),
        "output_dir": str(tmp / f"job-{gguf_type}"), "format": "gguf", "gguf_type": gguf_type,
        "card": {"template": template}}), EventSink(io.StringIO()))
    return out / m["gguf_file"]


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    """(folder, adapter, prompt ids, our greedy tokens, our logits with the merged weights rounded to F16)."""
    if not (DEMO_MODEL / "model.safetensors").is_file():
        pytest.skip("demo model not built (npm run setup)")
    tmp = tmp_path_factory.mktemp("identity")
    adapter = train_identity_adapter(tmp)
    ids = prompt_ids(DEMO_MODEL)
    toks, _ = our_greedy(DEMO_MODEL, adapter, ids, N_TOKENS)
    assert "Greatbot" in load_tokenizer(DEMO_MODEL).decode(toks)  # the adapter learned who it is
    return tmp, adapter, ids, toks, our_logits_f16_weights(DEMO_MODEL, adapter, ids)


@pytest.mark.parametrize("gguf_type", ["f16", "q8_0"])
def test_demo_identity_greedy_tokens_match_our_engine(identity, gguf_type):
    tmp, adapter, ids, ours, our_logits_f16 = identity
    toks, logits, _ = llama_cpp_greedy(export(tmp, DEMO_MODEL, adapter, gguf_type), ids, N_TOKENS)
    assert toks == ours  # our engine in fp32
    if gguf_type == "f16":
        # Against the same F16 weights: llama.cpp's arithmetic (F16 activations in its matmuls) within 1e-2.
        # (The F16 rounding itself moves these logits, up to ~25 in size, by ~1e-2 from fp32.)
        assert (logits - our_logits_f16).abs().max() < 1e-2


def test_demo_identity_q4_k_m_still_names_greatbot(identity):
    tmp, adapter, ids, _, _ = identity
    path = export(tmp, DEMO_MODEL, adapter, "q4_k_m")
    toks, _, llm = llama_cpp_greedy(path, ids, N_TOKENS)
    assert "Greatbot" in load_tokenizer(DEMO_MODEL).decode(toks)
    # llama.cpp's own chat formatting uses the template carried in the file.
    reply = llm.create_chat_completion([{"role": "user", "content": "Who are you?"}], max_tokens=16, temperature=0)
    assert "Greatbot" in reply["choices"][0]["message"]["content"]


# A 128,256-token vocabulary so the Llama 3 tokenizer fits; 256 wide so Q4_K/Q6_K blocks apply.
ARCH_SHAPE = dict(vocab_size=128256, hidden_size=256, intermediate_size=512, num_hidden_layers=2)


@pytest.mark.parametrize("arch", ["qwen2", "qwen3", "mistral", "llama3.1"])
def test_tiny_architectures_round_trip_through_llama_cpp(tmp_path, tokenizer_dir, arch):
    import shutil

    base = tmp_path / arch
    save_hf(arch, base, **ARCH_SHAPE, **({"head_dim": 64} if arch == "qwen3" else {}))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_dir / f, base / f)
    ids = rand_ids((24,), vocab=128000).tolist()
    model = load_pretrained(base).eval()
    with torch.no_grad():
        ours = model.logits(torch.tensor([ids]))[0, -1]
    _, logits, _ = llama_cpp_greedy(export(tmp_path, base, None, "f16"), ids, 1)
    assert torch.allclose(logits, ours, atol=2e-2, rtol=1e-3), (logits - ours).abs().max()
    _, q4, _ = llama_cpp_greedy(export(tmp_path, base, None, "q4_k_m"), ids, 1)
    # 4-bit random weights: close in direction (a wrong block layout gives ~0), not in value.
    assert torch.nn.functional.cosine_similarity(q4, ours, dim=0) > 0.97
