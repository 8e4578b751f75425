"""_LinearCrossEntropy's per-chunk softmax / CE / gradient: the eager default (in place) and the torch.compile'd
_ce_chunk (compile_ce(); on CUDA that is one fused Triton kernel instead of ~60 elementwise kernels a step)
against a plain F.cross_entropy reference. The compiled tests run inductor's CPU backend here (no GPU on this
machine): same graph and fusion decisions, C++ kernels instead of Triton ones; they are the ones named
`test_compiled_*` and take a few seconds each to compile."""

import re

import pytest
import torch
import torch.nn.functional as F

from tuneboard_trainer.loss import _ce_chunk, _ce_chunk_eager, _CEKernels, _LinearCrossEntropy, compile_ce

V, D = 503, 24
N, CHUNK = 37, 8  # 8 does not divide 37: four full chunks and a tail of 5
TOL = {torch.float32: 1e-5, torch.bfloat16: 2e-2}  # relative; bf16 GEMMs and a bf16 gradient


@pytest.fixture(autouse=True)
def eager_ce():
    """Each test starts from the eager default (other files' compiled fast-path tests call compile_ce() through
    fast.compile_pointwise), and whatever it does to _CEKernels is undone after."""
    saved = (_CEKernels.__dict__["chunk"], _CEKernels.compiled)
    _CEKernels.chunk, _CEKernels.compiled = staticmethod(_ce_chunk_eager), False
    yield
    _CEKernels.chunk, _CEKernels.compiled = saved


_COMPILED = {}


@pytest.fixture
def compiled():
    """compile_ce() for this test; the compiled wrapper is made once per module and reused (a fresh
    torch.compile wrapper would compile every graph again)."""
    if "chunk" not in _COMPILED:
        _CEKernels.chunk, _CEKernels.compiled = staticmethod(_ce_chunk_eager), False
        compile_ce()
        _COMPILED["chunk"] = _CEKernels.__dict__["chunk"]
    _CEKernels.chunk, _CEKernels.compiled = _COMPILED["chunk"], True


def problem(dtype, weighted, n=N, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, D, generator=g).to(dtype)
    W = (torch.randn(V, D, generator=g) * 0.3).to(dtype)
    y = torch.randint(0, V, (n,), generator=g)
    w = None
    if weighted:
        w = torch.rand(n, generator=g) + 0.5
        w[[0, 9, n - 1]] = 0.0  # padding rows of a fixed-shape CUDA graph: no loss, no gradient
    return h, W, y, w


def reference(h, W, y, w, scale):
    """Full fp32 logits, F.cross_entropy per row, weighted sum; gradients by autograd."""
    hr = h.detach().float().requires_grad_()
    Wr = W.detach().float().requires_grad_()
    ce = F.cross_entropy(hr @ Wr.T, y, reduction="none")
    loss = (ce if w is None else ce * w).sum()
    (loss * scale).backward()
    return loss.detach(), hr.grad, Wr.grad


def ours(h, W, y, w, scale, chunk=CHUNK, need=(True, True)):
    h = h.detach().clone().requires_grad_(need[0])
    W = W.detach().clone().requires_grad_(need[1])
    loss = _LinearCrossEntropy.apply(h, W, y, chunk, w)
    if need[0] or need[1]:
        (loss * scale).backward()
    return loss.detach(), h.grad, W.grad


def rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12)).item()


CASES = [(dt, wt) for dt in (torch.float32, torch.bfloat16) for wt in (False, True)]
IDS = [f"{'fp32' if dt == torch.float32 else 'bf16'}-{'weighted' if wt else 'plain'}" for dt, wt in CASES]


def check_against_reference(dtype, weighted, n=N, chunk=CHUNK):
    h, W, y, w = problem(dtype, weighted, n)
    scale = 0.37  # backward must scale by the incoming gradient
    ref_l, ref_gh, ref_gw = reference(h, W, y, w, scale)
    l, gh, gw = ours(h, W, y, w, scale, chunk)
    tol = TOL[dtype]
    assert abs(l.item() - ref_l.item()) <= tol * abs(ref_l.item()), (l, ref_l)
    assert gh.dtype == dtype and gw.dtype == dtype
    assert rel(gh, ref_gh) < tol and rel(gw, ref_gw) < tol, (rel(gh, ref_gh), rel(gw, ref_gw))
    if weighted:  # zero-weight rows: exactly no gradient into their hidden states
        assert gh[[0, 9, n - 1]].abs().max().item() == 0.0
    return l, gh, gw


