"""LoRA on quantized base weights (the reference path): a run trains, resumes bit-identically and saves an
adapter that peft loads on the full-precision base; bad quantization settings fail in words."""

import pytest
import torch
from safetensors.torch import load_file

from test_train import make_cfg, run_events
from tuneboard_trainer.config import ConfigError, TrainConfig
from tuneboard_trainer.lora import load_adapter
from tuneboard_trainer.quant.linear import QuantizedLinear
from tuneboard_trainer.quant.load import load_quantized
from tuneboard_trainer.train import train
from tuneboard_trainer.events import EventSink

IDS = torch.tensor([[128000, 9906, 1917, 11, 358, 1097, 264, 1296, 13]])


def test_lora_on_a_4bit_base_trains_resumes_and_saves_a_peft_adapter(tmp_path, tiny_model_dir, dataset_dir):
    # On the CPU: this is the reference path (on CUDA with triton a quantized run takes the fast path).
    kw = dict(max_steps=4, save_steps=2, lora_dropout=0.1, quantization_bit="4", gradient_checkpointing=False,
              device="cpu")
    straight, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "a", **kw))
    assert sum(straight["losses"][-2:]) / 2 < straight["losses"][0] - 0.3  # it learns
    assert any(e.type == "log" and "quantized base weights (nf4, quantization_bit 4)" in e.message
               and "reference path" in e.message for e in events)
    started = next(e for e in events if e.type == "started")
    assert started.fast_path_options["active"] is False

    resumed, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "b", **kw,
                                          resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2")))
    assert resumed["losses"] == straight["losses"]
    assert [e.step for e in events if e.type == "step"] == [3, 4]

    # The adapter is a plain peft one: peft loads it on the full-precision base, every key matched.
    import peft
    import transformers

    adapter = tmp_path / "a"
    saved = load_file(str(adapter / "adapter_model.safetensors"))
    hf = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
    pm = peft.PeftModel.from_pretrained(hf, str(adapter)).eval()
    loaded = {k.replace(".default", ""): v for k, v in pm.state_dict().items() if ".lora_" in k}
    assert set(loaded) == set(saved)
    assert all(torch.equal(loaded[k].float(), saved[k]) for k in saved)

    # And it means the same thing there: peft on the dequantized weights gives our quantized model's logits.
    ours = load_adapter(load_quantized(tiny_model_dir, "nf4", dtype=torch.float32), adapter).eval()
    hf32 = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    with torch.no_grad():
        for name, module in ours.named_modules():
            if isinstance(module, QuantizedLinear):
                hf32.get_submodule(name.removesuffix(".quantized")).weight.copy_(module.dequantized_weight())
        pm32 = peft.PeftModel.from_pretrained(hf32, str(adapter)).eval()
        torch.testing.assert_close(pm32(input_ids=IDS).logits, ours.logits(IDS), atol=1e-4, rtol=0)


@pytest.mark.parametrize("bits,method", [("8", "int8"), ("8", "fp8"), ("4", "nf4")])
def test_quantized_runs_follow_the_full_precision_loss(tmp_path, tiny_model_dir, dataset_dir, bits, method):
    kw = dict(max_steps=6, gradient_checkpointing=True)
    base, base_events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, "bf", **kw))
    quant, events = run_events(make_cfg(tmp_path, tiny_model_dir, dataset_dir, method, quantization_bit=bits,
                                        quantization_method=method, **kw))
    started = [next(e for e in ev if e.type == "started") for ev in (base_events, events)]
    assert started[1].total_params == started[0].total_params  # quantized weights still count
    assert started[1].trainable_params == started[0].trainable_params
    assert len(quant["losses"]) == 6 and quant["losses"][-1] < quant["losses"][0]
    # Same data, seed and adapter init: the curves differ only by the base weights' quantization error.
    tol = {"int8": 0.02, "fp8": 0.03, "nf4": 0.1}[method]  # measured: 1.0%, 0.8%, 7% at step 6
    assert abs(quant["losses"][-1] - base["losses"][-1]) <= tol * base["losses"][-1]


@pytest.mark.parametrize("change,message", [
    (dict(quantization_bit="4", quantization_method="int8"), "^quantization_method: int8 is an 8-bit method; quantization_bit is 4"),
    (dict(quantization_method="nf4"), "^quantization_method: nf4 needs quantization_bit 4"),
    (dict(quantization_bit="8", finetuning_type="freeze"), "^quantization_bit: quantized base weights train only"),
])
def test_quantization_settings_that_do_not_fit_fail_in_words(tmp_path, tiny_model_dir, dataset_dir, change, message):
    cfg = TrainConfig.from_dict(make_cfg(tmp_path, tiny_model_dir, dataset_dir, **change))
    import io

    with pytest.raises(ConfigError, match=message):
        train(cfg, EventSink(io.StringIO()))


def test_the_contract_refuses_an_unknown_quantization_bit(tmp_path, tiny_model_dir, dataset_dir):
    with pytest.raises(ConfigError, match="quantization_bit"):
        TrainConfig.from_dict(make_cfg(tmp_path, tiny_model_dir, dataset_dir, quantization_bit="2"))
