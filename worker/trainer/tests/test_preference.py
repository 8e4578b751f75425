"""Parity of the preference and reward losses (preference.py) with TRL, on a tiny random Llama (CPU, fp32).

TRL's own trainers compute the reference numbers on a transformers + peft twin of our model with the same LoRA
weights (random A and B, so the policy differs from its reference): DPOTrainer (sigmoid, hinge, ipo),
KTOTrainer and RewardTrainer through their `_compute_loss` / `compute_loss` on our batches; ORPO and SimPO
through TRL's loss functions (ORPOTrainer.odds_ratio_loss, CPOTrainer.cpo_loss) on TRL's per-token average
log-probs. Loss and every adapter gradient must match within 1e-5.
"""

import sys
import types
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from hf_tiny import BASE, make_hf  # noqa: E402
from tuneboard_trainer.hf_weights import load_pretrained  # noqa: E402
from tuneboard_trainer.lora import adapters_disabled  # noqa: E402
from tuneboard_trainer.methods import LoraSettings, prepare_model  # noqa: E402
from tuneboard_trainer.preference import (kto_loss, last_token_hidden, pair_loss, reward_pair_loss,  # noqa: E402
                                          sequence_logps)
from tuneboard_trainer.stage_data import KtoSample, PairSample, kto_batch, pair_batch  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
R, ALPHA, PAD = 4, 8, 0
TOL = dict(atol=1e-5, rtol=1e-5)


def lora_config(**kw):
    from peft import LoraConfig

    return LoraConfig(r=R, lora_alpha=ALPHA, target_modules=TARGETS, lora_dropout=0.0, **kw)


def tokenizer():
    """A word-level tokenizer over the tiny vocabulary ("t0" .. "t96"); TRL's trainers need one to start."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(BASE["vocab_size"])}, unk_token="t2"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="t1", pad_token=f"t{PAD}")


def seq(n, g):
    return torch.randint(2, BASE["vocab_size"], (n,), generator=g).tolist()  # never the pad id


def pairs(seed=3):
    """Pairs of different prompt and answer lengths, so padding and per-token averages matter."""
    g = torch.Generator().manual_seed(seed)
    return [PairSample(seq(p, g), seq(c, g), seq(r, g)) for p, c, r in [(5, 4, 7), (3, 6, 2), (8, 3, 3)]]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-llama")
    make_hf("llama2").save_pretrained(d)
    return d


def randomise_lora(peft_model, seed=5):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def our_name(peft_name: str) -> str:
    return peft_name.removeprefix("base_model.model.").replace(".default", "")


def ours_like(model_dir, peft_model):
    """Our model with the peft twin's LoRA weights."""
    model = load_pretrained(model_dir, dtype=torch.float32, device=torch.device("cpu"))
    prepare_model(model, "lora", lora=LoraSettings(targets=TARGETS, r=R, alpha=ALPHA, dropout=0.0,
                                                   use_rslora=False, use_dora=False))
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_" in n:
                named[our_name(n)].copy_(p)
    return model


def assert_same_grads(ours, peft_model):
    named = dict(ours.named_parameters())
    compared = 0
    for n, p in peft_model.named_parameters():
        if "lora_" in n:
            torch.testing.assert_close(named[our_name(n)].grad, p.grad, **TOL, msg=f"gradient of {n}")
            compared += 1
    assert compared == 2 * len(TARGETS) * BASE["num_hidden_layers"]


def our_pair_logps(model, batch, reference: bool):
    """(chosen, rejected, chosen_len, rejected_len) summed log-probs; with the adapter off for the reference."""
    if reference:
        with torch.no_grad(), adapters_disabled(model):
            logps, n = sequence_logps(model, model(batch["input_ids"]), batch["labels"])
    else:
        logps, n = sequence_logps(model, model(batch["input_ids"]), batch["labels"])
    c, r = logps.chunk(2)
    nc, nr = n.chunk(2)
    return c, r, nc, nr


def trl_inputs(batch):
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
            "completion_mask": (batch["labels"] != -100).long()}