@pytest.mark.parametrize("dtype,weighted", CASES, ids=IDS)
def test_eager_matches_reference(dtype, weighted):
    check_against_reference(dtype, weighted)


def test_eager_single_chunk_and_one_row_tail():
    check_against_reference(torch.float32, True, n=N, chunk=64)  # all rows in one chunk
    check_against_reference(torch.float32, True, n=33, chunk=8)  # tail of one row


@pytest.mark.parametrize("need", [(True, False), (False, True)], ids=["grad-h-only", "grad-w-only"])
def test_eager_partial_grads(need):
    """A frozen lm_head (the LoRA case): only grad_h; and only grad_w."""
    h, W, y, w = problem(torch.float32, True)
    _, ref_gh, ref_gw = reference(h, W, y, w, 1.0)
    _, gh, gw = ours(h, W, y, w, 1.0, need=need)
    assert (gh is None) != need[0] and (gw is None) != need[1]
    got, want = (gh, ref_gh) if need[0] else (gw, ref_gw)
    assert rel(got, want) < 1e-5


def test_eager_no_grad_loss():
    h, W, y, w = problem(torch.float32, True)
    ref_l, _, _ = reference(h, W, y, w, 1.0)
    with torch.no_grad():
        l = _LinearCrossEntropy.apply(h, W, y, CHUNK, w)
    assert abs(l.item() - ref_l.item()) <= 1e-5 * abs(ref_l.item())


@pytest.mark.parametrize("dtype,weighted", CASES, ids=IDS)
def test_functional_chunk_matches_in_place_chunk(dtype, weighted):
    """_ce_chunk (what compile_ce compiles), run eagerly, computes what the in-place default does, and leaves
    its input alone (it must be functional to be traced safely)."""
    h, W, y, w = problem(dtype, weighted)
    logits = h @ W.T
    wc = None if w is None else w[:, None]
    before = logits.clone()
    ce, g = _ce_chunk(logits, y, wc, True)
    assert torch.equal(logits, before)
    ce0, g0 = _ce_chunk_eager(logits.clone(), y, wc, True)
    assert ce.dtype == torch.float32 and ce.shape == (N,) and g.dtype == dtype and g.shape == (N, V)
    assert rel(ce, ce0) < 1e-6
    assert rel(g, g0) < (1e-6 if dtype == torch.float32 else 1e-2)
    ce_ng, g_ng = _ce_chunk(logits, y, wc, False)
    assert g_ng is None and torch.equal(ce_ng, ce)


def test_compile_ce_is_lazy_and_idempotent():
    assert _CEKernels.compiled is False and _CEKernels.chunk is _ce_chunk_eager
    compile_ce()
    first = _CEKernels.chunk
    compile_ce()
    assert _CEKernels.compiled is True and _CEKernels.chunk is first and first is not _ce_chunk_eager
    from tuneboard_trainer.fast import functions

    assert functions.compile_ce is compile_ce  # the one fast.compile_pointwise() calls


# ---------------------------------------------------------------------------------------------- compiled


@pytest.mark.parametrize("dtype,weighted", CASES, ids=IDS)
def test_compiled_matches_reference_and_eager(compiled, dtype, weighted):
    calls = []
    inner = _CEKernels.chunk

    def spy(*a):
        calls.append(a[0].shape[0])
        return inner(*a)

    _CEKernels.chunk = staticmethod(spy)
    l, gh, gw = check_against_reference(dtype, weighted)
    assert calls == [8, 8, 8, 8, 5]  # every chunk went through the compiled function
    _CEKernels.chunk, _CEKernels.compiled = staticmethod(_ce_chunk_eager), False
    l0, gh0, gw0 = check_against_reference(dtype, weighted)
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    assert abs(l.item() - l0.item()) <= tol * abs(l0.item())
    assert rel(gh, gh0) < tol and rel(gw, gw0) < tol


