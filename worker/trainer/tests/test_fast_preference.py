"""The preference stages on the fast path (fast/preference.py), checked on the CPU in fp32: the packed rows'
per-document log-probs, the losses of every pref_loss, kto and rm, and the adapter gradients equal the reference
path's; so do a frozen-adapter reference (an SFT -> preference chain) and whole trainer runs."""

import contextlib

import pytest
import torch

from fast_helpers import SMALL, lora_model, rel_err
from pref_helpers import random_kto, random_pairs, shifted_adapter, step_config, step_loss
from test_stages_train import cfg as stage_cfg, run, stage_data  # noqa: F401 (fixture)
from tuneboard_trainer.fast import FastPath, FastPathOptions
from tuneboard_trainer.fast.preference import _LinearLogProbs, adapters_zeroed, document_logps, pack_rows
from tuneboard_trainer.fast.shared_prompt import pack_pairs, shared_prefix
from tuneboard_trainer.templates import IGNORE_INDEX
from tuneboard_trainer.lora import adapters_disabled
from tuneboard_trainer.preference import sequence_logps
from tuneboard_trainer.stages import attach_value_head

CPU = torch.device("cpu")
NOCAST = contextlib.nullcontext()
V = SMALL["vocab_size"]


def pairs(seed=1):
    return random_pairs([9, 3, 14], [(12, 5), (20, 31), (4, 9)], V, seed=seed)


def assert_same(fast, ref, loss_tol=1e-5, grad_tol=1e-4):
    (l_f, m_f, g_f), (l_r, m_r, g_r) = fast, ref
    assert l_f == pytest.approx(l_r, rel=loss_tol, abs=loss_tol)
    assert set(g_f) == set(g_r) and g_r
    for k in g_r:
        assert rel_err(g_f[k], g_r[k]) < grad_tol, k
    for k in m_r:
        torch.testing.assert_close(m_f[k].float(), m_r[k].float(), rtol=1e-4, atol=1e-4)


def test_packed_rows_give_the_padded_rows_log_probs_per_document():
    model = lora_model(SMALL)
    batch = pairs()
    want, want_n = sequence_logps(model, model(batch["input_ids"]), batch["labels"])
    mb = pack_rows(batch["input_ids"], batch["labels"], batch["attention_mask"])
    assert mb["cu_seqlens"].tolist()[1:] == batch["attention_mask"].sum(1).cumsum(0).tolist()
    got, n = document_logps(FastPath(model, max_tokens=4096, loss_chunk=7), mb, CPU)  # several chunks
    assert n.tolist() == want_n.tolist()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_log_prob_function_gradients_match_autograd_including_a_trainable_head():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(11, 16, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(40, 16, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 40, (11,), generator=g)
    up = torch.randn(11, generator=g, dtype=torch.float64)
    want = torch.log_softmax(h @ W.T, -1).gather(1, y[:, None]).squeeze(1)
    gh, gw = torch.autograd.grad((want * up).sum(), (h, W))
    got = _LinearLogProbs.apply(h, W, y, 4, None)
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)
    fh, fw = torch.autograd.grad((got * up).sum(), (h, W))
    # The softmax of a chunk is taken in fp32 (as the SFT loss's), whatever the input dtype.
    torch.testing.assert_close(fh, gh, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fw, gw, rtol=1e-5, atol=1e-6)


def test_zeroed_adapters_are_the_model_with_its_adapters_off():
    model = lora_model(SMALL)
    batch = pairs()
    with torch.no_grad(), adapters_disabled(model):
        want, _ = sequence_logps(model, model(batch["input_ids"]), batch["labels"])
    fp = FastPath(model, max_tokens=4096)
    mb = pack_rows(batch["input_ids"], batch["labels"], batch["attention_mask"])
    with torch.no_grad(), adapters_zeroed(model):
        got, _ = document_logps(fp, mb, CPU)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # and the adapters are back afterwards
        on, _ = document_logps(fp, mb, CPU)
    assert (on - got).abs().max() > 1e-4


@pytest.mark.parametrize("pref_loss, ftx", [("sigmoid", 0.0), ("sigmoid", 0.5), ("hinge", 0.0), ("ipo", 0.0),
                                            ("orpo", 0.1), ("simpo", 0.0)])
@pytest.mark.parametrize("ckpt", [0, 1])
def test_dpo_losses_and_adapter_gradients_match_the_reference_path(pref_loss, ftx, ckpt):
    model = lora_model(SMALL)
    cfg = step_config(pref_loss=pref_loss, pref_ftx=ftx, pref_beta=2.0)  # a large beta: large gradients
    batch = pairs()
    ref = step_loss(model, batch, cfg, CPU, NOCAST, fast=False)
    assert_same(step_loss(model, batch, cfg, CPU, NOCAST, fast=True, ckpt_layers=ckpt), ref)


