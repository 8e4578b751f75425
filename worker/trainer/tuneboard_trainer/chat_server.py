"""Long-lived chat process speaking JSON lines on stdin/stdout (`python -m tuneboard_trainer chat`).

stdin is read on a thread, so a `stop` can interrupt a running generation
between two tokens; other requests that arrive meanwhile are queued.
"""

from __future__ import annotations

import collections
import json
import queue
import random
import sys
import threading
import time
import traceback
from typing import Iterator, Optional

import torch

from .lora import load_adapter, merge_lora
from .model import KVCache, Transformer, load_pretrained
from .templates import load_template


# ---------------------------------------------------------------- generation


def sample_next(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
                generator: Optional[torch.Generator]) -> int:
    """Pick the next token from (V,) fp32 logits. temperature <= 0 means greedy."""
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k and 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0 < top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a token when the tokens before it already cover top_p (the first always stays).
        drop = probs.cumsum(-1) - probs > top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, idx, drop), float("-inf"))
    probs = logits.softmax(-1)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.inference_mode()
def generate_ids(model: Transformer, prompt: list[int], max_new_tokens: int, stop_ids: set[int],
                 temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
                 seed: Optional[int] = None) -> Iterator[int]:
    """Yield new token ids (stop token excluded) using a KV cache."""
    device = model.lm_head.weight.device
    dtype = model.lm_head.weight.dtype
    max_new_tokens = min(max_new_tokens, model.config.max_position_embeddings - len(prompt))
    if max_new_tokens <= 0:
        return
    cache = KVCache(model.config, 1, len(prompt) + max_new_tokens, device, dtype)
    generator = torch.Generator(device="cpu").manual_seed(seed if seed is not None else random.getrandbits(63))
    ids = torch.tensor([prompt], device=device)  # first pass: the whole prompt (prefill)
    pos = 0
    for _ in range(max_new_tokens):
        hidden = model(ids, cache=cache, start_pos=pos)  # (1, T, D)
        pos += ids.shape[1]
        logits = model.lm_head(hidden[0, -1]).float().cpu()  # (V,)
        nxt = sample_next(logits, temperature, top_k, top_p, generator)
        if nxt in stop_ids:
            return
        yield nxt
        ids = torch.tensor([[nxt]], device=device)  # later passes: one token against the cache


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
    def __init__(self, stdin=None, stdout=None):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.inbox: queue.Queue = queue.Queue()
        self.pending: collections.deque = collections.deque()  # requests that arrived mid-generation
        self.write_lock = threading.Lock()
        self.model = self.template = self.tokenizer = None
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
            self.load(msg["model_path"], msg.get("adapter_path"), msg.get("template", "llama3"))
        elif kind == "generate":
            self.generate(msg)
        elif kind == "stop":
            # Not generating now: drop a queued request with that id, if any.
            for queued in list(self.pending):
                if queued.get("type") == "generate" and queued.get("request_id") == msg.get("request_id"):
                    self.pending.remove(queued)
                    self.send(type="done", request_id=queued["request_id"], tokens=0, tokens_per_sec=0.0,
                              finish_reason="aborted")
        elif kind == "unload":
            self.unload()
            self.send(type="unloaded")
        elif kind == "shutdown":
            self.shutting_down = True
        else:
            raise ValueError(f"unknown message type {kind!r}")

    def load(self, model_path: str, adapter_path: Optional[str], template: str) -> None:
        t0 = time.time()
        self.unload()
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        tmpl = load_template(template, model_path)  # any of templates.SUPPORTED_TEMPLATES
        tokenizer = tmpl.tokenizer
        model = load_pretrained(model_path, dtype=dtype, device=device)
        if adapter_path:
            load_adapter(model, adapter_path)
            merge_lora(model)  # fold B @ A into the base weights: inference costs nothing extra
        self.model, self.template, self.tokenizer = model.eval(), tmpl, tokenizer
        self.send(type="loaded", model_path=model_path, adapter_path=adapter_path,
                  load_s=round(time.time() - t0, 3), device=str(device))

    def unload(self) -> None:
        if self.model is not None:
            self.model = self.template = self.tokenizer = None
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

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
        prompt = self.template.encode_prompt(messages)
        max_new = int(msg.get("max_new_tokens", 256))
        decoder = StreamDecoder(self.tokenizer)
        n, finish, t0 = 0, "stop", time.time()
        for token_id in generate_ids(
            self.model, prompt, max_new, self.template.stop_ids,
            temperature=float(msg.get("temperature", 0.95)), top_k=int(msg.get("top_k") or 0),
            top_p=float(msg.get("top_p", 1.0)), seed=msg.get("seed"),
        ):
            n += 1
            text = decoder.push(token_id)
            if text:
                self.send(type="token", request_id=rid, text=text)
            if self._poll_stop(rid):
                finish = "aborted"
                break
        else:
            if n >= max_new:
                finish = "length"
        tail = decoder.flush()
        if tail:
            self.send(type="token", request_id=rid, text=tail)
        dt = time.time() - t0
        self.send(type="done", request_id=rid, tokens=n, tokens_per_sec=round(n / dt, 2) if dt > 0 else 0.0,
                  finish_reason=finish)


def serve() -> int:
    return ChatServer().serve()
