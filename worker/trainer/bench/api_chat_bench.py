"""The GPU side of the /v1 API, measured at the chat process (no Node.js needed): what
scripts/bench-api.ts measures end to end, minus the HTTP/socket.io hops (a few ms, see docs/api.md).

    python -m bench.api_chat_bench --out results.json [--tokens 256] [--repeat 3]   (from worker/trainer)

Writes a random Llama-3.1-8B-shaped model with two random adapters (bench.api_bench_model), starts
`python -m tuneboard_trainer chat`, loads the model with both adapters, then, greedy:
  chat page: `generate` with use_adapters (both adapters on, as the Chat page with two loaded);
  API, 1 stream: `generate` with adapter_paths=[a] and the run's template;
  API, 8 concurrent: 8 `generate` commands written at once, alternating adapters a and b.
TTFT is from writing the command to its first `token` event; tokens/s of an answer is
(tokens - 1) / (last - first token time); for 8 also the aggregate over the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TRAINER = Path(__file__).resolve().parents[1]
Q = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shape", default="8b")
    a = ap.parse_args()
    res: dict = {"shape": a.shape, "new_tokens": a.tokens}
    save = lambda: Path(a.out).write_text(json.dumps(res, indent=2))  # noqa: E731
    tmp = Path(tempfile.mkdtemp(prefix="api-chat-bench-"))
    env = {**os.environ, "PYTHONPATH": str(TRAINER)}
    t0 = time.time()
    model = subprocess.run([sys.executable, "-m", "bench.api_bench_model", "--out", str(tmp), "--shape", a.shape],
                           cwd=TRAINER, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    res["write_model_s"] = round(time.time() - t0, 1)
    adapters = [str(tmp / "runs" / "adapter-a"), str(tmp / "runs" / "adapter-b")]
    p = subprocess.Popen([sys.executable, "-m", "tuneboard_trainer", "chat"], cwd=TRAINER, env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    events: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [events.put((time.perf_counter(), json.loads(l))) for l in p.stdout], daemon=True).start()

    def send(**m):
        p.stdin.write(json.dumps(m) + "\n")
        p.stdin.flush()
        return time.perf_counter()

    def until(kind):
        while True:
            t, e = events.get(timeout=1800)
            if e["type"] == "error":
                raise RuntimeError(e["message"])
            if e["type"] == kind:
                return t, e

    until("ready")
    t = send(type="load", model_path=model, adapter_paths=adapters, template="llama3")
    _, loaded = until("loaded")
    res["load"] = {"load_s": loaded["load_s"], "mode": loaded.get("mode"), "device": loaded["device"]}
    params = dict(messages=Q, max_new_tokens=a.tokens, temperature=0, top_p=1, top_k=0, repetition_penalty=1, seed=None)

    def run(batch):
        """batch: list of extra fields per request, written at once; returns per-request stats and wall s."""
        start = {}
        for n, extra in enumerate(batch):
            start[f"r{n}"] = send(type="generate", request_id=f"r{n}", use_adapters=True, **params, **extra)
        first, last, done = {}, {}, {}
        w0 = min(start.values())
        while len(done) < len(batch):
            t, e = events.get(timeout=1800)
            if e["type"] == "token":
                first.setdefault(e["request_id"], t)
                last[e["request_id"]] = t
            elif e["type"] == "done":
                done[e["request_id"]] = (t, e)
            elif e["type"] == "error":
                raise RuntimeError(e["message"])
        out = [{"ttft_ms": (first[r] - start[r]) * 1e3, "tokens": done[r][1]["tokens"],
                "tokens_per_sec": (done[r][1]["tokens"] - 1) / max(last[r] - first[r], 1e-9)} for r in start]
        return out, max(t for t, _ in done.values()) - w0

    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    summ = lambda rs: {k: round(med([r[k] for r in rs]), 1) for k in ("ttft_ms", "tokens_per_sec", "tokens")}  # noqa: E731
    run([{}])  # warm-up
    res["chat_page"] = summ([run([{}])[0][0] for _ in range(a.repeat)])
    print("chat page", res["chat_page"], flush=True)
    save()
    api = {"adapter_paths": [adapters[0]], "template": "llama3"}
    res["api_1_stream"] = summ([run([api])[0][0] for _ in range(a.repeat)])
    print("API, 1 stream", res["api_1_stream"], flush=True)
    save()
    batch = [{"adapter_paths": [adapters[n % 2]], "template": "llama3"} for n in range(8)]
    rs, wall = run(batch)
    tt = sorted(r["ttft_ms"] for r in rs)
    res["api_8_streams"] = {"ttft_ms": {"min": round(tt[0], 1), "median": round(med(tt), 1), "max": round(tt[-1], 1)},
                            "per_stream_tokens_per_sec": round(med([r["tokens_per_sec"] for r in rs]), 1),
                            "aggregate_tokens_per_sec": round(sum(r["tokens"] for r in rs) / wall, 1),
                            "wall_s": round(wall, 2)}
    print("API, 8 streams", res["api_8_streams"], flush=True)
    save()
    send(type="shutdown")
    p.wait(timeout=60)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
