"""Chat inference engine: weights straight to the device, static KV cache, CUDA-graph decode, unmerged LoRA.

Why a forward of its own (model.py's `Transformer` is for training and reference): decoding one
token at a time is memory-bound, so on the GPU a step must run as one captured CUDA graph, which
needs fixed shapes and fixed tensor addresses. model.py's forward slices the cache and builds masks
whose shapes grow with the position. Here:

- weights stream from safetensors to the device tensor by tensor (safetensors_io.read_weights),
  never as a whole CPU copy; q/k/v and gate/up are fused into one matrix each (fewer, larger GEMVs);
- a base that adapters were trained on in 4 bits can stay 4-bit on the GPU (packed=True, quant/nf4_rows.py):
  each projection is quantized as it arrives and every token reads a quarter of the bf16 bytes, through a
  GEMV kernel that dequantizes in registers (the values are those the adapter was trained against); it is
  off by default until that kernel decodes faster than the dense engine;
- the KV cache is allocated once for `max_seq_len`; a decode step writes its position with
  `index_copy_` and attends over the whole buffer with a mask computed from the position tensor;
- LoRA adapters stay unmerged: per fused matrix, A (R, in) and B (out, R) (scaling folded into B)
  of every loaded adapter, added as `B((A x) * gate)`. `gate` is a per-rank vector of 1s and 0s (each
  adapter owns its rank columns), so one request can use any subset of the loaded adapters and another
  the base model alone: the gates are filled before the request, no second copy of the weights, no new graph;
- on CUDA the per-layer math is optionally `torch.compile`d (one small graph reused by every layer,
  so compiling takes seconds, not minutes) and the whole step is captured as one CUDA graph.

Every conversation is prefilled from position 0 (the chat history is short next to the cost of a
token, and it keeps the cache logic trivial).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch
import torch.nn.functional as F

from .lora import ALL_TARGETS, _own_key, _peft_target_matcher
from .model import ModelConfig, apply_rope, rope_inv_freq
from .quant.nf4_rows import NF4Rows, cat_rows, rows_linear
from .hf_weights import load_config
from .safetensors_io import read_weights
from .sampling import GenParams, apply_repetition_penalty, sample, sampling_state, tokens_to_generate

Progress = Callable[[str, Optional[float]], None]  # (phase, fraction 0..1 or None)


def _noop(phase: str, frac: Optional[float]) -> None:
    pass


# ---------------------------------------------------------------- per-layer math (compiled on CUDA)


def _rms(x, w, eps: float):
    # HF: normalise in fp32, cast back, then multiply by the weight.
    return w * F.rms_norm(x.float(), (x.shape[-1],), eps=eps).to(x.dtype)


def _lin(x, w, b, la, lb, gate):
    if isinstance(w, NF4Rows):  # a 4-bit base decoded from its packed weights
        y = rows_linear(x, w) if b is None else rows_linear(x, w) + b
    else:
        y = F.linear(x, w, b)
    if la is not None:
        y = y + F.linear(F.linear(x, la) * gate, lb)  # gate (R,): 1 for the ranks of adapters in use
    return y


def layer_pre(x, ln, wqkv, bqkv, la, lb, gate, qn, kn, cos, sin, n_heads: int, n_kv: int, hd: int, eps: float):
    """norm -> fused q/k/v (+ LoRA) -> (Qwen3 q/k norm) -> RoPE. x (T, D) -> q (T, H, hd), k/v (T, KV, hd)."""
    T = x.shape[0]
    qkv = _lin(_rms(x, ln, eps), wqkv, bqkv, la, lb, gate)
    q, k, v = qkv.split([n_heads * hd, n_kv * hd, n_kv * hd], dim=-1)
    q, k, v = q.view(T, n_heads, hd), k.view(T, n_kv, hd), v.view(T, n_kv, hd)
    if qn is not None:
        q, k = _rms(q, qn, eps), _rms(k, kn, eps)
    cos, sin = cos[:, None], sin[:, None]
    return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v


def attend_decode(q, ck, cv, bias, n_kv: int, scale: float):
    """One query over the whole static cache. q (1, H, hd); ck/cv (KV, S, hd); bias (S,) fp32 0 / -inf."""
    H, hd = q.shape[1], q.shape[2]
    qg = q.view(n_kv, H // n_kv, hd)  # query head h reads kv head h // rep (repeat_interleave order)
    s = torch.matmul(qg, ck.transpose(1, 2)).float() * scale + bias  # (KV, rep, S)
    y = torch.matmul(s.softmax(-1).to(q.dtype), cv)  # (KV, rep, hd)
    return y.reshape(1, H * hd)


def layer_post(x, y, wo, bo, lao, lbo, go, ln2, wgu, bgu, lagu, lbgu, ggu, wd, bd, lad, lbd, gd,
               inter: int, eps: float):
    """o_proj + residual, then norm -> fused gate/up -> SwiGLU -> down + residual (each with LoRA)."""
    x = x + _lin(y, wo, bo, lao, lbo, go)
    g, u = _lin(_rms(x, ln2, eps), wgu, bgu, lagu, lbgu, ggu).split([inter, inter], dim=-1)
    return x + _lin(F.silu(g) * u, wd, bd, lad, lbd, gd)


def head(x, ln, w, eps: float):
    return F.linear(_rms(x, ln, eps), w).float()[-1]  # (V,) logits of the last position


# ---------------------------------------------------------------- weights


def _is_bnb_4bit(model_dir) -> bool:
    from .quant.bnb_format import is_bnb_4bit

    return is_bnb_4bit(json.loads((Path(model_dir) / "config.json").read_text()))


def _dense(w: NF4Rows, dtype: torch.dtype) -> torch.Tensor:
    from .quant.nf4_rows import dequantize_rows

    return dequantize_rows(w.packed, w.scale, w.code, w.dtype, dtype)


@dataclass
class _Layer:
    ln1: torch.Tensor
    wqkv: torch.Tensor
    bqkv: Optional[torch.Tensor]
    qn: Optional[torch.Tensor]
    kn: Optional[torch.Tensor]
    wo: torch.Tensor
    bo: Optional[torch.Tensor]
    ln2: torch.Tensor
    wgu: torch.Tensor
    bgu: Optional[torch.Tensor]
    wd: torch.Tensor
    bd: Optional[torch.Tensor]
    window: Optional[int]
    # LoRA per fused matrix: (A (R, in), B (out, R), gate (R,)) or None; owner (R,) = adapter index per rank
    lqkv: Optional[tuple] = None
    lo: Optional[tuple] = None
    lgu: Optional[tuple] = None
    ld: Optional[tuple] = None
    owners: Optional[dict] = None


# fused matrix -> its HF sub-modules, in row order
GROUPS = {"qkv": ("q_proj", "k_proj", "v_proj"), "o": ("o_proj",), "gu": ("gate_proj", "up_proj"), "d": ("down_proj",)}
_PARENT = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
           "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


class ChatEngine:
    """One model (plus any number of LoRA adapters) on one device, ready to generate."""

    def __init__(self, model_dir, device="cpu", dtype: Optional[torch.dtype] = None, max_seq_len: int = 4096,
                 progress: Progress = _noop, base_method: Optional[str] = None, packed: Optional[bool] = None):
        """base_method (nf4 | int8 | fp8): the base as a quantized run trained on it (base_quantization.py), so
        the adapter sees the weights it was trained against. packed (nf4 only, off by default; on CUDA it needs triton):
        keep the projections as 4-bit NF4Rows and decode from them (a quarter of bf16's bytes per token);
        otherwise each projection is quantized and dequantized into dense weights."""
        self.device = torch.device(device)
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        cfg: ModelConfig = load_config(model_dir)
        self.cfg = cfg
        self.max_seq_len = min(max_seq_len, cfg.max_position_embeddings)
        self.graph = None
        self.mode = "eager"
        self.adapters: list[str] = []
        with torch.inference_mode():
            if base_method is None and _is_bnb_4bit(model_dir):
                base_method = "nf4"  # a bitsandbytes 4-bit checkpoint: its NF4 weights are the base
            # Off unless asked: on an H100 the row GEMV streamed 664 GB/s and decoded at 0.87x the bf16 engine.
            packed = bool(packed)
            if packed and base_method != "nf4":
                raise ValueError(f"packed weights are 4-bit NF4 (the base is {base_method or 'full precision'})")
            self.packed = bool(packed)
            if base_method is None:
                sd = read_weights(model_dir, self.device, self.dtype, progress)
            elif packed:
                from .quant.nf4_rows_load import read_nf4_rows

                sd = read_nf4_rows(model_dir, self.device, self.dtype, progress)
            else:
                from .base_quantization import dequantized_state_dict

                sd = dequantized_state_dict(model_dir, base_method, self.device, self.dtype, progress)
            self.base_method = base_method
            self._build(sd)
            del sd
            self._alloc()

    # -- construction

    def _build(self, sd: dict) -> None:
        cfg = self.cfg
        for k in [k for k in sd if k.endswith("rotary_emb.inv_freq")]:
            del sd[k]  # recomputed; popping in place frees each unfused tensor as soon as it is fused
        take = sd.pop
        self.embed = take("model.embed_tokens.weight")
        self.norm = take("model.norm.weight")
        self.lm_head = self.embed if cfg.tie_word_embeddings else take("lm_head.weight")
        sd.pop("lm_head.weight", None)
        self.layers: list[_Layer] = []
        for i in range(cfg.num_hidden_layers):
            p = f"model.layers.{i}."

            def fuse(names, suffix, parent):
                parts = [take(f"{p}{parent}.{n}.{suffix}", None) for n in names]
                if all(t is None for t in parts):
                    return None
                if any(t is None for t in parts):
                    raise ValueError(f"layer {i}: {suffix} present on only some of {names}")
                if len(parts) == 1:
                    return parts[0]
                if all(isinstance(t, NF4Rows) for t in parts):
                    return cat_rows(parts)
                return torch.cat([_dense(t, self.dtype) if isinstance(t, NF4Rows) else t for t in parts], 0)

            self.layers.append(_Layer(
                ln1=take(p + "input_layernorm.weight"),
                wqkv=fuse(GROUPS["qkv"], "weight", "self_attn"),
                bqkv=fuse(GROUPS["qkv"], "bias", "self_attn"),
                qn=take(p + "self_attn.q_norm.weight", None), kn=take(p + "self_attn.k_norm.weight", None),
                wo=take(p + "self_attn.o_proj.weight"), bo=take(p + "self_attn.o_proj.bias", None),
                ln2=take(p + "post_attention_layernorm.weight"),
                wgu=fuse(GROUPS["gu"], "weight", "mlp"), bgu=fuse(GROUPS["gu"], "bias", "mlp"),
                wd=take(p + "mlp.down_proj.weight"), bd=take(p + "mlp.down_proj.bias", None),
                window=cfg.layer_window(i),
            ))
        if sd:
            raise ValueError(f"checkpoint does not match config: unexpected {sorted(sd)[:5]}")

    def _alloc(self) -> None:
        cfg, dev, S = self.cfg, self.device, self.max_seq_len
        shape = (cfg.num_key_value_heads, S, cfg.head_dim)
        self.ck = [torch.zeros(shape, device=dev, dtype=self.dtype) for _ in self.layers]
        self.cv = [torch.zeros(shape, device=dev, dtype=self.dtype) for _ in self.layers]
        pos = torch.arange(S, device=dev, dtype=torch.float32)
        freqs = pos[:, None] * rope_inv_freq(cfg).to(dev)[None]  # (S, hd/2) in fp32 like model.py
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)
        self.kpos = torch.arange(S, device=dev)
        self.gate = torch.ones((), device=dev, dtype=self.dtype)  # stands in for the gate of a matrix without LoRA
        self.tok_buf = torch.zeros(1, dtype=torch.long, device=dev)  # decode-step inputs (fixed addresses)
        self.pos_buf = torch.zeros(1, dtype=torch.long, device=dev)
        self.windows = sorted({L.window for L in self.layers} - {None})
        self.f_pre, self.f_att, self.f_post, self.f_head = layer_pre, attend_decode, layer_post, head

    def add_adapters(self, adapter_dirs: list, progress: Progress = _noop) -> None:
        """Attach LoRA adapters (unmerged; several add up). Replaces any attached before. Drops a captured graph."""
        from safetensors.torch import load_file

        cfg = self.cfg
        pieces: dict[tuple[int, str], list] = {}  # (layer, group) -> [(A, B_block, adapter index)]
        progress("adapters", 0.0)
        for n, d in enumerate(adapter_dirs):
            d = Path(d)
            ac = json.loads((d / "adapter_config.json").read_text())
            if ac.get("peft_type") != "LORA":
                raise ValueError(f"{d}: only LORA adapters are supported, got {ac.get('peft_type')!r}")
            if ac.get("use_dora"):
                raise ValueError(f"{d}: DoRA adapters cannot be kept unmerged in chat yet")
            bad = [k for k in ("rank_pattern", "alpha_pattern", "layers_to_transform", "modules_to_save",
                               "lora_bias", "fan_in_fan_out") if ac.get(k)]
            if bad or ac.get("bias", "none") != "none":
                raise ValueError(f"{d}: unsupported adapter_config options {bad or ['bias']}")
            r, alpha = ac["r"], ac["lora_alpha"]
            scale = alpha / math.sqrt(r) if ac.get("use_rslora") else alpha / r
            match = _peft_target_matcher(ac["target_modules"])
            sd = {_own_key(k): v for k, v in load_file(str(d / "adapter_model.safetensors")).items()}
            used = set()
            for i, L in enumerate(self.layers):
                for g, names in GROUPS.items():
                    w = {"qkv": L.wqkv, "o": L.wo, "gu": L.wgu, "d": L.wd}[g]
                    row = 0
                    for name in names:
                        path = f"model.layers.{i}.{_PARENT[name]}.{name}"
                        out_dim = self._sub_rows(g, name)
                        if match(path, name):
                            ka, kb = path + ".lora_A.weight", path + ".lora_B.weight"
                            if ka not in sd or kb not in sd:
                                raise ValueError(f"{d}: missing {ka} or {kb}")
                            A = sd[ka].to(self.device, self.dtype)  # (r, in)
                            B = sd[kb].to(self.device, torch.float32) * scale  # (out_sub, r)
                            if A.shape[1] != w.shape[1] or B.shape[0] != out_dim:
                                raise ValueError(f"{d}: {path} shape does not match the base model")
                            block = torch.zeros(w.shape[0], A.shape[0], device=self.device, dtype=self.dtype)
                            block[row:row + out_dim] = B.to(self.dtype)
                            pieces.setdefault((i, g), []).append((A, block, n))
                            used |= {ka, kb}
                        row += out_dim
            extra = set(sd) - used
            if extra:
                raise ValueError(f"{d}: adapter keys do not match the model (e.g. {sorted(extra)[:3]})")
            progress("adapters", (n + 1) / len(adapter_dirs))
        for i, L in enumerate(self.layers):
            L.owners = {}
            for g in GROUPS:
                ps = pieces.get((i, g))
                val = None
                if ps:
                    owner = torch.cat([torch.full((a.shape[0],), k, dtype=torch.long) for a, _, k in ps]).to(self.device)
                    gate = torch.ones(owner.shape[0], device=self.device, dtype=self.dtype)
                    val = (torch.cat([a for a, _, _ in ps], 0), torch.cat([b for _, b, _ in ps], 1), gate)
                    L.owners[g] = owner
                setattr(L, {"qkv": "lqkv", "o": "lo", "gu": "lgu", "d": "ld"}[g], val)
        self.adapters = [str(d) for d in adapter_dirs]
        self.graph = None

    def _sub_rows(self, group: str, name: str) -> int:
        c = self.cfg
        return {"q_proj": c.num_attention_heads * c.head_dim, "k_proj": c.num_key_value_heads * c.head_dim,
                "v_proj": c.num_key_value_heads * c.head_dim, "o_proj": c.hidden_size,
                "gate_proj": c.intermediate_size, "up_proj": c.intermediate_size, "down_proj": c.hidden_size}[name]

    # -- forward passes

    def select_adapters(self, mask) -> None:
        """Turns each loaded adapter on (True) or off (False) for the next request, in place (graph-safe)."""
        if len(mask) != len(self.adapters):
            raise ValueError(f"adapter mask has {len(mask)} entries for {len(self.adapters)} loaded adapters")
        on = torch.tensor([1.0 if m else 0.0 for m in mask] or [0.0], device=self.device, dtype=self.dtype)
        for L in self.layers:
            for g, key in (("qkv", "lqkv"), ("o", "lo"), ("gu", "lgu"), ("d", "ld")):
                lora = getattr(L, key)
                if lora is not None:
                    lora[2].copy_(on.index_select(0, L.owners[g]))

    def _layer_args(self, L: _Layer):
        c = self.cfg
        nolora = (None, None, self.gate)
        return L, (L.lqkv or nolora), (L.lo or nolora), (L.lgu or nolora), (L.ld or nolora), c

    def prefill(self, ids: list[int]) -> torch.Tensor:
        """Run the prompt from position 0, fill the cache; returns (V,) fp32 logits of the last position."""
        c, T = self.cfg, len(ids)
        if T > self.max_seq_len:
            raise ValueError(f"the conversation is {T} tokens; this chat holds at most {self.max_seq_len}")
        x = F.embedding(torch.tensor(ids, device=self.device), self.embed)  # (T, D)
        cos, sin = self.cos[:T], self.sin[:T]
        rep = c.num_attention_heads // c.num_key_value_heads
        qi = torch.arange(T, device=self.device)
        for i, L in enumerate(self.layers):
            _, lq, lo, lgu, ld, _ = self._layer_args(L)
            q, k, v = layer_pre(x, L.ln1, L.wqkv, L.bqkv, *lq, L.qn, L.kn, cos, sin,
                                c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rms_norm_eps)
            self.ck[i][:, :T] = k.transpose(0, 1)
            self.cv[i][:, :T] = v.transpose(0, 1)
            qh = q.transpose(0, 1)[None]  # (1, H, T, hd)
            kh = k.transpose(0, 1).repeat_interleave(rep, 0)[None]
            vh = v.transpose(0, 1).repeat_interleave(rep, 0)[None]
            if L.window is not None and T > L.window:
                mask = (qi[:, None] >= qi[None]) & ((qi[:, None] - qi[None]) < L.window)
                y = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask)
            else:
                y = F.scaled_dot_product_attention(qh, kh, vh, is_causal=T > 1)
            y = y[0].transpose(0, 1).reshape(T, -1)
            x = layer_post(x, y, L.wo, L.bo, *lo, L.ln2, L.wgu, L.bgu, *lgu, L.wd, L.bd, *ld,
                           c.intermediate_size, c.rms_norm_eps)
        return head(x[-1:], self.norm, self.lm_head, c.rms_norm_eps)

    def _decode_step(self) -> torch.Tensor:
        """One token (tok_buf) at position pos_buf against the static cache; (V,) fp32 logits. Graph-capturable."""
        c, pos = self.cfg, self.pos_buf
        x = F.embedding(self.tok_buf, self.embed)  # (1, D)
        cos, sin = self.cos.index_select(0, pos), self.sin.index_select(0, pos)
        visible = self.kpos <= pos
        zero, ninf = torch.zeros((), device=self.device), torch.full((), float("-inf"), device=self.device)
        biases = {None: torch.where(visible, zero, ninf)}
        for w in self.windows:
            biases[w] = torch.where(visible & (pos - self.kpos < w), zero, ninf)
        scale = 1.0 / math.sqrt(c.head_dim)
        for i, L in enumerate(self.layers):
            _, lq, lo, lgu, ld, _ = self._layer_args(L)
            q, k, v = self.f_pre(x, L.ln1, L.wqkv, L.bqkv, *lq, L.qn, L.kn, cos, sin,
                                 c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rms_norm_eps)
            self.ck[i].index_copy_(1, pos, k.transpose(0, 1))
            self.cv[i].index_copy_(1, pos, v.transpose(0, 1))
            y = self.f_att(q, self.ck[i], self.cv[i], biases[L.window], c.num_key_value_heads, scale)
            x = self.f_post(x, y, L.wo, L.bo, *lo, L.ln2, L.wgu, L.bgu, *lgu, L.wd, L.bd, *ld,
                            c.intermediate_size, c.rms_norm_eps)
        return self.f_head(x, self.norm, self.lm_head, c.rms_norm_eps)

    def warmup(self, mode: str = "graph", progress: Progress = _noop) -> str:
        """CUDA only: 'compile' (torch.compile the layer functions, then capture) or 'graph' (capture eager
        kernels); anything else or CPU: plain eager. Returns the mode in use."""
        if self.device.type != "cuda" or mode not in ("graph", "compile"):
            self.mode = "eager"
            return self.mode
        progress("warmup", 0.0)
        self.f_pre, self.f_att, self.f_post, self.f_head = layer_pre, attend_decode, layer_post, head
        if mode == "compile":
            cc = lambda f: torch.compile(f, fullgraph=True, dynamic=False)  # noqa: E731
            self.f_pre, self.f_att, self.f_post, self.f_head = cc(layer_pre), cc(attend_decode), cc(layer_post), cc(head)
        with torch.inference_mode():
            self.tok_buf.zero_()
            self.pos_buf.zero_()
            s = torch.cuda.Stream(device=self.device)
            s.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(s):
                for n in range(3):  # compiles (mode 'compile') and settles cuBLAS workspaces before capture
                    self._decode_step()
                    progress("warmup", (n + 1) / 4)
            torch.cuda.current_stream(self.device).wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                self.graph_logits = self._decode_step()
            self.graph = g
        progress("warmup", 1.0)
        self.mode = mode
        return mode

    def decode(self, tok: torch.Tensor, pos: int) -> torch.Tensor:
        self.tok_buf.copy_(tok.view(1))
        self.pos_buf.fill_(pos)
        if self.graph is not None:
            self.graph.replay()
            return self.graph_logits
        return self._decode_step()

    @torch.inference_mode()
    def generate(self, prompt: list[int], p: GenParams, stop_ids=frozenset()) -> Iterator[int]:
        """Yield new token ids (a stop id ends it, not yielded)."""
        n_max = tokens_to_generate(len(prompt), p, self.max_seq_len)
        mask = p.adapter_mask if p.adapter_mask is not None else (True,) * len(self.adapters)
        self.select_adapters([bool(m) and p.use_adapters for m in mask])
        gen, seen = sampling_state(p, prompt, self.cfg.vocab_size, self.device)
        logits = self.prefill(prompt)
        for i in range(n_max):
            if seen is not None:
                logits = apply_repetition_penalty(logits, seen, p.repetition_penalty)
            nxt = sample(logits, p, gen)
            t = int(nxt)  # the one host sync per token: the id is streamed and checked anyway
            if t in stop_ids:
                return
            yield t
            if i == n_max - 1:
                return
            if seen is not None:
                seen[t] = True
            logits = self.decode(nxt, len(prompt) + i)


def load_engine(model_dir, adapter_dirs=(), device=None, mode: str = "compile", max_seq_len: int = 4096,
                progress: Progress = _noop) -> ChatEngine:
    """Read weights (quantized as the adapters' runs trained on them), attach adapters, warm up. Progress phases:
    weights, adapters, warmup."""
    from .base_quantization import adapters_base_method

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    # Adapters trained on a quantized base are chatted on that base, quantized the same way.
    eng = ChatEngine(model_dir, device=device, max_seq_len=max_seq_len, progress=progress,
                     base_method=adapters_base_method(adapter_dirs))
    if adapter_dirs:
        with torch.inference_mode():
            eng.add_adapters(list(adapter_dirs), progress)
    try:
        eng.warmup(mode, progress)
    except Exception as e:  # noqa: BLE001 -- a compiler problem must not cost the user the chat
        if mode != "compile":
            raise
        print(f"torch.compile warm-up failed ({type(e).__name__}: {e}); using CUDA graphs of eager kernels",
              file=sys.stderr)
        eng.warmup("graph", progress)
    return eng


def timed(fn):
    """(result, seconds) with a device sync on both ends."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    r = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return r, time.perf_counter() - t0
