"""GGML tensor encoders, vectorised with numpy: F32, F16, BF16, Q8_0, Q5_0, Q4_K and Q6_K.

Block layouts and the scale searches follow ggml-quants.c (quantize_row_*_ref, make_qkx2_quants for
Q4_K, make_qx_quants for Q6_K), so llama.cpp reads the bytes as it reads its own quantizer's output.
Each encoder takes a float32 array whose last dimension is a multiple of the block size and returns
the raw bytes as a uint8 array with the same leading dimensions.
"""

from __future__ import annotations

import numpy as np

QK_K = 256  # values in a K-quant super-block
# The block encoders run over at most this many values at a time: their float32 temporaries then stay
# in the CPU cache (measured: Q4_K twice as fast on 64-256 K-value pieces as on 4 M-value ones).
CACHE_VALUES = 1 << 17
QK8_0 = 32
QK5_0 = 32
GROUP_MAX_EPS = 1e-15

# ggml_type ids (ggml.h) and (block size, bytes per block).
GGML_TYPES = {"F32": 0, "F16": 1, "Q5_0": 6, "Q8_0": 8, "Q4_K": 12, "Q6_K": 14, "BF16": 30}
BLOCKS = {"F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q8_0": (32, 34), "Q5_0": (32, 22),
          "Q4_K": (256, 144), "Q6_K": (256, 210)}


def nearest_int(x: np.ndarray) -> np.ndarray:
    """ggml's nearest_int: round half to even through the float magic-number trick, i.e. np.rint."""
    return np.rint(x).astype(np.int32)


def _f16_bytes(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.astype(np.float16)).view(np.uint8)


def encoded_nbytes(qtype: str, shape: tuple[int, ...]) -> int:
    block, size = BLOCKS[qtype]
    n = int(np.prod(shape))
    return n // block * size


def quantize(x: np.ndarray, qtype: str) -> np.ndarray:
    """Encode `x` (any float dtype) as `qtype`; the last dimension must be a multiple of the block size."""
    x = np.asarray(x)
    block = BLOCKS[qtype][0]
    if x.shape[-1] % block:
        raise ValueError(f"{qtype}: row length {x.shape[-1]} is not a multiple of {block}")
    if qtype == "F32":
        return np.ascontiguousarray(x.astype(np.float32)).view(np.uint8)
    if qtype == "F16":
        return _f16_bytes(x)
    x = x.astype(np.float32, copy=False)
    lead = x.shape[:-1]
    blocks = x.reshape(-1, block)
    fn = {"BF16": _bf16, "Q8_0": _q8_0, "Q5_0": _q5_0, "Q4_K": _q4_k, "Q6_K": _q6_k}[qtype]
    step = max(1, CACHE_VALUES // block)
    if len(blocks) <= step:
        return fn(blocks).reshape(*lead, -1)
    out = np.empty((len(blocks), BLOCKS[qtype][1]), dtype=np.uint8)
    for i in range(0, len(blocks), step):  # cache-sized pieces of whole blocks; each piece is vectorised
        out[i:i + step] = fn(blocks[i:i + step])
    return out.reshape(*lead, -1)


def _bf16(x: np.ndarray) -> np.ndarray:
    """Round to nearest even on the upper 16 bits; NaNs stay quiet NaNs (ggml_compute_fp32_to_bf16)."""
    u = x.view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16).astype(np.uint16)
    r = np.where(nan, ((u >> 16) | 64).astype(np.uint16), r)
    return r.view(np.uint8)


def _q8_0(x: np.ndarray) -> np.ndarray:
    amax = np.abs(x).max(axis=1, keepdims=True)
    d = amax / 127
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, 0, 1 / d)
    q = nearest_int(x * inv).astype(np.int8).view(np.uint8)
    return np.concatenate([_f16_bytes(d), q], axis=1)


