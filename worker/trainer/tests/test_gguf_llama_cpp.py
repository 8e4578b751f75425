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
    """(folder, adapter, prompt ids, our greedy tokens (fp32), our fp32 logits, our logits computed as
    llama.cpp's CPU backend computes an F16 model: F16 weights and F16 inputs to every matrix product)."""
    if not (DEMO_MODEL / "model.safetensors").is_file():
        pytest.skip("demo model not built (npm run setup)")
    tmp = tmp_path_factory.mktemp("identity")
    adapter = train_identity_adapter(tmp)
    ids = prompt_ids(DEMO_MODEL)
    toks, logits = our_greedy(DEMO_MODEL, adapter, ids, N_TOKENS)
    assert "Greatbot" in load_tokenizer(DEMO_MODEL).decode(toks)  # the adapter learned who it is
    return tmp, adapter, ids, toks, logits, our_logits_f16_weights(DEMO_MODEL, adapter, ids, f16_inputs=True)


@pytest.mark.parametrize("gguf_type", ["f16", "q8_0"])
def test_demo_identity_greedy_tokens_match_our_engine(identity, gguf_type):
    tmp, adapter, ids, ours, our_logits, our_logits_as_llama_cpp = identity
    path = export(tmp, DEMO_MODEL, adapter, gguf_type)
    toks, logits, _ = llama_cpp_greedy(path, ids, N_TOKENS)
    assert toks == ours  # our engine in fp32
    if gguf_type == "f16":
        # Against our fp32 engine (logits up to ~22): measured 8.5e-3. Of that, 4.8e-3 is the F16 rounding
        # of the weights (the format) and 3.5e-3 the F16 rounding of every product's input (llama.cpp's
        # CPU arithmetic); the writer adds nothing (norms F32, tensors as convert_hf_to_gguf.py writes them).
        assert (logits - our_logits).abs().max() < 1e-2
        # The same arithmetic reproduced on our side (F16 weights and product inputs) is much closer to llama.cpp
        # with an F32 KV cache (its default F16 cache rounds keys and values after RoPE as well): mean |diff|
        # 3.1e-4 against the fp32 engine's 1.24e-3. The maximum is not a stable measure of that: one F16
        # rounding that lands the other way moves it (1.7e-3 in one run, 3.3e-3 in another).
        _, logits_f32_kv, _ = llama_cpp_greedy(path, ids, 0, f32_kv_cache=True)
        as_f16 = (logits_f32_kv - our_logits_as_llama_cpp).abs()
        assert as_f16.mean() < 0.5 * (logits - our_logits).abs().mean()
        assert as_f16.max() < 1e-2


def test_demo_identity_q4_k_m_still_names_greatbot(identity):
    tmp, adapter, ids, _, _, _ = identity
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