def test_compiled_one_row_tail_and_no_grad(compiled):
    check_against_reference(torch.float32, True, n=33, chunk=8)  # the 1-row tail runs eager
    h, W, y, w = problem(torch.float32, True)
    ref_l, _, _ = reference(h, W, y, w, 1.0)
    with torch.no_grad():
        l = _LinearCrossEntropy.apply(h, W, y, CHUNK, w)
    assert abs(l.item() - ref_l.item()) <= 1e-5 * abs(ref_l.item())


def _aten_ops(fn, *args) -> list[str]:
    """The ATen ops an eager call runs: on a GPU each is at least one kernel launch."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    class Log(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(str(func.overloadpacket.__name__))
            return func(*args, **(kwargs or {}))

    with Log():
        fn(*args)
    return seen


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_compiled_chunk_is_one_fused_kernel(dtype):
    """Inductor turns the whole chunk (cast, logsumexp, target gather, softmax - onehot, row weights, cast back)
    into one kernel; eager the same function is a dozen ops, each a pass over (n, V). A scatter-based one-hot
    or an in-place op would split it (3 kernels with a scatter), and this would fail."""
    import torch._dynamo
    from torch._inductor.utils import run_and_get_code

    torch._dynamo.reset()  # compile afresh, so that there is code to read
    h, W, y, w = problem(dtype, True)
    logits = h @ W.T
    fn = torch.compile(_ce_chunk, dynamic=True)
    (ce, g), codes = run_and_get_code(fn, logits, y, w[:, None], True)
    code = "\n".join(codes)
    kernels = set(re.findall(r"^(cpp_fused_\w+) = ", code, re.M))
    fallbacks = re.findall(r"\b(?:aten|extern_kernels)\.\w+\(", code)
    eager_ops = _aten_ops(_ce_chunk, logits, y, w[:, None], True)
    print(f"{dtype}: compiled kernels {sorted(kernels)}, fallbacks {fallbacks}; eager ATen ops {len(eager_ops)}: "
          f"{eager_ops}")
    assert len(kernels) == 1 and not fallbacks, (kernels, fallbacks)
    assert len(eager_ops) >= 8  # what the fusion saves
    ce0, g0 = _ce_chunk(logits, y, w[:, None], True)
    assert rel(ce, ce0) < 1e-6 and rel(g, g0) < (1e-6 if dtype == torch.float32 else 1e-2)


def test_compiled_failure_falls_back_to_eager_for_good(capsys):
    """A compile error (a Triton/inductor failure on some GPU) must not stop training: the chunk reruns eager,
    with a warning, and later chunks stay eager. Faked with a chunk function that raises."""
    calls = []

    def broken(*a):
        calls.append(1)
        raise RuntimeError("inductor failed")

    _CEKernels.chunk, _CEKernels.compiled = staticmethod(broken), True
    check_against_reference(torch.float32, True)
    assert len(calls) == 1 and _CEKernels.compiled is False and _CEKernels.chunk is _ce_chunk_eager
    assert "compiled cross-entropy failed (RuntimeError: inductor failed)" in capsys.readouterr().err


@pytest.mark.parametrize("compile_it", [False, True], ids=["eager", "compiled"])
def test_under_autocast(compile_it, request):
    """fast/graph.py runs the loss under autocast: fp32 h and W, bf16 logits; the gradients come back in fp32."""
    if compile_it:
        request.getfixturevalue("compiled")
    h, W, y, w = problem(torch.float32, True)
    ref_l, ref_gh, ref_gw = reference(h, W, y, w, 1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        l, gh, gw = ours(h, W, y, w, 1.0)
    assert _CEKernels.compiled is compile_it  # no fallback happened
    assert gh.dtype == torch.float32 and gw.dtype == torch.float32
    assert abs(l.item() - ref_l.item()) <= 2e-2 * abs(ref_l.item())
    assert rel(gh, ref_gh) < 2e-2 and rel(gw, ref_gw) < 2e-2
