"""Long-lived chat process speaking JSON lines on stdin/stdout (`python -m tuneboard_trainer chat`).

stdin is read on a thread, so a `stop` can interrupt a running generation
between two tokens; other requests that arrive meanwhile are queued.
The model lives in a `chat_engine.ChatEngine`: weights straight to the device, LoRA adapters kept
unmerged (a request with `use_adapters: false` answers with the base model), static KV cache and,
on CUDA, a CUDA-graph decode step. Load progress goes out as `progress` events.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import queue
import sys
import threading
import time
import traceback
from typing import Optional

import torch

from .chat_engine import load_engine
from .sampling import GenParams
from .chat_reference import load_reference_engine
from .hf_weights import load_config
from .model import LLAMA_FAMILY
from .rope import STATIC_ROPE_TYPES
from .templates import load_template
from .validation import validate


class StreamDecoder:
    """Incremental detokenizer: only emits text once its UTF-8 bytes are complete.

    Byte-level BPE can split one character (e.g. a CJK glyph) across tokens;
    decoding a partial sequence yields U+FFFD, so we wait for the next token.
    """

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # start of the window we re-decode (keeps leading-space handling right)
        self.read = 0  # ids before this are already emitted

    def _decode(self, ids):
        return self.tok.decode(ids, skip_special_tokens=True)

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        done = self._decode(self.ids[self.prefix : self.read])
        full = self._decode(self.ids[self.prefix :])
        if len(full) > len(done) and not full.endswith("\ufffd"):
            self.prefix, self.read = self.read, len(self.ids)
            return full[len(done):]
        return ""

    def flush(self) -> str:
        done = self._decode(self.ids[self.prefix : self.read])
        full = self._decode(self.ids[self.prefix :])
        self.prefix = self.read = len(self.ids)
        return full[len(done):]


# ---------------------------------------------------------------- server


class ChatServer:
    def __init__(self, stdin=None, stdout=None, decode: str = "compile", max_seq: int = 4096):
        # CUDA decode: compile (fastest; ~10 s the first time on a machine, then Inductor's disk cache), graph
        # (CUDA graph of eager kernels, 0.5 s warm-up) or eager; max_seq: the static KV cache's length in tokens.
        self.decode, self.max_seq = decode, int(max_seq)
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.inbox: queue.Queue = queue.Queue()
        self.pending: collections.deque = collections.deque()  # requests that arrived mid-generation
        self.write_lock = threading.Lock()
        self.model = self.template = self.tokenizer = None
        self.model_path: Optional[str] = None
        self.templates: dict = {}  # per-request templates (API requests name their run's), by name
        self.loaded_info: dict = {}
        self.shutting_down = False

    def send(self, **msg) -> None:
        with self.write_lock:
            self.stdout.write(json.dumps(msg, ensure_ascii=False) + "\n")
            self.stdout.flush()

    def _reader(self) -> None:
        for line in self.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
                if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                    raise ValueError("message must be an object with a string 'type'")
            except ValueError as e:
                self.send(type="error", message=f"bad message: {e}")
                continue
            self.inbox.put(msg)
        # stdin closed: finish what was asked, then exit (a dead parent also breaks our stdout).
        self.inbox.put({"type": "shutdown"})

    def serve(self) -> int:
        threading.Thread(target=self._reader, daemon=True).start()
        self.send(type="ready")
        while not self.shutting_down:
            msg = self.pending.popleft() if self.pending else self.inbox.get()
            try:
                self.handle(msg)
            except Exception as e:  # noqa: BLE001 -- one bad request must not kill the server
                traceback.print_exc(file=sys.stderr)
                err = {"type": "error", "message": f"{type(e).__name__}: {e}"}
                if msg.get("request_id") is not None:
                    err["request_id"] = msg["request_id"]
                self.send(**err)
        return 0

    def handle(self, msg: dict) -> None:
        kind = msg["type"]
        if kind == "load":
            # The template is the run's for its adapters, else the model's (lib/chat/template.ts).
            load = validate("chat_command", msg)
            self.load(load["model_path"], load["adapter_paths"], load["template"])
        elif kind == "generate":
            self.generate(msg)
        elif kind == "stop":
            self._drop_queued(msg.get("request_id"))  # not generating now: drop a queued request, if any
        elif kind == "unload":
            self.unload()
            self.send(type="unloaded")
        elif kind == "shutdown":
            self.shutting_down = True
        else:
            raise ValueError(f"unknown message type {kind!r}")

    def load(self, model_path: str, adapter_paths: list, template: str) -> None:
        t0 = time.time()
        self.unload()
        cfg = load_config(model_path)
        rope = (cfg.rope_scaling or {}).get("rope_type", "default")
        # chat_engine's fused layer math computes the Llama family with fixed, unscaled RoPE frequencies; the
        # other families (and scaled RoPE) run the reference forward (chat_reference.py).
        fused = cfg.architecture in LLAMA_FAMILY and rope in STATIC_ROPE_TYPES
        last = {"phase": None, "pct": -1.0}

        def progress(phase: str, pct: Optional[float]) -> None:
            # Weights report per tensor: send only phase changes and steps of >= 2 %.
            if phase == last["phase"] and pct is not None and pct < 1.0 and pct - last["pct"] < 0.02:
                return
            last.update(phase=phase, pct=-1.0 if pct is None else pct)
            self.send(type="progress", phase=phase, pct=None if pct is None else round(pct, 4),
                      elapsed_s=round(time.time() - t0, 3))

        tmpl = load_template(template, model_path)  # any of templates.SUPPORTED_TEMPLATES
        engine = (load_engine(model_path, adapter_paths, mode=self.decode, max_seq_len=self.max_seq, progress=progress)
                  if fused else load_reference_engine(model_path, adapter_paths, max_seq_len=self.max_seq,
                                                      progress=progress))
        self.model, self.template, self.tokenizer = engine, tmpl, tmpl.tokenizer
        self.model_path, self.templates = model_path, {template: tmpl}
        self.send(type="loaded", model_path=model_path, adapter_paths=list(adapter_paths),
                  load_s=round(time.time() - t0, 3), device=str(engine.device), mode=engine.mode)

    def unload(self) -> None:
        if self.model is not None:
            self.model = self.template = self.tokenizer = None
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _drop_queued(self, request_id) -> None:
        for queued in list(self.pending):
            if queued.get("type") == "generate" and queued.get("request_id") == request_id:
                self.pending.remove(queued)
                self.send(type="done", request_id=request_id, tokens=0, tokens_per_sec=0.0, finish_reason="aborted")

    def _poll_stop(self, request_id) -> bool:
        """Drain the inbox between tokens; True if this generation must stop."""
        stop = False
        while True:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return stop
            if msg["type"] == "stop" and msg.get("request_id") in (None, request_id):
                stop = True
            elif msg["type"] == "stop":  # e.g. compare mode stops both answers: drop the queued one now
                self._drop_queued(msg.get("request_id"))
            else:  # everything else (shutdown included) runs in arrival order afterwards
                self.pending.append(msg)

    def generate(self, msg: dict) -> None:
        rid = msg.get("request_id")
        if self.model is None:
            raise RuntimeError("no model loaded (send a 'load' message first)")
        messages = msg.get("messages")
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise ValueError("messages must be a list of {role, content} strings")
        params = GenParams.parse(msg)
        selected = msg.get("adapter_paths")  # optional: the loaded adapters this request uses
        if selected is not None:
            if not isinstance(selected, list) or not all(isinstance(a, str) for a in selected):
                raise ValueError("adapter_paths: must be a list of strings")
            missing = [a for a in selected if a not in self.model.adapters]
            if missing:
                raise ValueError(f"adapter_paths: not loaded: {', '.join(missing)}")
            params = dataclasses.replace(params, adapter_mask=tuple(a in selected for a in self.model.adapters))
        template = self.template
        name = msg.get("template")
        if name is not None:
            if not isinstance(name, str):
                raise ValueError("template: must be a string")
            if name not in self.templates:
                self.templates[name] = load_template(name, self.model_path)
            template = self.templates[name]
        prompt = template.encode_prompt(messages)
        decoder = StreamDecoder(self.tokenizer)
        n, finish, t0 = 0, "stop", time.time()
        for token_id in self.model.generate(prompt, params, frozenset(template.stop_ids)):
            n += 1
            text = decoder.push(token_id)
            if text:
                self.send(type="token", request_id=rid, text=text)
            if self._poll_stop(rid):
                finish = "aborted"
                break
        else:
            if n >= params.max_new_tokens or len(prompt) + n >= self.model.max_seq_len:
                finish = "length"
        tail = decoder.flush()
        if tail:
            self.send(type="token", request_id=rid, text=tail)
        dt = time.time() - t0
        self.send(type="done", request_id=rid, tokens=n, tokens_per_sec=round(n / dt, 2) if dt > 0 else 0.0,
                  finish_reason=finish, prompt_tokens=len(prompt))


def serve(decode: str = "compile", max_seq: int = 4096) -> int:
    return ChatServer(decode=decode, max_seq=max_seq).serve()
