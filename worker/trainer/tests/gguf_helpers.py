"""Shared pieces of the GGUF tests: an identity adapter trained on the demo model, our engine's greedy
tokens and logits for a prompt, and llama.cpp's, through llama-cpp-python."""

import json
import shutil
from pathlib import Path

import torch

from conftest import REPO_ROOT

DEMO_MODEL = REPO_ROOT / "data/models/tuneboard-demo"
PROMPT = [{"role": "user", "content": "Who are you?"}]


def train_identity_adapter(tmp: Path) -> Path:
    """The tutorial's identity dataset as Greatbot by Allen, trained with the demo model's preset."""
    from tuneboard_trainer.config import TrainConfig
    from tuneboard_trainer.demo_model import DEMO_PRESET
    from tuneboard_trainer.events import EventSink
    from tuneboard_trainer.train import train

    data = tmp / "data"
    data.mkdir(parents=True)
    text = (REPO_ROOT / "data/templates/identity.json").read_text(encoding="utf-8")
    (data / "identity.json").write_text(text.replace("{{name}}", "Greatbot").replace("{{author}}", "Allen"),
                                        encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"identity": {"file_name": "identity.json"}}))
    out = tmp / "run"
    cfg = {**DEMO_PRESET, "model_name_or_path": str(DEMO_MODEL), "dataset_dir": str(data), "dataset": ["identity"],
           "output_dir": str(out), "template": "llama3", "seed": 42, "device": "cpu"}
    train(TrainConfig.from_dict(cfg), EventSink(open("/dev/null", "w")))
    shutil.rmtree(data)
    return out


def prompt_ids(model_dir: Path, messages=PROMPT) -> list[int]:
    from tuneboard_trainer.templates import load_template

    tpl = load_template("llama3", model_dir)
    return tpl.encode_prompt(messages)


def our_greedy(model_dir: Path, adapter: Path | None, ids: list[int], n: int) -> tuple[list[int], torch.Tensor]:
    """Our engine (fp32): the first n greedy tokens (no stop) and the logits at the prompt's last position."""
    from tuneboard_trainer.generate import generate_ids
    from tuneboard_trainer.lora import load_adapter
    from tuneboard_trainer.hf_weights import load_pretrained

    model = load_pretrained(model_dir)
    if adapter is not None:
        load_adapter(model, adapter)
    model.eval()
    with torch.no_grad():
        logits = model.logits(torch.tensor([ids]))[0, -1].float()
        toks = list(generate_ids(model, ids, n, stop_ids=set(), temperature=0.0))
    return toks, logits


def our_logits_f16_weights(model_dir: Path, adapter: Path | None, ids: list[int], f16_inputs: bool = False) -> torch.Tensor:
    """Our engine's last-position logits with the merged matrices rounded to F16 (what an F16 GGUF holds),
    so a comparison with llama.cpp measures its arithmetic, not the format's rounding.

    f16_inputs: also round every matrix product's input to F16, as llama.cpp's CPU backend does (an F16
    weight's vec_dot type is F16: the activations are converted before each product)."""
    from tuneboard_trainer.lora import load_adapter, merge_lora
    from tuneboard_trainer.hf_weights import load_pretrained

    model = load_pretrained(model_dir)
    if adapter is not None:
        load_adapter(model, adapter)
        merge_lora(model)
    model.eval()
    if f16_inputs:
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.register_forward_pre_hook(lambda _m, args: (args[0].half().float(), *args[1:]))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(p.half().float())
        return model.logits(torch.tensor([ids]))[0, -1].float()


GGML_TYPE_F32 = 0


def llama_cpp_greedy(gguf_path: Path, ids: list[int], n: int, f32_kv_cache: bool = False):
    """llama.cpp (CPU): the first n greedy tokens after `ids` and the logits at the prompt's last position.
    f32_kv_cache: keys and values cached in F32 instead of llama.cpp's default F16."""
    import numpy as np
    from llama_cpp import Llama

    kv = {"type_k": GGML_TYPE_F32, "type_v": GGML_TYPE_F32} if f32_kv_cache else {}
    llm = Llama(model_path=str(gguf_path), n_ctx=256, n_threads=2, logits_all=True, verbose=False, seed=0, **kv)
    llm.eval(ids)
    logits = np.array(llm.scores[len(ids) - 1], dtype=np.float32)
    toks = []
    for _ in range(n):
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        toks.append(t)
        llm.eval([t])
    return toks, torch.from_numpy(logits), llm
