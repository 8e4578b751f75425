"""Chat templates as token-id builders (LLaMA-Factory's `llama3` template).

Text is tokenized piece by piece between special tokens. Special tokens split
the byte-level pre-tokenizer anyway, so this equals tokenizing the rendered
string, and it lets us know exactly which ids belong to assistant replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IGNORE_INDEX = -100
SUPPORTED_TEMPLATES = ("llama3",)


def load_tokenizer(model_dir):
    """The `tokenizers` Tokenizer from `<model_dir>/tokenizer.json`."""
    from tokenizers import Tokenizer

    path = Path(model_dir) / "tokenizer.json"
    if not path.exists():
        raise FileNotFoundError(f"{model_dir}: tokenizer.json not found")
    return Tokenizer.from_file(str(path))


@dataclass
class Llama3Template:
    tokenizer: object

    def __post_init__(self):
        tid = self.tokenizer.token_to_id
        self.bos = tid("<|begin_of_text|>")
        self.start_header = tid("<|start_header_id|>")
        self.end_header = tid("<|end_header_id|>")
        self.eot = tid("<|eot_id|>")
        if None in (self.bos, self.start_header, self.end_header, self.eot):
            raise ValueError("tokenizer lacks the llama3 special tokens (<|begin_of_text|>, <|eot_id|>, ...)")
        # Generation stops on end-of-turn; <|eom_id|> (tool call) and <|end_of_text|> where present.
        self.stop_ids = {i for i in (self.eot, tid("<|eom_id|>"), tid("<|end_of_text|>")) if i is not None}
        # Right padding only ever sits behind real tokens, so any id works; prefer a dedicated one.
        self.pad = tid("<|finetune_right_pad_id|>") or self.eot

    def _text(self, s: str) -> list[int]:
        return self.tokenizer.encode(s, add_special_tokens=False).ids if s else []

    def header(self, role: str) -> list[int]:
        # <|start_header_id|>{role}<|end_header_id|>\n\n
        return [self.start_header, *self._text(role), self.end_header, *self._text("\n\n")]

    def encode_turns(self, messages: list[dict]) -> tuple[list[int], list[int]]:
        """(input_ids, labels): labels are the assistant reply tokens + their <|eot_id|>, else -100."""
        ids, labels = [self.bos], [IGNORE_INDEX]
        for m in messages:
            head = self.header(m["role"])
            ids += head
            labels += [IGNORE_INDEX] * len(head)
            body = self._text(m["content"]) + [self.eot]
            ids += body
            labels += body if m["role"] == "assistant" else [IGNORE_INDEX] * len(body)
        return ids, labels

    def encode_prompt(self, messages: list[dict]) -> list[int]:
        """Prompt for generation: the conversation so far + an open assistant header."""
        ids, _ = self.encode_turns(messages)
        return ids + self.header("assistant")


def get_template(name: str, tokenizer):
    if name == "llama3":
        return Llama3Template(tokenizer)
    raise ValueError(f"unsupported template {name!r}; supported: {', '.join(SUPPORTED_TEMPLATES)}")
