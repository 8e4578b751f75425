"""Causal attention kernels for packed training, forward + backward, side by side on one GPU.

    PYTHONPATH=worker/trainer python3 -m bench.attn_bench --json-out attn.json

Why: in the graphed 8B step (2 x 1024 tokens) FlashAttention-2's kernels take ~12 ms of ~132 (about 170
TFLOP/s, a fifth of the card's matmul rate), more than any other non-GEMM cost. This measures what else
torch ships for the same math on the same packed (N, heads, head_dim) tensors:

  flash_varlen      fast._FlashVarlen: aten._flash_attention_forward/backward with cu_seqlens, grouped K/V
  cudnn_varlen      aten._cudnn_attention_forward/backward with cum_seq (the ragged path nested tensors use),
                    grouped K/V passed as they are
  cudnn_varlen_rep  the same with K/V repeated to all heads (if grouped K/V is refused)
  sdpa_cudnn_dense  F.scaled_dot_product_attention, cuDNN backend, (B, H, L, hd) -- only when every sequence
                    has the same length (workload 1)
  sdpa_flash_dense  the same with the flash backend

Each: median of --iters timed forward + backward passes (CUDA events, back to back), TFLOP/s of the causal
math (forward 2 matmuls of 2 * L^2 / 2 * hd per head, backward 2.5x), and the largest difference of output
and gradients against flash_varlen (bf16). A variant that fails records its error and the others go on.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback

import torch
import torch.nn.functional as F


def causal_flops(lens: list[int], H: int, hd: int) -> float:
    fwd = sum(2 * 2 * L * L / 2 * hd * H for L in lens)
    return 3.5 * fwd  # forward + backward (2.5x)


def make_inputs(lens, H, KV, hd, device, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    N = sum(lens)
    q = torch.randn(N, H, hd, generator=g).to(device, torch.bfloat16)
    k = torch.randn(N, KV, hd, generator=g).to(device, torch.bfloat16)
    v = torch.randn(N, KV, hd, generator=g).to(device, torch.bfloat16)
    do = torch.randn(N, H, hd, generator=g).to(device, torch.bfloat16)
    cu = torch.tensor([0] + list(torch.tensor(lens).cumsum(0).tolist()), dtype=torch.int32, device=device)
    return q, k, v, do, cu


def flash_varlen(q, k, v, do, cu, L):
    out, lse, rng, unused, _ = torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, L, L, 0.0, True, False)
    dq, dk, dv = torch.ops.aten._flash_attention_backward(do, q, k, v, out, lse, cu, cu, L, L, 0.0, True, rng, unused)
    return out, dq, dk, dv


def cudnn_varlen(q, k, v, do, cu, L, repeat=False):
    """Through autograd (CudnnAttentionBackward0): the backward op's attn_bias argument is not optional."""
    H, KV = q.shape[1], k.shape[1]
    q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
    kk, vv = (k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)) if repeat else (k, v)
    out = torch.ops.aten._cudnn_attention_forward(q, kk, vv, None, cu, cu, L, L, True, 0.0, True, False)[0]
    out.backward(do)
    return out.detach(), q.grad, k.grad, v.grad


def sdpa_dense(q, k, v, do, cu, L, backend):
    """Equal lengths only: (N, H, hd) -> (B, H, L, hd) views."""
    from torch.nn.attention import sdpa_kernel

    N, H, hd = q.shape
    B = N // L
    qd, kd, vd = (t.detach().view(B, L, t.shape[1], hd).transpose(1, 2).requires_grad_(True) for t in (q, k, v))
    with sdpa_kernel(backend):
        o = F.scaled_dot_product_attention(qd, kd, vd, is_causal=True, enable_gqa=kd.shape[1] != H)
    o.backward(do.view(B, L, H, hd).transpose(1, 2))
    back = lambda t: t.transpose(1, 2).reshape(N, t.shape[1], hd)  # noqa: E731
    return back(o.detach()), back(qd.grad), back(kd.grad), back(vd.grad)


def timed(fn, iters: int) -> list[float]:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(iters + 1)]
    ev[0].record()
    for i in range(iters):
        fn()
        ev[i + 1].record()
    torch.cuda.synchronize()
    return [ev[i].elapsed_time(ev[i + 1]) for i in range(iters)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.attn_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--lens", default="1024,1024", help="sequence lengths of one packed micro-batch")
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("needs a GPU", file=sys.stderr)
        return 2
    from torch.nn.attention import SDPBackend

    dev = torch.device("cuda")
    lens = [int(x) for x in args.lens.split(",")]
    H, KV, hd = args.heads, args.kv_heads, args.head_dim
    q, k, v, do, cu = make_inputs(lens, H, KV, hd, dev)
    L = max(lens)
    variants = {
        "flash_varlen": lambda: flash_varlen(q, k, v, do, cu, L),
        "cudnn_varlen": lambda: cudnn_varlen(q, k, v, do, cu, L),
        "cudnn_varlen_rep": lambda: cudnn_varlen(q, k, v, do, cu, L, repeat=True),
    }
    if len(set(lens)) == 1:
        variants["sdpa_cudnn_dense"] = lambda: sdpa_dense(q, k, v, do, cu, L, SDPBackend.CUDNN_ATTENTION)
        variants["sdpa_flash_dense"] = lambda: sdpa_dense(q, k, v, do, cu, L, SDPBackend.FLASH_ATTENTION)
    ref = flash_varlen(q, k, v, do, cu, L)
    flops = causal_flops(lens, H, hd)
    res = {"card": torch.cuda.get_device_name(), "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version(), "lens": lens, "heads": H, "kv_heads": KV, "head_dim": hd,
           "variants": {}}
    for name, fn in variants.items():
        r = {}
        try:
            got = fn()
            r["max_abs_diff"] = {n: float((a.float() - b.float()).abs().max()) for n, a, b in
                                 zip(("out", "dq", "dk", "dv"), got, ref)}
            ms = sorted(timed(fn, args.iters))
            r["ms_median"] = round(ms[len(ms) // 2], 4)
            r["ms_min"] = round(ms[0], 4)
            r["tflops"] = round(flops / (r["ms_median"] / 1000) / 1e12, 1)
        except Exception as e:  # noqa: BLE001 -- record and go on
            r["error"] = f"{type(e).__name__}: {str(e)[:400]}"
            r["traceback"] = traceback.format_exc()[-1500:]
        res["variants"][name] = r
        print(f"{name:<20} {json.dumps({k2: v2 for k2, v2 in r.items() if k2 != 'traceback'})}", flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