def test_a_frozen_adapter_reference_matches_the_reference_path():
    """The SFT -> preference chain: the reference is the model with another (frozen) adapter swapped in."""
    model = lora_model(SMALL)
    cfg, batch = step_config(pref_beta=2.0), pairs(seed=4)
    frozen = shifted_adapter(model)
    ref = step_loss(model, batch, cfg, CPU, NOCAST, fast=False, reference_weights=frozen)
    fast = step_loss(model, batch, cfg, CPU, NOCAST, fast=True, reference_weights=frozen)
    assert_same(fast, ref)
    off = step_loss(model, batch, cfg, CPU, NOCAST, fast=True)  # a different reference: a different loss
    assert abs(off[0] - fast[0]) > 1e-4


def test_a_frozen_adapter_reference_under_bf16_autocast_leaves_the_policy_its_own_weights():
    """Autocast caches its bf16 copies of trainable parameters per tensor: the reference path's policy pass after
    the reference pass (weights swapped, same autocast region) must not reuse the reference's copies. (The fast
    path casts the adapters itself; test_gpu_stages.py checks it in bf16.)"""
    model = lora_model(SMALL)
    cfg, batch = step_config(pref_beta=2.0), pairs(seed=4)
    frozen = shifted_adapter(model)
    want = step_loss(model, batch, cfg, CPU, NOCAST, fast=False, reference_weights=frozen)
    got = step_loss(model, batch, cfg, CPU, torch.autocast("cpu", dtype=torch.bfloat16), fast=False,
                    reference_weights=frozen)
    assert got[0] == pytest.approx(want[0], abs=5e-3)
    assert abs(want[0] - 0.6931) > 0.05  # policy and reference differ
    for k in want[2]:
        assert rel_err(got[2][k], want[2][k]) < 5e-2, k


def test_kto_matches_the_reference_path():
    model = lora_model(SMALL)
    cfg = step_config(stage="kto", pref_beta=2.0, kto_rejected_weight=1.5)
    batch = random_kto([5, 9, 3, 12], [7, 4, 15, 6], V, seed=2)
    assert_same(step_loss(model, batch, cfg, CPU, NOCAST, fast=True),
                step_loss(model, batch, cfg, CPU, NOCAST, fast=False))


def test_reward_model_matches_the_reference_path():
    model = lora_model(SMALL)
    torch.manual_seed(0)
    attach_value_head(model, CPU)
    cfg, batch = step_config(stage="rm"), pairs(seed=5)
    assert_same(step_loss(model, batch, cfg, CPU, NOCAST, fast=True),
                step_loss(model, batch, cfg, CPU, NOCAST, fast=False))


@pytest.mark.parametrize("stage, dataset, kw", [
    ("dpo", "identity_pref", {}),
    ("kto", "identity_kto", {"kto_rejected_weight": 1.5}),
    ("rm", "identity_pref", {}),
])
def test_trainer_runs_on_the_fast_path_match_the_reference_path(tmp_path, tiny_model_dir, stage_data, stage,
                                                                 dataset, kw):
    common = dict(stage=stage, dataset=[dataset], max_samples=8, max_steps=3, per_device_train_batch_size=2,
                  gradient_accumulation_steps=2, val_size=0.25, eval_steps=3, **kw)
    reference, _ = run(stage_cfg(tmp_path, tiny_model_dir, stage_data, "ref", fast_path="off", **common))
    fast, events = run(stage_cfg(tmp_path, tiny_model_dir, stage_data, "fast", fast_path="on", **common))
    logs = [e.message for e in events if e.type == "log"]
    assert any(m.startswith("fast path:") for m in logs)
    packed = ("rows packed as documents, each pair's prompt computed once" if stage == "dpo"
              else "rows packed as documents")
    assert any(m.startswith(f"stage {stage}:") and m.endswith(f"runs on the fast path ({packed})") for m in logs)
    assert events[0].fast_path_options["active"] is True
    assert fast["losses"] == pytest.approx(reference["losses"], rel=1e-4)
    assert [e[1] for e in fast["evals"]] == pytest.approx([e[1] for e in reference["evals"]], rel=1e-4)