def dataset(rows):
    from datasets import Dataset

    return Dataset.from_list(rows)


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "ipo"])
def test_dpo_losses_match_trl(tmp_path, model_dir, loss_type):
    from trl import DPOConfig, DPOTrainer

    beta = 0.1
    args = DPOConfig(output_dir=str(tmp_path), beta=beta, loss_type=[loss_type], report_to="none", use_cpu=True,
                     per_device_train_batch_size=3, gradient_checkpointing=False, bf16=False)
    trainer = DPOTrainer(model=make_hf("llama2"), args=args, processing_class=tokenizer(),
                         train_dataset=dataset([{"prompt": "t5 t6", "chosen": " t7", "rejected": " t8"}]),
                         peft_config=lora_config())
    randomise_lora(trainer.model)
    batch = pair_batch(pairs(), PAD)

    trl_loss = trainer._compute_loss(trainer.model, trl_inputs(batch), False)
    trl_loss.backward()

    ours = ours_like(model_dir, trainer.model)
    ref_c, ref_r, _, _ = our_pair_logps(ours, batch, reference=True)
    c, r, nc, nr = our_pair_logps(ours, batch, reference=False)
    losses, metrics = pair_loss(loss_type, beta, c, r, nc, nr, ref_c, ref_r)
    loss = losses.mean()
    loss.backward()

    torch.testing.assert_close(loss, trl_loss, **TOL)
    assert_same_grads(ours, trainer.model)
    logged = trainer._metrics["train"]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                "logps/rejected"):
        assert metrics[key].mean().item() == pytest.approx(logged[key][-1], abs=1e-5), key
    assert 0.0 < metrics["rewards/accuracies"].mean().item() < 1.0 or metrics["rewards/margins"].abs().sum() > 0


def peft_twin():
    from peft import get_peft_model

    twin = get_peft_model(make_hf("llama2"), lora_config())
    randomise_lora(twin)
    return twin


def trl_average_logps(twin, batch):
    from trl.experimental.orpo import ORPOTrainer

    logits = twin(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    avg = ORPOTrainer.get_batch_logps(logits, batch["labels"], average_log_prob=True)
    return avg.chunk(2)


def test_orpo_matches_trl(model_dir):
    from trl.experimental.orpo import ORPOTrainer

    beta, batch, twin = 0.1, pair_batch(pairs(), PAD), peft_twin()
    avg_c, avg_r = trl_average_logps(twin, batch)
    fake = types.SimpleNamespace(beta=beta, accelerator=types.SimpleNamespace(device=torch.device("cpu")))
    ratio_losses = ORPOTrainer.odds_ratio_loss(fake, avg_c, avg_r)[0]
    # TRL's NLL term averages over prompt and answer tokens of the batch; LLaMA-Factory's (ours) is the
    # per-token NLL of each chosen answer, averaged over pairs: the same quantity from TRL's average log-probs.
    trl_loss = (-avg_c).mean() - ratio_losses.mean()
    trl_loss.backward()

    ours = ours_like(model_dir, twin)
    c, r, nc, nr = our_pair_logps(ours, batch, reference=False)
    loss = pair_loss("orpo", beta, c, r, nc, nr)[0].mean()
    loss.backward()
    torch.testing.assert_close(loss, trl_loss, **TOL)
    assert_same_grads(ours, twin)


def test_simpo_matches_trl(model_dir):
    from trl.experimental.cpo import CPOTrainer

    beta, gamma, batch, twin = 2.0, 0.5, pair_batch(pairs(), PAD), peft_twin()
    avg_c, avg_r = trl_average_logps(twin, batch)
    fake = types.SimpleNamespace(beta=beta, simpo_gamma=gamma, loss_type="simpo", alpha=0.0, label_smoothing=0.0,
                                 accelerator=types.SimpleNamespace(device=torch.device("cpu")))
    trl_loss = CPOTrainer.cpo_loss(fake, avg_c, avg_r)[0].mean()  # cpo_alpha 0: no NLL term (pref_ftx 0)
    trl_loss.backward()

    ours = ours_like(model_dir, twin)
    c, r, nc, nr = our_pair_logps(ours, batch, reference=False)
    loss = pair_loss("simpo", beta, c, r, nc, nr, simpo_gamma=gamma)[0].mean()
    loss.backward()
    torch.testing.assert_close(loss, trl_loss, **TOL)
    assert_same_grads(ours, twin)


def test_kto_matches_trl(tmp_path, model_dir):
    from trl import KTOConfig, KTOTrainer

    beta, w_d, w_u = 0.1, 1.0, 1.5
    args = KTOConfig(output_dir=str(tmp_path), beta=beta, desirable_weight=w_d, undesirable_weight=w_u,
                     report_to="none", use_cpu=True, per_device_train_batch_size=4, gradient_checkpointing=False,
                     bf16=False)
    rows = [{"prompt": "t5 t6", "completion": " t7", "label": True}, {"prompt": "t5", "completion": " t8",
                                                                        "label": False}]
    trainer = KTOTrainer(model=make_hf("llama2"), args=args, processing_class=tokenizer(),
                         train_dataset=dataset(rows), peft_config=lora_config())
    assert trainer.calculate_KL
    randomise_lora(trainer.model)
    g = torch.Generator().manual_seed(7)
    samples = [KtoSample(seq(p, g), seq(a, g), d) for p, a, d in [(5, 4, True), (3, 6, False), (6, 2, True),
                                                                 (4, 5, False)]]
    b = kto_batch(samples, PAD)
    inputs = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"],
              "completion_mask": (b["labels"] != -100).long(), "label": b["desirable"],
              "KL_input_ids": b["kl_input_ids"], "KL_attention_mask": b["kl_attention_mask"],
              "KL_completion_mask": (b["kl_labels"] != -100).long()}
    trl_loss = trainer._compute_loss(trainer.model, inputs, False)
    trl_loss.backward()

    ours = ours_like(model_dir, trainer.model)
    with torch.no_grad():
        with adapters_disabled(ours):
            ref_logps, _ = sequence_logps(ours, ours(b["input_ids"]), b["labels"])
            ref_kl, _ = sequence_logps(ours, ours(b["kl_input_ids"]), b["kl_labels"])
        kl_logps, _ = sequence_logps(ours, ours(b["kl_input_ids"]), b["kl_labels"])
    logps, _ = sequence_logps(ours, ours(b["input_ids"]), b["labels"])
    losses, metrics = kto_loss(beta, logps, ref_logps, b["desirable"], kl_logps, ref_kl, w_d, w_u)
    loss = losses.mean()
    loss.backward()
    torch.testing.assert_close(loss, trl_loss, **TOL)
    assert_same_grads(ours, trainer.model)
    assert metrics["kl"].item() == pytest.approx(trainer._metrics["train"]["kl"][-1], abs=1e-6)


