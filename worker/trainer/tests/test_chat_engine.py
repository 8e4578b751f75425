"""The chat engine (static KV cache, fused weights, unmerged LoRA) against references, on CPU in fp32.

The CUDA-graph / torch.compile paths run the very same functions (`_decode_step`) and are measured
on the GPU by bench/chat_bench.py; here the decode step runs eagerly (no GPU on this machine).
"""

import pytest
import torch

from hf_tiny import ARCHS, save_hf
from tuneboard_trainer.chat_engine import ChatEngine
from tuneboard_trainer.sampling import GenParams, apply_repetition_penalty, sample
from tuneboard_trainer.lora import apply_lora, merge_lora, save_adapter
from tuneboard_trainer.hf_weights import load_pretrained

GREEDY = GenParams(max_new_tokens=20, temperature=0.0)


def reference_greedy(model, prompt, n):
    """Plain forward over the whole sequence every step (no cache at all), argmax of the last position."""
    ids = list(prompt)
    for _ in range(n):
        logits = model.logits(torch.tensor([ids]))[0, -1]
        ids.append(int(logits.argmax()))
    return ids[len(prompt):]


@pytest.mark.parametrize("arch", ["llama3.1", "llama_bias", "qwen3", "mistral_sliding", "qwen2_sliding"])
def test_static_cache_greedy_equals_plain_forward(tmp_path, arch):
    save_hf(arch, tmp_path)
    model = load_pretrained(tmp_path)
    eng = ChatEngine(tmp_path, max_seq_len=64)
    prompt = [3, 17, 42, 5, 9, 11, 2]  # longer than the sliding windows (5) once decoding goes on
    assert list(eng.generate(prompt, GREEDY)) == reference_greedy(model, prompt, 20)


def test_decode_logits_match_plain_forward(tmp_path):
    save_hf("llama3.1", tmp_path)
    model = load_pretrained(tmp_path)
    eng = ChatEngine(tmp_path, max_seq_len=32)
    ids = [5, 6, 7, 8, 9, 10]
    with torch.inference_mode():
        logits = eng.prefill(ids[:3])
        ref = model.logits(torch.tensor([ids]))[0]
        torch.testing.assert_close(logits, ref[2], rtol=1e-4, atol=1e-4)
        for i in range(3, 6):
            logits = eng.decode(torch.tensor(ids[i]), i)
            torch.testing.assert_close(logits, ref[i], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["llama3.1", "qwen2"])
def test_greedy_equals_transformers_generate(tmp_path, arch):
    hf = save_hf(arch, tmp_path)
    eng = ChatEngine(tmp_path, max_seq_len=64)
    prompt = [1, 4, 9, 16, 25]
    out = hf.generate(torch.tensor([prompt]), max_new_tokens=24, min_new_tokens=24, do_sample=False,
                      eos_token_id=None, pad_token_id=0)
    ours = list(eng.generate(prompt, GenParams(max_new_tokens=24, temperature=0.0)))
    assert ours == out[0, len(prompt):].tolist()


def _adapter(tmp_path, model_dir, seed=1):
    torch.manual_seed(seed)
    m = apply_lora(load_pretrained(model_dir), targets="all", r=4, alpha=8)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.3)  # B = 0 after init would make the adapter a no-op
    d = tmp_path / f"adapter{seed}"
    save_adapter(m, d)
    return d, m


def test_unmerged_lora_equals_merged_and_gate_off_equals_base(tmp_path):
    save_hf("llama3.1", tmp_path / "base")
    a1, m1 = _adapter(tmp_path, tmp_path / "base", 1)
    a2, m2 = _adapter(tmp_path, tmp_path / "base", 2)
    eng = ChatEngine(tmp_path / "base", max_seq_len=64)
    eng.add_adapters([a1, a2])
    # Reference: both deltas folded into one dense model.
    base = load_pretrained(tmp_path / "base")
    merged = load_pretrained(tmp_path / "base")
    sd1, sd2 = merge_lora(m1).state_dict(), merge_lora(m2).state_dict()
    with torch.no_grad():
        for k, v in merged.state_dict().items():
            v.copy_(sd1[k] + sd2[k] - base.state_dict()[k])
    prompt = [7, 3, 11, 2]
    assert list(eng.generate(prompt, GREEDY)) == reference_greedy(merged, prompt, 20)
    assert list(eng.generate(prompt, GenParams(max_new_tokens=20, temperature=0.0, use_adapters=False))) == \
        reference_greedy(base, prompt, 20)