def _recorded_body(model, batch, cfg, reference_weights=None, shared_prompt=True):
    """(per-sample loss, metrics, adapter gradients) of what PairGraphs records for a dpo micro-batch, run here
    on the CPU without the graph: the static, bucketed buffers and the body that reads them."""
    from fast_helpers import grads
    from tuneboard_trainer.fast.pair_graph import PairGraphs
    from tuneboard_trainer.stages import PreferenceStep

    step = PreferenceStep(cfg)
    if reference_weights is not None:
        step.use_reference_weights(reference_weights, CPU)
    step.fast = FastPath(model, max_tokens=1 << 20, options=FastPathOptions(shared_prompt=shared_prompt))
    model.zero_grad(set_to_none=True)
    pg = PairGraphs(step, step.fast, [p for p in model.parameters() if p.requires_grad], CPU, torch.float32)
    n = step.samples(batch)
    key, host = pg.layout(batch, 1.0 / n)
    pg._ensure_grads()
    slot = pg._new_slot(key)
    slot.fill(host)
    pg._body(slot)
    return float(slot.loss) / n, slot.metrics, grads(model), key, host


def test_pair_graph_layout_routes_labelled_rows_to_their_documents():
    model = lora_model(SMALL)
    batch = pairs()
    *_, key, host = _recorded_body(model, batch, step_config(), shared_prompt=False)
    N, S, L, M, P, known, NE = key
    assert known is False and NE == 0  # no ReferenceCache: the graph runs the reference pass; rows as they are
    lengths = batch["attention_mask"].sum(1).tolist()
    assert sum(lengths) == 133 and N == 256 and S == 8 and L == 128 and M == 256 and P == 3  # 6 rows + padding
    assert host["cu"].tolist()[: 8] == [0] + torch.tensor(lengths).cumsum(0).tolist() + [N]
    answers = [12, 20, 4, 5, 31, 9]  # chosen rows, then rejected: each answer's tokens are the labelled ones
    assert host["counts"].tolist() == [a for a in answers] + [0, 0]
    m = sum(answers)
    assert host["doc"][:m].tolist() == [d for d, a in enumerate(answers) for _ in range(a)]
    assert (host["doc"][m:] == S).all()  # padding rows: the spare slot no loss reads


def test_pair_graph_layout_with_shared_prompts_pads_both_token_layouts():
    model = lora_model(SMALL)
    batch = pairs()
    *_, key, host = _recorded_body(model, batch, step_config())
    N, S, L, M, P, known, NE = key
    # 133 tokens in the rows, 26 of them the prompts' second copies: 107 unique tokens
    assert (N, NE, S, L, M, P) == (128, 256, 8, 128, 256, 3)
    assert host["expand"].shape == (NE,) and host["pick"].shape == (N,)
    assert host["cu"].tolist()[7] == NE  # the expanded padding: one more document
    assert (host["expand"][133:] >= 107).all()  # made of the unique padding tokens
    assert (host["pick"][107:] >= 133).all()  # which pick from it
    answers = [12, 20, 4, 5, 31, 9]
    assert host["counts"].tolist() == answers + [0, 0]


def test_shared_prompt_layout_expands_to_the_rows_and_picks_each_token_back():
    # Pair 0 shares 3 prompt tokens and 2 answer tokens; pair 1's rejected row is a prefix of its chosen row.
    ids = [[5, 6, 7, 8, 9, 10], [5, 6, 7, 1, 2, 0], [5, 6, 7, 8, 9, 11], [5, 6, 7, 1, 0, 0]]
    n = [6, 5, 6, 4]
    prompt = [3, 3, 3, 3]
    input_ids = torch.tensor(ids)
    mask = (torch.arange(6)[None] < torch.tensor(n)[:, None]).long()
    labels = torch.where(torch.arange(6)[None] < torch.tensor(prompt)[:, None], IGNORE_INDEX, input_ids)
    labels[mask == 0] = IGNORE_INDEX
    mb = pack_pairs(input_ids, labels, mask)
    assert [shared_prefix(ids[0][:6], ids[2][:6]), shared_prefix(ids[1][:5], ids[3][:4])] == [5, 3]
    assert mb["input_ids"][0].tolist() == [5, 6, 7, 8, 9, 10, 11] + [5, 6, 7, 1, 2, 1]
    rows = [ids[r][: n[r]] for r in range(4)]
    uniq, pos = mb["input_ids"][0], mb["position_ids"]
    assert uniq[mb["expand"]].tolist() == sum(rows, [])  # the expanded layout is the rows, chosen ones first
    assert pos[mb["expand"]].tolist() == sum([list(range(k)) for k in n], [])
    assert mb["expand"][mb["pick"]].tolist() == list(range(len(uniq)))  # each token's output from a copy of it
    assert mb["cu_seqlens"].tolist() == [0, 6, 11, 17, 21] and mb["max_len"] == 6
    # Labelled rows: (position, target, document); the shared positions predict for both rows.
    got = sorted(zip(mb["rows"].tolist(), mb["row_targets"].tolist(), mb["row_docs"].tolist()))
    want = sorted([(2, 8, 0), (3, 9, 0), (4, 10, 0), (9, 1, 1), (10, 2, 1),
                   (2, 8, 2), (3, 9, 2), (4, 11, 2), (9, 1, 3)])
    assert got == want


