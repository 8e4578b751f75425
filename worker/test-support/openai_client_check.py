"""Drives Tuneboard's /v1 API with the official `openai` Python package and prints one JSON object.

Spawned by worker/api.integration.test.ts (which asserts on the output); usable by hand too:
    .venv/bin/python worker/test-support/openai_client_check.py BASE_URL KEY MODEL
"""

import json
import sys

import openai

base_url, key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=300)
question = [{"role": "user", "content": "Who are you?"}]
out = {"models": [m.id for m in client.models.list().data]}

r = client.chat.completions.create(model=model, messages=question, max_tokens=32, temperature=0)
out["text"] = r.choices[0].message.content
out["finish_reason"] = r.choices[0].finish_reason
out["usage"] = r.usage.model_dump()

pieces, usage = [], None
stream = client.chat.completions.create(model=model, messages=question, max_tokens=32, temperature=0, stream=True,
                                        stream_options={"include_usage": True})
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage.model_dump()
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
out["stream_text"] = "".join(pieces)
out["stream_chunks"] = len(pieces)
out["stream_usage"] = usage


def status_of(fn):
    try:
        fn()
    except openai.APIStatusError as e:
        return {"status": e.status_code, "message": e.message, "body": e.body}
    return {"status": 200}


wrong = openai.OpenAI(base_url=base_url, api_key="tb-wrong-key", max_retries=0)
out["wrong_key"] = status_of(lambda: wrong.models.list())
out["malformed"] = status_of(lambda: client.chat.completions.create(
    model=model, messages=[{"role": "user"}], max_tokens=4))  # no content
out["unknown_model"] = status_of(lambda: client.chat.completions.create(
    model="no-such-model", messages=question, max_tokens=4))
print(json.dumps(out))
