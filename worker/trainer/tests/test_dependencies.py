"""pyproject.toml is the one list of Python dependencies: every package the trainer, its benchmarks
and its tests import is on it (runtime imports in `dependencies`, test-only ones in the `test` extra)."""

import ast
import re
import sys

import pytest

from conftest import TRAINER_DIR

tomllib = pytest.importorskip("tomllib")

# Import name -> distribution name, where they differ.
DIST_OF = {"rouge_chinese": "rouge-chinese", "yaml": "pyyaml", "llama_cpp": "llama-cpp-python"}
# Our own packages, and the tests' helper modules (every module file beside them).
LOCAL = {"tuneboard_trainer", "bench"} | {p.stem for p in (TRAINER_DIR / "tests").rglob("*.py")}
# Installed by torch's CUDA wheels (a dependency of them, pinned by torch), imported only where CUDA is: the
# quantized layers' GPU kernels (quant/triton_*.py); the CPU keeps the reference and the tests skip without it.
WITH_TORCH = {"triton"}


def _imports(folder):
    names = set()
    for path in (TRAINER_DIR / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    # A module the tests skip without (pytest.importorskip) is one they import.
    for path in (TRAINER_DIR / folder).rglob("*.py"):
        names |= {m.split(".")[0] for m in re.findall(r'importorskip\("([\w.]+)"', path.read_text(encoding="utf-8"))}
    return {n for n in names if n not in sys.stdlib_module_names and n not in LOCAL and n not in WITH_TORCH}


def _dists(requirements):
    return {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_every_import_is_listed():
    project = tomllib.loads((TRAINER_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = _dists(project["dependencies"])
    test = runtime | _dists(project["optional-dependencies"]["test"])
    missing_runtime = {DIST_OF.get(n, n) for n in _imports("tuneboard_trainer")} - runtime
    assert not missing_runtime, f"add to dependencies: {sorted(missing_runtime)}"
    missing_test = {DIST_OF.get(n, n) for n in _imports("tests") | _imports("bench")} - test
    assert not missing_test, f"add to the test extra: {sorted(missing_test)}"


def test_torch_keeps_its_exact_pin():
    project = tomllib.loads((TRAINER_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert [r for r in project["dependencies"] if r.startswith("torch")] == ["torch==2.13.0"]