def test_shared_prompts_give_the_padded_rows_log_probs_and_gradients():
    """Shared prefixes computed once (pack_pairs) against every row on its own (pack_rows), prefixes running into
    the answers included: the same per-document log-probs and the same adapter gradients."""
    from fast_helpers import grads

    model = lora_model(SMALL)
    batch = pairs(seed=3)
    P = batch["input_ids"].shape[0] // 2
    for k in ("input_ids", "labels"):  # pair 0's answers share their first 3 tokens
        batch[k][P, 9:12] = batch[k][0, 9:12]
    fast = FastPath(model, max_tokens=1 << 20, ckpt_layers=1)
    out = {}
    for name, mb in (("rows", pack_rows(batch["input_ids"], batch["labels"], batch["attention_mask"])),
                     ("shared", pack_pairs(batch["input_ids"], batch["labels"], batch["attention_mask"]))):
        model.zero_grad(set_to_none=True)
        logps, counts = document_logps(fast, mb, CPU)
        (logps * torch.arange(1.0, 2 * P + 1)).sum().backward()
        out[name] = (logps.detach(), counts, grads(model))
    assert out["shared"][1].tolist() == out["rows"][1].tolist()
    torch.testing.assert_close(out["shared"][0], out["rows"][0], rtol=1e-5, atol=1e-5)
    for k, g in out["rows"][2].items():
        assert rel_err(out["shared"][2][k], g) < 1e-5, k


@pytest.mark.parametrize("pref_loss, ftx", [("sigmoid", 0.0), ("sigmoid", 0.5), ("hinge", 0.0), ("ipo", 0.0),
                                            ("orpo", 0.1), ("simpo", 0.0)])
def test_the_recorded_dpo_step_matches_the_eager_fast_path(pref_loss, ftx):
    model = lora_model(SMALL)
    cfg, batch = step_config(pref_loss=pref_loss, pref_ftx=ftx, pref_beta=2.0), pairs(seed=6)
    eager = step_loss(model, batch, cfg, CPU, NOCAST, fast=True)
    assert_same(_recorded_body(model, batch, cfg)[:3], eager)


def test_the_recorded_dpo_step_with_a_frozen_adapter_reference_matches_the_eager_fast_path():
    model = lora_model(SMALL)
    cfg, batch = step_config(pref_beta=2.0), pairs(seed=7)
    frozen = shifted_adapter(model)
    eager = step_loss(model, batch, cfg, CPU, NOCAST, fast=True, reference_weights=frozen)
    assert_same(_recorded_body(model, batch, cfg, reference_weights=frozen)[:3], eager)


def test_a_cached_reference_gives_the_recorded_step_without_its_reference_pass(monkeypatch):
    """Once a batch's pairs are in the ReferenceCache, its layout is recorded without the reference pass and
    reads the cached log-probs: the same loss, metrics and gradients."""
    from fast_helpers import grads
    from tuneboard_trainer.fast.pair_graph import PairGraphs
    from tuneboard_trainer.reference_cache import ReferenceCache
    from tuneboard_trainer.stages import PreferenceStep

    model = lora_model(SMALL)
    cfg, batch = step_config(pref_beta=2.0), pairs(seed=8)
    batch["index"] = torch.tensor([2, 0, 1])
    step = PreferenceStep(cfg)
    step.fast, step.cache = FastPath(model, max_tokens=1 << 20), ReferenceCache(3, CPU)
    pg = PairGraphs(step, step.fast, [p for p in model.parameters() if p.requires_grad], CPU, torch.float32)

    def recorded():
        model.zero_grad(set_to_none=True)
        key, host = pg.layout(batch, 1.0 / step.samples(batch))
        pg._ensure_grads()
        slot = pg._new_slot(key)
        slot.fill(host)
        pg._body(slot)
        return key, slot, grads(model)

    key, first, g_first = recorded()
    assert key[5] is False and step.known_reference(batch) is None  # (N, S, L, M, P, known, NE)
    step.remember_reference(batch, first.ref)  # what PairGraphs.run does after a replay
    torch.testing.assert_close(step.known_reference(batch), first.ref)
    monkeypatch.setattr(pg, "_reference", lambda: pytest.fail("the reference pass ran"))
    key, second, g_second = recorded()
    assert key[5] is True
    assert float(second.loss) == pytest.approx(float(first.loss), rel=1e-6)
    for k in first.metrics:
        torch.testing.assert_close(second.metrics[k], first.metrics[k])
    for k in g_first:
        assert rel_err(g_second[k], g_first[k]) < 1e-6, k
