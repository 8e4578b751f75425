"""Shared by test_fast_preference.py (CPU) and test_gpu_stages.py (CUDA): random preference micro-batches and one
PreferenceStep's loss and adapter gradients on the reference path or the fast path."""

from types import SimpleNamespace

import torch

from fast_helpers import grads
from tuneboard_trainer.fast import FastPath
from tuneboard_trainer.stage_data import KtoSample, PairSample, kto_batch, pair_batch
from tuneboard_trainer.stages import PreferenceStep


def step_config(stage="dpo", pref_loss="sigmoid", **kw):
    """The fields PreferenceStep reads, LLaMA-Factory's defaults unless given."""
    return SimpleNamespace(**{"stage": stage, "pref_loss": pref_loss, "pref_beta": 0.1, "pref_ftx": 0.0,
                              "simpo_gamma": 0.5, "kto_chosen_weight": 1.0, "kto_rejected_weight": 1.0, **kw})


def _ids(n, vocab, g):
    return torch.randint(1, vocab, (n,), generator=g).tolist()


def random_pairs(prompts, answers, vocab, seed=0) -> dict:
    """pair_batch of len(prompts) pairs: prompt lengths `prompts`, (chosen, rejected) lengths `answers`."""
    g = torch.Generator().manual_seed(seed)
    samples = [PairSample(_ids(p, vocab, g), _ids(c, vocab, g), _ids(r, vocab, g)) for p, (c, r) in zip(prompts, answers)]
    return pair_batch(samples, 0)


def random_kto(prompts, answers, vocab, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    samples = [KtoSample(_ids(p, vocab, g), _ids(a, vocab, g), i % 2 == 0) for i, (p, a) in enumerate(zip(prompts, answers))]
    return kto_batch(samples, 0)


def step_loss(model, batch, cfg, device, autocast, fast: bool, reference_weights=None, graphs=None, **fast_kw):
    """(per-sample mean loss, metrics, adapter gradients) of one micro-batch through PreferenceStep, on the fast
    path (a FastPath built over `model`) or the reference path; graphs (a dtype, CUDA only): the fast path's
    micro-batch recorded and replayed as a CUDA graph (fast/pair_graph.PairGraphs) in that compute dtype."""
    step = PreferenceStep(cfg)
    if reference_weights is not None:
        step.use_reference_weights(reference_weights, device)
    if fast:
        step.fast = FastPath(model, **{"max_tokens": 1 << 20, **fast_kw})
    model.zero_grad(set_to_none=True)
    n = step.samples(batch)
    if graphs is not None:
        from tuneboard_trainer.fast.pair_graph import PairGraphs

        params = [p for p in model.parameters() if p.requires_grad]
        pg = PairGraphs(step, step.fast, params, torch.device(device), graphs)
        loss, metrics = pg.run(batch, 1.0 / n)
        assert pg.disabled is None and pg.captures == 1, pg.disabled
        return float(loss) / n, metrics, grads(model)
    with autocast:
        loss, metrics = step(model, batch, device)
    (loss / n).backward()
    return float(loss.detach()) / n, metrics, grads(model)


def shifted_adapter(model, seed=11, std=0.02) -> dict:
    """Trainable weights of a different adapter (as an SFT run's final adapter would be): a frozen reference."""
    g = torch.Generator().manual_seed(seed)
    return {n: p.detach().float().cpu() + std * torch.randn(p.shape, generator=g)
            for n, p in model.named_parameters() if p.requires_grad}