def test_adapter_mask_selects_one_adapter_per_request(tmp_path):
    """Two adapters loaded; a request with one of them answers as an engine holding only that one,
    and the requests interleave without one changing the other's answer."""
    save_hf("llama3.1", tmp_path / "base")
    a1, _ = _adapter(tmp_path, tmp_path / "base", 1)
    a2, _ = _adapter(tmp_path, tmp_path / "base", 2)
    both = ChatEngine(tmp_path / "base", max_seq_len=64)
    both.add_adapters([a1, a2])
    prompt = [7, 3, 11, 2]
    alone = {}
    for n, a in ((0, a1), (1, a2)):
        eng = ChatEngine(tmp_path / "base", max_seq_len=64)
        eng.add_adapters([a])
        alone[n] = list(eng.generate(prompt, GREEDY))
    assert alone[0] != alone[1]
    for n in (0, 1, 0, 1):
        mask = (n == 0, n == 1)
        assert list(both.generate(prompt, GenParams(max_new_tokens=20, temperature=0.0, adapter_mask=mask))) == alone[n]
    base = ChatEngine(tmp_path / "base", max_seq_len=64)
    assert list(both.generate(prompt, GenParams(max_new_tokens=20, temperature=0.0, adapter_mask=(False, False)))) == \
        list(base.generate(prompt, GREEDY))


def test_sampling_parameters():
    torch.manual_seed(0)
    logits = torch.randn(50)
    greedy = int(logits.argmax())
    g = torch.Generator().manual_seed(0)
    # top-k 1 and a tiny top-p leave only the best token, whatever the temperature.
    assert int(sample(logits, GenParams(temperature=2.0, top_k=1, top_p=1.0), g)) == greedy
    assert int(sample(logits, GenParams(temperature=2.0, top_k=0, top_p=1e-6), g)) == greedy
    # top-k 3: only the three best ever come out.
    top3 = set(torch.topk(logits, 3).indices.tolist())
    picks = {int(sample(logits, GenParams(temperature=5.0, top_k=3, top_p=1.0), g)) for _ in range(200)}
    assert picks <= top3 and len(picks) == 3
    # top-p: the smallest prefix of sorted tokens that covers p.
    probs = logits.softmax(-1)
    order = probs.argsort(descending=True)
    cover = int((probs[order].cumsum(0) < 0.5).sum()) + 1
    picks = {int(sample(logits, GenParams(temperature=1.0, top_k=0, top_p=0.5), g)) for _ in range(400)}
    assert picks <= set(order[:cover].tolist())


def test_repetition_penalty_matches_transformers():
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    torch.manual_seed(0)
    logits = torch.randn(40)
    ids = [3, 5, 5, 17, 30]
    seen = torch.zeros(40, dtype=torch.bool)
    seen[ids] = True
    ref = RepetitionPenaltyLogitsProcessor(1.3)(torch.tensor([ids]), logits[None].clone())[0]
    torch.testing.assert_close(apply_repetition_penalty(logits, seen, 1.3), ref)
    assert torch.equal(apply_repetition_penalty(logits, seen, 1.0), logits)


def test_seed_determinism(tmp_path):
    save_hf("llama2", tmp_path)
    eng = ChatEngine(tmp_path, max_seq_len=64)
    p = dict(max_new_tokens=16, temperature=1.5, top_p=1.0, top_k=0)
    a = list(eng.generate([1, 2, 3], GenParams(**p, seed=7)))
    b = list(eng.generate([1, 2, 3], GenParams(**p, seed=7)))
    c = list(eng.generate([1, 2, 3], GenParams(**p, seed=8)))
    assert a == b and a != c
    # With a repetition penalty the same seed still reproduces, and the output changes.
    d = list(eng.generate([1, 2, 3], GenParams(**p, seed=7, repetition_penalty=1.8)))
    assert d == list(eng.generate([1, 2, 3], GenParams(**p, seed=7, repetition_penalty=1.8)))


@pytest.mark.parametrize("msg, field", [
    ({"temperature": -1}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"top_k": 1.5}, "top_k"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"repetition_penalty": 3}, "repetition_penalty"),
    ({"seed": -2}, "seed"),
    ({"temperature": "hot"}, "temperature"),
    ({"use_adapters": "yes"}, "use_adapters"),
])
def test_params_are_validated(msg, field):
    with pytest.raises(ValueError, match=field):
        GenParams.parse(msg)


def test_defaults_are_llamaboards():
    p = GenParams.parse({})
    assert (p.max_new_tokens, p.temperature, p.top_p, p.top_k, p.repetition_penalty) == (1024, 0.95, 0.7, 0, 1.0)


def test_all_archs_listed():
    assert {"llama3.1", "qwen3", "mistral_sliding"} <= set(ARCHS)