def test_reward_model_loss_matches_trl(tmp_path, model_dir):
    import transformers
    from trl import RewardConfig, RewardTrainer

    causal = make_hf("llama2")
    cfg = transformers.LlamaConfig(**{**causal.config.to_dict(), "num_labels": 1, "pad_token_id": PAD})
    scorer = transformers.LlamaForSequenceClassification(cfg)
    scorer.model.load_state_dict(causal.model.state_dict())
    torch.manual_seed(11)
    torch.nn.init.normal_(scorer.score.weight, std=0.5)
    score = scorer.score.weight.detach().clone()
    args = RewardConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True, per_device_train_batch_size=3,
                        gradient_checkpointing=False, bf16=False)
    trainer = RewardTrainer(model=scorer, args=args, processing_class=tokenizer(),
                            train_dataset=dataset([{"chosen": "t5 t7", "rejected": "t5 t8"}]),
                            peft_config=lora_config(task_type="SEQ_CLS", modules_to_save=["score"]))
    randomise_lora(trainer.model)
    batch = pair_batch(pairs(), PAD)
    trl_loss = trainer.compute_loss(trainer.model, {"input_ids": batch["input_ids"],
                                                    "attention_mask": batch["attention_mask"]})
    trl_loss.backward()

    ours = ours_like(model_dir, trainer.model)
    value_head = torch.nn.Linear(BASE["hidden_size"], 1, bias=False)
    with torch.no_grad():
        value_head.weight.copy_(score)
    scores = value_head(last_token_hidden(ours(batch["input_ids"]), batch["attention_mask"])).squeeze(-1)
    losses, metrics = reward_pair_loss(*scores.chunk(2))
    loss = losses.mean()
    loss.backward()
    torch.testing.assert_close(loss, trl_loss, **TOL)
    assert_same_grads(ours, trainer.model)
    trl_head = next(p for n, p in trainer.model.named_parameters() if "score" in n and p.requires_grad)
    torch.testing.assert_close(value_head.weight.grad, trl_head.grad, **TOL)
    assert 0.0 <= metrics["rewards/accuracies"].mean().item() <= 1.0


def test_pref_ftx_adds_the_chosen_answers_per_token_nll():
    g = torch.Generator().manual_seed(2)
    c, r, rc, rr = (-torch.rand(3, generator=g) * 20 for _ in range(4))
    nc, nr = torch.tensor([4, 6, 3]), torch.tensor([7, 2, 3])
    for loss_type in ("sigmoid", "hinge", "ipo", "simpo"):
        plain, _ = pair_loss(loss_type, 0.1, c, r, nc, nr, rc, rr)
        with_sft, _ = pair_loss(loss_type, 0.1, c, r, nc, nr, rc, rr, ftx=0.5)
        torch.testing.assert_close(with_sft, plain + 0.5 * (-c / nc))
    # ORPO's SFT term is part of the loss itself; pref_ftx does not add a second one (LLaMA-Factory's rule).
    torch.testing.assert_close(pair_loss("orpo", 0.1, c, r, nc, nr, ftx=0.5)[0], pair_loss("orpo", 0.1, c, r, nc, nr)[0])
