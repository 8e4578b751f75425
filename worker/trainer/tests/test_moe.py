"""Mixture of experts (Qwen3-MoE, Mixtral): the router picks the experts transformers' router picks, with the
same weights; the auxiliary load-balancing loss equals transformers' (with and without padding); the logits
match end to end (test_model_parity covers both through hf_tiny.ARCHS)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import BASE, rand_ids, save_hf  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402
from tuneboard_trainer.moe import load_balancing_loss  # noqa: E402

MOE = ["qwen3_moe", "mixtral"]


def sparse(model, hf):
    """(our first sparse block's SparseMoE, transformers' router of the same layer)."""
    ours = model.model.layers[0]
    moe = ours.block_sparse_moe if ours.mixtral else ours.mlp
    return moe, hf.model.layers[0].mlp.gate


@pytest.mark.parametrize("arch", MOE)
def test_router_choices_and_weights_are_transformers(tmp_path, arch):
    hf = save_hf(arch, tmp_path)
    moe, router = sparse(load_pretrained(tmp_path), hf)
    x = torch.randn(64, BASE["hidden_size"], generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits, weights, experts = moe.route(x)
        hf_logits, hf_weights, hf_experts = router(x)
    torch.testing.assert_close(logits, hf_logits, atol=1e-6, rtol=0)
    assert torch.equal(experts, hf_experts)
    torch.testing.assert_close(weights, hf_weights, atol=1e-6, rtol=0)
    assert len(set(experts.reshape(-1).tolist())) == moe.gate.out_features  # every expert is used somewhere
    if moe.norm_topk:
        torch.testing.assert_close(weights.sum(-1), torch.ones(64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", MOE)
def test_aux_loss_is_transformers(tmp_path, arch):
    hf = save_hf(arch, tmp_path)
    ours = load_pretrained(tmp_path)
    ids = rand_ids((2, 20), seed=8)
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, :7] = 0
    module = __import__(type(hf).__module__, fromlist=["load_balancing_loss_func"])
    cfg = ours.config
    with torch.no_grad():
        out = hf(ids, output_router_logits=True)
        ours(ids)
        router_logits = ours.router_logits()
        assert len(router_logits) == len(out.router_logits)  # the dense layer of qwen3_moe has no router
        for a, b in zip(router_logits, out.router_logits):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        for m in (None, mask):
            expected = module.load_balancing_loss_func(out.router_logits, cfg.num_experts, cfg.num_experts_per_tok, m)
            got = load_balancing_loss(router_logits, cfg.num_experts, cfg.num_experts_per_tok, m)
            torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(load_balancing_loss(router_logits, cfg.num_experts, cfg.num_experts_per_tok),
                                   out.aux_loss, atol=1e-6, rtol=1e-6)
    assert cfg.router_aux_loss_coef == hf.config.router_aux_loss_coef


def test_qwen3_moe_keeps_dense_layers_and_its_top_k_setting(tmp_path):
    save_hf("qwen3_moe", tmp_path / "a")
    ours = load_pretrained(tmp_path / "a")
    assert ours.config.dense_layers == [1] and ours.config.norm_topk_prob
    assert type(ours.model.layers[1].mlp).__name__ == "MLP"
    save_hf("qwen3_moe", tmp_path / "b", norm_topk_prob=False)  # the transformers default: weights not renormalised
    ids = rand_ids((1, 12), seed=2)
    with torch.no_grad():
        assert (load_pretrained(tmp_path / "b").logits(ids) - ours.logits(ids)).abs().max() > 1e-3


@pytest.mark.parametrize("arch", MOE)
def test_loss_with_aux_is_transformers_loss_with_router_logits(tmp_path, arch):
    """lm loss + coef * aux_loss over real tokens: transformers' loss with output_router_logits (LLaMA-Factory's
    moe_aux_loss_coef sets router_aux_loss_coef), padding included."""
    from tuneboard_trainer.loss import lm_loss

    coef = 0.37
    hf = save_hf(arch, tmp_path, router_aux_loss_coef=coef)
    ours = load_pretrained(tmp_path)
    ids = rand_ids((2, 16), seed=9)
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 11:] = 0  # right padding, as the trainer's batches
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        expected = hf(ids, attention_mask=mask, labels=labels, output_router_logits=True).loss
        ce_sum, n = lm_loss(ours, ours(ids, attention_mask=mask), labels)
        got = ce_sum / n + coef * ours.aux_loss(mask)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_training_with_the_aux_loss_trains_resumes_and_logs_it(tmp_path, tokenizer_dir, dataset_dir):
    import json

    from test_families import family_model_dir
    from test_train import make_cfg, run_events

    model_dir = family_model_dir(tmp_path, "qwen3_moe", tokenizer_dir)
    kw = dict(max_steps=4, save_steps=2, template="llama3", moe_aux_loss_coef=0.5, fast_path="on")
    with_aux, events = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "a", **kw))
    assert with_aux["losses"][-1] < with_aux["losses"][0] - 0.1
    assert any(e.type == "log" and "load-balancing loss x 0.5" in e.message for e in events)
    assert any(e.type == "log" and e.message.startswith("fast path: packed") for e in events)  # fast/moe.py
    logged = [json.loads(line) for line in (tmp_path / "a" / "trainer_log.jsonl").read_text().splitlines()]
    aux = [r["aux_loss"] for r in logged if "aux_loss" in r]
    assert len(aux) == 4 and all(a >= 1.0 for a in aux)  # E * sum(share * prob) is 1 when perfectly balanced

    without, _ = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "c", **{**kw, "moe_aux_loss_coef": None}))
    assert with_aux["losses"][0] == pytest.approx(without["losses"][0] + 0.5 * aux[0], abs=1e-4)

    resumed, _ = run_events(make_cfg(tmp_path, model_dir, dataset_dir, "b", **kw,
                                     resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2")))
    assert resumed["losses"] == with_aux["losses"]
