"""Chat with a Qwen-template adapter: the chat process formats the conversation with the template the
`load` command names (the run's), not a fixed one; the `load` command and every event follow the
generated contracts."""

import io
import json

import pytest
import torch

from tuneboard_trainer.chat_server import ChatServer
from tuneboard_trainer.validation import ContractError, validate

CHATML = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who are you?"}]


@pytest.fixture(scope="module")
def qwen_adapter(tmp_path_factory, tiny_model_dir):
    from tuneboard_trainer.lora import apply_lora, save_adapter
    from tuneboard_trainer.hf_weights import load_pretrained

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("qwen_run") / "adapter"
    save_adapter(apply_lora(load_pretrained(tiny_model_dir), targets="all", r=4, alpha=8), out)
    return out


def test_a_qwen_adapter_is_chatted_with_in_chatml(tiny_model_dir, qwen_adapter):
    server = ChatServer(stdin=io.StringIO(), stdout=io.StringIO())
    server.handle({"type": "load", "model_path": str(tiny_model_dir), "adapter_paths": [str(qwen_adapter)],
                   "template": "qwen"})
    prompts = []
    generate = server.model.generate
    server.model.generate = lambda prompt, *a, **k: (prompts.append(list(prompt)), generate(prompt, *a, **k))[1]
    server.handle({"type": "generate", "request_id": "r1", "messages": MESSAGES, "max_new_tokens": 2,
                   "temperature": 0, "top_p": 1, "top_k": 0, "repetition_penalty": 1, "seed": None,
                   "use_adapters": True})
    assert server.tokenizer.decode(prompts[0], skip_special_tokens=False).endswith(CHATML)
    events = [validate("chat_event", json.loads(line)) for line in server.stdout.getvalue().splitlines()]
    assert [e["type"] for e in events][-1] == "done" and "loaded" in [e["type"] for e in events]


def test_the_load_command_follows_the_contract(tiny_model_dir):
    server = ChatServer(stdin=io.StringIO(), stdout=io.StringIO())
    with pytest.raises(ContractError) as e:
        server.handle({"type": "load", "model_path": str(tiny_model_dir), "adapter_paths": [], "template": "vicuna"})
    assert e.value.field == "template"
    with pytest.raises(ContractError) as e:
        server.handle({"type": "load", "model_path": str(tiny_model_dir), "adapter_paths": []})
    assert e.value.field == "template"
