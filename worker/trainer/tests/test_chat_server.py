"""(h) chat server smoke test: real subprocess, JSON lines, greedy generation, stop, unload."""

import json
import os
import queue
import subprocess
import sys
import threading

import torch

from conftest import REPO_ROOT, TRAINER_DIR
from tuneboard_trainer.chat_server import StreamDecoder, generate_ids, sample_next
from tuneboard_trainer.model import load_pretrained
from tuneboard_trainer.templates import get_template, load_tokenizer


class Proc:
    def __init__(self):
        # CPU only (fp32), so greedy output must equal the in-process CPU reference.
        env = {**os.environ, "PYTHONPATH": str(TRAINER_DIR), "CUDA_VISIBLE_DEVICES": ""}
        self.p = subprocess.Popen([sys.executable, "-m", "tuneboard_trainer", "chat"], cwd=REPO_ROOT, env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, encoding="utf-8")
        self.q = queue.Queue()
        threading.Thread(target=lambda: [self.q.put(line) for line in self.p.stdout], daemon=True).start()

    def send(self, **msg):
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()

    def recv(self, timeout=60):
        return json.loads(self.q.get(timeout=timeout))

    def until(self, type_, timeout=60):
        seen = []
        while True:
            msg = self.recv(timeout)
            seen.append(msg)
            if msg["type"] in (type_, "error"):
                return msg, seen


def greedy_reference(model_dir, text, n):
    model = load_pretrained(model_dir)
    tmpl = get_template("llama3", load_tokenizer(model_dir))
    ids = list(generate_ids(model, tmpl.encode_prompt([{"role": "user", "content": text}]), n, set()))
    return tmpl.tokenizer.decode(ids), ids


def test_chat_server_smoke(tiny_model_dir):
    expected_text, _ = greedy_reference(tiny_model_dir, "Who are you?", 12)
    s = Proc()
    try:
        assert s.recv() == {"type": "ready"}
        s.send(type="load", model_path=str(tiny_model_dir), adapter_path=None, template="llama3")
        loaded, _ = s.until("loaded")
        assert loaded["type"] == "loaded" and loaded["device"] == "cpu" and loaded["load_s"] >= 0

        # Greedy: deterministic and equal to in-process generation.
        s.send(type="generate", request_id="r1", messages=[{"role": "user", "content": "Who are you?"}],
               max_new_tokens=12, temperature=0, top_p=0.7, top_k=50, seed=None)
        done, seen = s.until("done")
        assert done == {**done, "type": "done", "request_id": "r1", "tokens": 12, "finish_reason": "length"}
        assert "".join(m["text"] for m in seen if m["type"] == "token") == expected_text

        # Stop interrupts a long generation between tokens.
        s.send(type="generate", request_id="r2", messages=[{"role": "user", "content": "Talk."}],
               max_new_tokens=1500, temperature=0.95, top_p=0.7, top_k=50, seed=1)
        first = s.recv()
        assert first["type"] == "token" and first["request_id"] == "r2"
        s.send(type="stop", request_id="r2")
        done, _ = s.until("done")
        assert done["finish_reason"] == "aborted" and done["tokens"] < 1500

        s.send(type="generate", request_id="r3", messages="oops")
        err, _ = s.until("error")
        assert err["type"] == "error" and err["request_id"] == "r3"

        s.send(type="unload")
        assert s.until("unloaded")[0]["type"] == "unloaded"
        s.send(type="generate", request_id="r4", messages=[{"role": "user", "content": "hi"}])
        assert "no model loaded" in s.until("error")[0]["message"]
        s.send(type="shutdown")
        assert s.p.wait(timeout=30) == 0
    finally:
        if s.p.poll() is None:
            s.p.kill()


def test_stream_decoder_never_splits_characters(tokenizer):
    text = "你好，世界! I am 🤖 TestBot."
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    dec = StreamDecoder(tokenizer)
    pieces = [dec.push(i) for i in ids] + [dec.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    assert len(ids) > len([p for p in pieces if p])  # some tokens were partial characters


def test_sampling_filters():
    logits = torch.tensor([5.0, 4.0, 1.0, 0.0])
    g = torch.Generator().manual_seed(0)
    assert sample_next(logits, 0.0, 0, 1.0, g) == 0
    assert {sample_next(logits, 1.0, 2, 1.0, g) for _ in range(200)} == {0, 1}
    assert {sample_next(logits, 1.0, 0, 0.5, g) for _ in range(50)} == {0}