def _q5_0(x: np.ndarray) -> np.ndarray:
    # The value of largest magnitude, with its sign, maps to -16.
    idx = np.abs(x).argmax(axis=1)
    mx = x[np.arange(len(x)), idx][:, None]
    d = mx / -16
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, 0, 1 / d)
    q = np.minimum(31, (x * inv + 16.5).astype(np.int8)).astype(np.uint8)  # C truncation toward zero
    lo, hi = q[:, :16], q[:, 16:]
    qs = (lo & 0x0F) | ((hi & 0x0F) << 4)
    bits = np.concatenate([(lo >> 4) & 1, (hi >> 4) & 1], axis=1).astype(np.uint32)
    qh = (bits << np.arange(32, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)[:, None]
    return np.concatenate([_f16_bytes(d), qh.astype("<u4").view(np.uint8), qs], axis=1)


_MAGIC = np.float32(12582912.0)  # 1.5 * 2^23: adding and subtracting it rounds half to even, as ggml's nearest_int


def _round_clip(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """nearest_int then clamp, kept in float32 (in place on the temporary `v`; |v| < 2^22)."""
    v += _MAGIC
    v -= _MAGIC
    return np.clip(v, lo, hi, out=v)


def _make_qkx2(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int):
    """make_qkx2_quants for many groups at once: x, w (G, n) -> scale (G,), -min (G,).

    The weighted squared error of each candidate comes from the sums the fit already has
    (sum w (s l + m - x)^2 expanded), so a step costs one rounding pass and three weighted sums. The
    C code sums element by element; this order rounds differently, so a near-tie between two candidates
    can go the other way (measured on Gaussian rows: 2.5 % of Q4_K blocks differ from
    quantize_row_q4_K_ref, with the same error).
    Only the scale and minimum are returned: Q4_K requantises with the 6-bit scales anyway."""
    f32 = np.float32
    mn = np.minimum(x.min(axis=1), 0)
    mx = x.max(axis=1)
    rng = mx - mn
    flat = rng <= 0
    safe = np.where(flat, f32(1), rng)
    sum_w = w.sum(axis=1)
    wx = w * x
    sum_x = wx.sum(axis=1)
    sum_x2 = np.einsum("ij,ij->i", wx, x)

    def err(s, m, sl, sl2, sxl):
        return s * s * sl2 + 2 * s * m * sl - 2 * s * sxl + m * m * sum_w - 2 * m * sum_x + sum_x2

    def sums(L):
        return (np.einsum("ij,ij->i", w, L), np.einsum("ij,ij->i", w * L, L), np.einsum("ij,ij->i", wx, L))

    iscale = f32(nmax) / safe
    scale = 1 / iscale
    best = err(scale, mn, *sums(_round_clip(iscale[:, None] * (x - mn[:, None]), 0, nmax)))
    for step in range(nstep + 1):
        # As in the C loop, a better candidate's minimum becomes `min` for the next steps' grids.
        rng = mx - mn
        isc = (f32(rmin) + f32(rdelta) * f32(step) + f32(nmax)) / np.where(rng > 0, rng, f32(1))
        sum_l, sum_l2, sum_xl = sums(_round_clip(isc[:, None] * (x - mn[:, None]), 0, nmax))
        D = sum_w * sum_l2 - sum_l * sum_l
        ok = D > 0
        Ds = np.where(ok, D, f32(1))
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / Ds
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / Ds
        pos = this_min > 0
        this_scale = np.where(pos, sum_xl / np.where(sum_l2 > 0, sum_l2, f32(1)), this_scale)
        this_min = np.where(pos, f32(0), this_min)
        mad = err(this_scale, this_min, sum_l, sum_l2, sum_xl)
        better = ok & (mad < best)
        best = np.where(better, mad, best)
        scale = np.where(better, this_scale, scale)
        mn = np.where(better, this_min, mn)
    scale = np.where(flat, f32(0), scale)
    return scale.astype(np.float32), (-mn).astype(np.float32)


def _q4_k(x: np.ndarray) -> np.ndarray:
    nb = len(x)
    sub = x.reshape(nb * 8, 32)
    av = np.sqrt((sub * sub).mean(axis=1, keepdims=True))
    w = av + np.abs(sub)
    scales, mins = _make_qkx2(sub, w, 15, -1.0, 0.1, 20)
    scales, mins = scales.reshape(nb, 8), mins.reshape(nb, 8)
    max_scale, max_min = scales.max(axis=1), mins.max(axis=1)
    with np.errstate(divide="ignore"):
        inv_scale = np.where(max_scale > 0, 63 / max_scale, 0)
        inv_min = np.where(max_min > 0, 63 / max_min, 0)
    ls = np.minimum(63, nearest_int(inv_scale[:, None] * scales)).astype(np.uint8)
    lm = np.minimum(63, nearest_int(inv_min[:, None] * mins)).astype(np.uint8)
    d = (max_scale / 63).astype(np.float16)
    dmin = (max_min / 63).astype(np.float16)
    # The requantisation uses the stored (rounded) scales, as the C code does.
    dj = d.astype(np.float32)[:, None] * ls
    dm = dmin.astype(np.float32)[:, None] * lm
    xs = x.reshape(nb, 8, 32)
    inv = (1 / np.where(dj == 0, np.float32(1), dj)).astype(np.float32)
    L = _round_clip((xs + dm[:, :, None]) * inv[:, :, None], 0, 15)
    L = np.where((dj == 0)[:, :, None], np.float32(0), L).astype(np.uint8)
    packed = np.zeros((nb, 12), dtype=np.uint8)
    packed[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    packed[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    packed[:, 8:12] = (ls[:, 4:8] & 0x0F) | ((lm[:, 4:8] & 0x0F) << 4)
    L = L.reshape(nb, 4, 2, 32)
    qs = (L[:, :, 0] | (L[:, :, 1] << 4)).reshape(nb, 128)
    return np.concatenate([_f16_bytes(d[:, None]), _f16_bytes(dmin[:, None]), packed, qs], axis=1)


def _make_qx_rmse1(x: np.ndarray, nmax: int) -> np.ndarray:
    """make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL) for many groups: the scale of each (G,)."""
    f32 = np.float32
    idx = np.abs(x).argmax(axis=1)
    mx = x[np.arange(len(x)), idx]
    tiny = np.abs(mx) < GROUP_MAX_EPS
    mxs = np.where(tiny, f32(1), mx)
    w = x * x
    wx = w * x

    def fit(iscale):
        l = _round_clip(iscale[:, None] * x, -nmax, nmax - 1)
        return np.einsum("ij,ij->i", wx, l), np.einsum("ij,ij->i", w * l, l)

    sumlx, suml2 = fit(f32(-nmax) / mxs)
    scale = np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, f32(1)), f32(0))
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        slx, sl2 = fit(f32(-(nmax + 0.1 * step)) / mxs)
        better = (sl2 > 0) & (slx * slx > best * sl2)
        new = np.where(sl2 > 0, slx / np.where(sl2 > 0, sl2, f32(1)), f32(0))
        scale = np.where(better, new, scale)
        best = np.where(better, new * slx, best)
    return np.where(tiny, f32(0), scale).astype(np.float32)


def _q6_k(x: np.ndarray) -> np.ndarray:
    nb = len(x)
    scales = _make_qx_rmse1(x.reshape(nb * 16, 16), 32).reshape(nb, 16)
    idx = np.abs(scales).argmax(axis=1)
    max_scale = scales[np.arange(nb), idx]
    tiny = np.abs(max_scale) < GROUP_MAX_EPS
    iscale = np.where(tiny, 0, -128 / np.where(tiny, 1, max_scale))
    d = np.where(tiny, 0, 1 / np.where(iscale == 0, 1, iscale)).astype(np.float16)
    sc = np.minimum(127, nearest_int(iscale[:, None] * scales)).astype(np.int8)
    dj = d.astype(np.float32)[:, None] * sc
    xs = x.reshape(nb, 16, 16)
    inv = (1 / np.where(dj == 0, np.float32(1), dj)).astype(np.float32)
    L = _round_clip(xs * inv[:, :, None], -32, 31) + 32
    L = np.where((dj == 0)[:, :, None], np.float32(32), L).astype(np.uint8).reshape(nb, 2, 4, 32)
    ql = np.concatenate([(L[:, :, 0] & 0x0F) | ((L[:, :, 2] & 0x0F) << 4),
                         (L[:, :, 1] & 0x0F) | ((L[:, :, 3] & 0x0F) << 4)], axis=2).reshape(nb, 128)
    qh = ((L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4) | ((L[:, :, 3] >> 4) << 6))
    return np.concatenate([ql, qh.reshape(nb, 64), sc.view(np.uint8), _f16_bytes(d[:, None])], axis=1)
