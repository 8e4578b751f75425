"""Losses of the preference stages (dpo with its pref_loss variants, kto) and of the reward model (rm).

Every function takes per-sequence log-probabilities and returns per-sample losses (the caller averages them
over the optimizer step's samples) plus the metrics TRL logs under the same names. The formulas are TRL's
(trainer/dpo_trainer.py, kto_trainer.py, reward_trainer.py; experimental/orpo and cpo for ORPO and SimPO),
with LLaMA-Factory's knobs: `pref_beta`, `pref_ftx` (an SFT term on the chosen answers: the mean per-token
negative log-likelihood of each chosen answer), `simpo_gamma` and the KTO weights. tests/test_preference.py
checks loss and adapter gradients against TRL itself.

Log-probabilities are sums over the answer tokens; ipo, orpo and simpo use per-token averages (the sum divided by
the answer's token count), as TRL does. The reference model of dpo (sigmoid, hinge, ipo) and kto is the policy
with its LoRA adapter switched off (lora.adapters_disabled), never a second copy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .templates import IGNORE_INDEX

# pref_loss values that need reference log-probs (ORPO and SimPO are reference-free).
REFERENCE_LOSSES = ("sigmoid", "hinge", "ipo")
AVERAGED_LOSSES = ("ipo", "orpo", "simpo")


def sequence_logps(model, hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of log p(label) over each row's labelled tokens (B,) fp32, labelled token count per row (B,)).

    hidden: (B, T, D) final hidden states; labels: (B, T), -100 = not an answer token. Position t predicts
    token t+1; only labelled positions go through lm_head, so no (B, T, V) tensor is built.
    """
    h, y = hidden[:, :-1], labels[:, 1:]
    keep = y != IGNORE_INDEX
    rows = torch.arange(y.shape[0], device=y.device)[:, None].expand_as(y)[keep]
    logits = model.lm_head(h[keep]).float()  # (N, V)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:  # Gemma 2: the model's logits are soft-capped, and so are the log-probs it is trained on
        logits = cap * torch.tanh(logits / cap)
    token_logps = torch.log_softmax(logits, dim=-1).gather(1, y[keep][:, None]).squeeze(1)
    sums = torch.zeros(y.shape[0], dtype=torch.float32, device=y.device).index_add(0, rows, token_logps)
    return sums, keep.sum(1)


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, stable on both sides of -ln 2."""
    return torch.where(x < -0.6931471805599453, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def _pair_metrics(chosen_rewards, rejected_rewards, chosen_logps, rejected_logps) -> dict:
    return {
        "rewards/chosen": chosen_rewards.detach(), "rewards/rejected": rejected_rewards.detach(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float().detach(),
        "rewards/margins": (chosen_rewards - rejected_rewards).detach(),
        "logps/chosen": chosen_logps.detach(), "logps/rejected": rejected_logps.detach(),
    }


def pair_loss(pref_loss: str, beta: float, chosen_logps, rejected_logps, chosen_len, rejected_len,
              ref_chosen_logps=None, ref_rejected_logps=None, ftx: float = 0.0, simpo_gamma: float = 0.5):
    """Per-pair losses (B,) and per-pair metrics of the dpo stage for `pref_loss`.

    *_logps: summed answer log-probs (B,); *_len: answer token counts (B,); ref_*: the reference's summed
    log-probs (sigmoid, hinge and ipo only).
    """
    avg_chosen = chosen_logps / chosen_len.clamp(min=1)
    avg_rejected = rejected_logps / rejected_len.clamp(min=1)
    sft = -avg_chosen  # LLaMA-Factory's SFT term: per-token NLL of the chosen answer
    if pref_loss in REFERENCE_LOSSES:
        if ref_chosen_logps is None or ref_rejected_logps is None:
            raise ValueError(f"pref_loss {pref_loss} needs the reference log-probs")
        chosen_ratio, rejected_ratio = chosen_logps - ref_chosen_logps, rejected_logps - ref_rejected_logps
        if pref_loss == "sigmoid":  # DPO
            losses = -F.logsigmoid(beta * (chosen_ratio - rejected_ratio))
        elif pref_loss == "hinge":  # SLiC
            losses = torch.relu(1 - beta * (chosen_ratio - rejected_ratio))
        else:  # IPO, on per-token averages (eq. 17, tau = beta)
            delta = chosen_ratio / chosen_len.clamp(min=1) - rejected_ratio / rejected_len.clamp(min=1)
            losses = (delta - 1 / (2 * beta)) ** 2
        metrics = _pair_metrics(beta * chosen_ratio, beta * rejected_ratio, chosen_logps, rejected_logps)
    elif pref_loss == "orpo":  # odds ratio on per-token averages; the SFT term is part of ORPO itself
        log_odds = (avg_chosen - avg_rejected) - (_log1mexp(avg_chosen) - _log1mexp(avg_rejected))
        losses = sft - beta * F.logsigmoid(log_odds)
        return losses, _pair_metrics(beta * avg_chosen, beta * avg_rejected, chosen_logps, rejected_logps)
    elif pref_loss == "simpo":  # length-normalised reward with a target margin, no reference
        losses = -F.logsigmoid(beta * ((avg_chosen - avg_rejected) - simpo_gamma / beta))
        metrics = _pair_metrics(beta * avg_chosen, beta * avg_rejected, chosen_logps, rejected_logps)
    else:
        raise ValueError(f"unknown pref_loss {pref_loss!r}")
    if ftx > 0:
        losses = losses + ftx * sft
    return losses, metrics


def kto_loss(beta: float, logps, ref_logps, desirable, kl_logps, ref_kl_logps,
             desirable_weight: float = 1.0, undesirable_weight: float = 1.0):
    """Per-sample KTO losses (B,) and metrics (eq. 7 of the KTO paper, as TRL's KTOTrainer).

    logps / ref_logps: summed answer log-probs of the policy and the reference (B,); desirable: (B,) bool;
    kl_*: the same for the mismatched (prompt, other answer) rows, which estimate the KL term z0 (detached,
    clamped at 0).
    """
    kl = (kl_logps - ref_kl_logps).mean().detach().clamp(min=0)
    ratio = logps - ref_logps
    losses = torch.where(desirable, desirable_weight * (1 - torch.sigmoid(beta * (ratio - kl))),
                         undesirable_weight * (1 - torch.sigmoid(beta * (kl - ratio))))
    rewards = beta * ratio.detach()
    metrics = {"kl": kl, "rewards/chosen": rewards[desirable], "rewards/rejected": rewards[~desirable],
               "logps/chosen": logps.detach()[desirable], "logps/rejected": logps.detach()[~desirable]}
    return losses, metrics


def last_token_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, D): each row's hidden state at its last real token (rows are right-padded)."""
    last = attention_mask.sum(1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def reward_pair_loss(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor):
    """Per-pair reward-model losses (B,): -log sigmoid(r_chosen - r_rejected), and accuracy / margins."""
    losses = -F.logsigmoid(chosen_scores - rejected_scores)
    metrics = {"rewards/chosen": chosen_scores.detach(), "rewards/rejected": rejected_scores.detach(),
               "rewards/accuracies": (chosen_scores > rejected_scores).float().detach(),
               "rewards/margins": (chosen_scores - rejected_scores).detach()}
    return losses, metrics
