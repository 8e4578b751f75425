"""The trainer stays easy to change: no module of tuneboard_trainer over MAX_MODULE_LINES lines, no function
(outside tests) over MAX_FUNCTION_LINES lines, and no environment variable switches its behaviour."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tuneboard_trainer"
TRAINER = PACKAGE.parent
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 120


def _sources(root: Path):
    return sorted(p for p in root.rglob("*.py") if "tests" not in p.relative_to(TRAINER).parts)


def test_no_trainer_module_is_over_the_line_limit():
    long = {str(p.relative_to(TRAINER)): n for p in _sources(PACKAGE)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_outside_tests_is_over_the_line_limit():
    long = {}
    for p in _sources(TRAINER):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(TRAINER)}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_trainer_reads_no_tuneboard_variables():
    """Behaviour comes from the run config, FastPathOptions and command-line arguments, never the environment."""
    found = [str(p.relative_to(TRAINER)) for p in _sources(PACKAGE) if "TUNEBOARD_" in p.read_text(encoding="utf-8")]
    assert not found, found
