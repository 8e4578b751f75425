"""(h) chat server smoke test: real subprocess, JSON lines, greedy generation, stop, unload."""

import json
import os
import queue
import subprocess
import sys
import threading

import torch

from conftest import REPO_ROOT, TRAINER_DIR
from tuneboard_trainer.chat_engine import ChatEngine
from tuneboard_trainer.sampling import GenParams
from tuneboard_trainer.chat_server import StreamDecoder
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
    eng = ChatEngine(model_dir, max_seq_len=256)
    tmpl = get_template("llama3", load_tokenizer(model_dir))
    ids = list(eng.generate(tmpl.encode_prompt([{"role": "user", "content": text}]),
                            GenParams(max_new_tokens=n, temperature=0.0)))
    return tmpl.tokenizer.decode(ids), ids


def test_chat_server_smoke(tiny_model_dir):
    expected_text, _ = greedy_reference(tiny_model_dir, "Who are you?", 12)
    s = Proc()
    try:
        assert s.recv() == {"type": "ready"}
        s.send(type="load", model_path=str(tiny_model_dir), adapter_paths=[], template="llama3")
        loaded, seen = s.until("loaded")
        assert loaded["type"] == "loaded" and loaded["device"] == "cpu" and loaded["load_s"] >= 0
        phases = [m["phase"] for m in seen if m["type"] == "progress"]
        assert phases[0] == "weights" and phases[-1] == "weights"
        assert [m["pct"] for m in seen if m["type"] == "progress"][-1] == 1.0

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

        # A bad parameter is refused, naming the field.
        s.send(type="generate", request_id="r2b", messages=[{"role": "user", "content": "hi"}], top_p=0)
        err, _ = s.until("error")
        assert err["request_id"] == "r2b" and "top_p" in err["message"]

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


def test_compare_mode_and_stopping_a_queued_request(tmp_path, tiny_model_dir):
    """With an adapter loaded, use_adapters=false answers as the base model; stopping both answers of a
    compare pair also drops the one still queued."""
    from tuneboard_trainer.lora import apply_lora, save_adapter
    from tuneboard_trainer.hf_weights import load_pretrained

    torch.manual_seed(0)
    m = apply_lora(load_pretrained(tiny_model_dir), targets="all", r=4, alpha=8)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 1.0)
    save_adapter(m, tmp_path / "adapter")
    base_text, _ = greedy_reference(tiny_model_dir, "Who are you?", 8)
    s = Proc()
    try:
        assert s.recv() == {"type": "ready"}
        s.send(type="load", model_path=str(tiny_model_dir), adapter_paths=[str(tmp_path / "adapter")], template="llama3")
        loaded, seen = s.until("loaded")
        assert loaded["adapter_paths"] == [str(tmp_path / "adapter")]
        assert "adapters" in [m["phase"] for m in seen if m["type"] == "progress"]
        q = [{"role": "user", "content": "Who are you?"}]
        answers = {}
        for rid, use in (("tuned", True), ("base", False)):
            s.send(type="generate", request_id=rid, messages=q, max_new_tokens=8, temperature=0, use_adapters=use)
            done, seen = s.until("done")
            answers[rid] = "".join(m["text"] for m in seen if m["type"] == "token")
        assert answers["base"] == base_text and answers["tuned"] != base_text

        # Two long answers queued back to back; stop both while the first runs.
        for rid in ("a", "b"):
            s.send(type="generate", request_id=rid, messages=q, max_new_tokens=1500, temperature=1.0, seed=1)
        assert s.recv()["request_id"] == "a"
        s.send(type="stop", request_id="a")
        s.send(type="stop", request_id="b")
        finished = {}
        while len(finished) < 2:
            msg = s.recv()
            if msg["type"] == "done":
                finished[msg["request_id"]] = msg
        assert finished["a"]["finish_reason"] == "aborted" and finished["b"] == {**finished["b"], "tokens": 0,
                                                                               "finish_reason": "aborted"}
        s.send(type="shutdown")
        assert s.p.wait(timeout=30) == 0
    finally:
        if s.p.poll() is None:
            s.p.kill()


def test_generate_with_adapter_paths_uses_only_those_adapters(tmp_path, tiny_model_dir):
    """API requests name the loaded adapters they use: two adapters loaded, each request answers as
    the process holding that adapter alone; `done` reports the prompt's token count."""
    from tuneboard_trainer.lora import apply_lora, save_adapter
    from tuneboard_trainer.hf_weights import load_pretrained

    dirs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        m = apply_lora(load_pretrained(tiny_model_dir), targets="all", r=4, alpha=8)
        with torch.no_grad():
            for n, p in m.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 1.0)
        save_adapter(m, tmp_path / f"adapter{seed}")
        dirs.append(str(tmp_path / f"adapter{seed}"))
    q = [{"role": "user", "content": "Who are you?"}]

    def answer(s, rid, **extra):
        s.send(type="generate", request_id=rid, messages=q, max_new_tokens=8, temperature=0, **extra)
        done, seen = s.until("done")
        assert done["type"] == "done", done
        return "".join(m["text"] for m in seen if m["type"] == "token"), done

    alone = {}
    for d in dirs:
        s = Proc()
        try:
            assert s.recv() == {"type": "ready"}
            s.send(type="load", model_path=str(tiny_model_dir), adapter_paths=[d], template="llama3")
            assert s.until("loaded")[0]["type"] == "loaded"
            alone[d] = answer(s, "x")[0]
        finally:
            s.p.kill()
    assert alone[dirs[0]] != alone[dirs[1]]
    s = Proc()
    try:
        assert s.recv() == {"type": "ready"}
        s.send(type="load", model_path=str(tiny_model_dir), adapter_paths=dirs, template="llama3")
        assert s.until("loaded")[0]["type"] == "loaded"
        for n, d in enumerate([dirs[0], dirs[1], dirs[1], dirs[0]]):
            text, done = answer(s, f"r{n}", adapter_paths=[d], template="llama3")
            assert text == alone[d]
            assert done["prompt_tokens"] > 0
        s.send(type="generate", request_id="bad", messages=q, adapter_paths=["/not/loaded"])
        err, _ = s.until("done")
        assert err["type"] == "error" and err["request_id"] == "bad" and "not loaded" in err["message"]
        s.send(type="shutdown")
        assert s.p.wait(timeout=30) == 0
    finally:
        if s.p.poll() is None:
            s.p.kill()
