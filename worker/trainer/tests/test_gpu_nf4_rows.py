"""The NF4 row kernels on CUDA (npm run test:gpu) against quant/nf4_rows.py's reference, and chat decoding from a
packed 4-bit base under CUDA graphs and torch.compile against the engine on dequantized weights."""

import pytest
import torch

from test_quant_nf4_rows import IDS, ROWS_SHAPE, decode_logits, dense, weight
from tuneboard_trainer.chat_engine import ChatEngine
from tuneboard_trainer.quant.kernels import triton_available
from tuneboard_trainer.quant.nf4 import quantize_nf4
from tuneboard_trainer.quant.nf4_rows import rows_linear, to_rows

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available() or not triton_available(),
                                 reason="needs a CUDA GPU and triton")]

CUDA = torch.device("cuda")
# (N, K): odd N, K a multiple of 64 but not of the tile; the 8B shapes of q/k/v, gate/up and down.
SHAPES = [(37, 640), (130, 192), (6144, 4096), (28672, 4096), (4096, 14336)]


@pytest.mark.parametrize("n,k", SHAPES)
def test_the_gemv_equals_the_dequantized_weight_times_x(n, k):
    from tuneboard_trainer.quant.triton_nf4_rows import rows_gemv

    rows = to_rows(quantize_nf4(weight(n, k, seed=n, dtype=torch.bfloat16).to(CUDA)))
    x = torch.randn(1, k, device=CUDA).to(torch.bfloat16)
    want = x.float() @ dense(rows).t()  # fp32 product of the bf16-rounded weights
    for config in ({"block_n": 8, "block_k": 512, "num_warps": 4}, {"block_n": 16, "block_k": 1024, "num_warps": 8},
                   {"block_n": 4, "block_k": 256, "num_warps": 2}, {"block_n": 8, "block_k": 512, "num_warps": 4,
                                                                       "scale_bcast": True},
                   {"kernel": "lanes", "rows_per_lane": 1, "num_warps": 4},
                   {"kernel": "lanes", "rows_per_lane": 2, "num_warps": 8},
                   {"kernel": "lanes", "rows_per_lane": 1, "num_warps": 16},
                   {"kernel": "lanes", "rows_per_lane": 1, "num_warps": 8, "unroll": 2}):
        got = rows_gemv(x, rows.packed, rows.scale, rows.code, rows.dtype, config).float()
        torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2 * want.abs().max().item())


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_the_lanes_gemv_rounds_to_the_checkpoint_dtype_and_reads_x_of_any_alignment(dtype):
    from tuneboard_trainer.quant.triton_nf4_rows import rows_gemv

    n, k = 75, 448  # 7 blocks a row: the last step of 4 warps has one block past the row's end
    rows = to_rows(quantize_nf4(weight(n, k, seed=5, dtype=dtype).to(CUDA)))
    lanes = {"kernel": "lanes", "rows_per_lane": 1, "num_warps": 4}
    x = torch.randn(1, k, device=CUDA).to(dtype)
    want = x.float() @ dense(rows).t()
    got = rows_gemv(x, rows.packed, rows.scale, rows.code, rows.dtype, lanes).float()
    torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2 * want.abs().max().item())
    # bf16 x one element past a 4-byte boundary: read element by element, not as pairs
    xs = torch.empty(k + 1, device=CUDA, dtype=torch.bfloat16)[1:].view(1, k)
    xs.copy_(x)
    got = rows_gemv(xs, rows.packed, rows.scale, rows.code, rows.dtype, lanes).float()
    want = xs.float() @ dense(rows).t()
    torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2 * want.abs().max().item())


@pytest.mark.parametrize("n,k", SHAPES[:3])
def test_the_dequantize_kernel_rounds_as_the_reference(n, k):
    rows = to_rows(quantize_nf4(weight(n, k, dtype=torch.bfloat16).to(CUDA)))
    x = torch.randn(9, k, device=CUDA).to(torch.bfloat16)
    # 9 rows take the dequantize-then-cuBLAS path: the same dense weight, so the same product as torch's
    torch.testing.assert_close(rows_linear(x, rows), x @ dense(rows, torch.bfloat16).t(), rtol=0, atol=0)


@pytest.fixture(scope="module")
def rows_model_dir(tmp_path_factory, tokenizer_dir):
    from tuneboard_trainer.demo_model import make_demo_model

    return make_demo_model(tmp_path_factory.mktemp("rows_model"), tokenizer_dir, shape=ROWS_SHAPE, linear_std=0.2)


@pytest.mark.parametrize("mode", ["graph", "compile"])
def test_a_packed_engine_decodes_as_the_dequantized_one_on_the_gpu(rows_model_dir, mode):
    packed = ChatEngine(rows_model_dir, device="cuda", max_seq_len=32, base_method="nf4", packed=True)
    assert packed.packed
    plain = ChatEngine(rows_model_dir, device="cuda", max_seq_len=32, base_method="nf4")
    assert not plain.packed  # the default
    assert packed.warmup(mode) == mode and plain.warmup(mode) == mode  # the rows op is opaque to Inductor
    with torch.inference_mode():
        want = decode_logits(plain, 5)
        # both fed the same tokens: compiled kernels round differently from eager ones, and on a random model a
        # near-tie can send two greedy decodes down different paths after which no logits compare
        got = decode_logits(packed, 5, tokens=[int(w.argmax()) for w in want[:-1]])
    for g, w in zip(got, want):
        top2 = w.topk(2).values
        # compiled: each engine's logits differ from its own eager ones by up to 2 % of the largest (H100)
        tol = (2e-2 if mode == "graph" else 3e-2) * w.abs().max().item()
        torch.testing.assert_close(g, w, rtol=2e-2, atol=tol)
        if top2[0] - top2[1] > 2 * tol:  # a clear winner is the same token
            assert int(g.argmax()) == int(w.argmax())
