"""Chat templates as token-id builders, following LLaMA-Factory's `data/template.py`.

A template turns a conversation into (source, target) token-id pairs, one per
user -> assistant exchange, exactly as LLaMA-Factory's `encode_multiturn`:
every message is rendered from its "slots" and tokenized on its own, so we know
which ids belong to assistant replies. Targets are the labelled part.

Templates: llama3, qwen, mistral, llama2, default, gemma, gemma3, phi, phi4, glm4, qwen3, qwen3_nothink,
deepseekr1 (slot-based, copied from LLaMA-Factory), and "tokenizer": the Jinja `chat_template` in the model's
tokenizer_config.json, rendered with jinja2. Its labels come from rendering
prefixes: the text up to each assistant turn with `add_generation_prompt`, and
the text including that turn; the difference is the target.

Reasoning templates (qwen3, deepseekr1) handle <think> blocks as LLaMA-Factory's ReasoningTemplate with its
`enable_thinking`: on (the default), replies keep their reasoning and a reply without one gets an empty block,
trained; off, reasoning is removed from replies and the empty block goes into the prompt, untrained.

Roles: system, user, assistant, function (a tool call, trained like an
assistant turn) and observation (a tool result, a prompt like a user turn).
Tool calls are rendered verbatim (LLaMA-Factory would reformat their JSON).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from .contracts.enums import TEMPLATES

IGNORE_INDEX = -100
SUPPORTED_TEMPLATES = TEMPLATES
PROMPT_ROLES = ("user", "observation")  # odd positions (1st, 3rd, ... message after the system)
REPLY_ROLES = ("assistant", "function")  # even positions: the trained turns

BOS, EOS = ("bos",), ("eos",)  # slot placeholders for the tokenizer's bos / eos token


class TemplateError(ValueError):
    """A conversation the template cannot encode (bad role order, unrenderable Jinja)."""


def load_tokenizer(model_dir):
    """The `tokenizers` Tokenizer from `<model_dir>/tokenizer.json`."""
    from tokenizers import Tokenizer

    path = Path(model_dir) / "tokenizer.json"
    if not path.exists():
        raise FileNotFoundError(f"{model_dir} has no tokenizer files: tokenizer.json (and tokenizer_config.json) "
                                "are needed; copy them from the base model")
    return Tokenizer.from_file(str(path))


def check_tokenizer_fits(tokenizer, vocab_size: int) -> None:
    """A tokenizer whose ids pass the model's vocabulary belongs to another model: say so before training."""
    top = max(tokenizer.get_vocab(with_added_tokens=True).values(), default=-1)
    if top >= vocab_size:
        raise TemplateError(f"the tokenizer has token ids up to {top}, but the model's vocabulary (config.json "
                            f"vocab_size) has {vocab_size} entries: the tokenizer belongs to another model")


def load_tokenizer_config(model_dir) -> dict:
    path = Path(model_dir) / "tokenizer_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _token_str(v) -> Optional[str]:
    """tokenizer_config.json stores special tokens as strings or {"content": ...} objects."""
    if isinstance(v, dict):
        v = v.get("content")
    return v if isinstance(v, str) and v else None


def split_system(messages: list[dict]) -> tuple[Optional[str], list[dict]]:
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"], messages[1:]
    return None, list(messages)


def check_roles(messages: list[dict]) -> None:
    """LLaMA-Factory's rule: prompt/reply alternate, starting with a prompt, ending with a reply."""
    for i, m in enumerate(messages):
        allowed = PROMPT_ROLES if i % 2 == 0 else REPLY_ROLES
        if m["role"] not in allowed:
            raise TemplateError(f"message {i} has role {m['role']!r}; expected one of {', '.join(allowed)}")
    if not messages or len(messages) % 2:
        raise TemplateError("a conversation must alternate user/assistant turns and end with an assistant turn")


@dataclass(frozen=True)
class Spec:
    """Slots as in LLaMA-Factory's register_template: strings with {{content}}, BOS or EOS."""

    user: tuple
    assistant: tuple
    system: tuple
    function: Optional[tuple] = None  # default: the assistant slots
    observation: Optional[tuple] = None  # default: the user slots
    prefix: tuple = ()
    default_system: str = ""
    stop_words: tuple = ()
    replace_eos: bool = False  # eos becomes stop_words[0] (LLaMA-Factory's replace_eos)
    fuse_system: bool = False  # Llama2Template: the system text goes inside the first user slot
    efficient_eos: bool = False  # one eos after the whole conversation, labelled (LLaMA-Factory's efficient_eos)
    thought_words: Optional[tuple] = None  # (open, close) of a reasoning block: LLaMA-Factory's ReasoningTemplate


SPECS = {
    "llama3": Spec(
        user=("<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n",),
        assistant=("{{content}}<|eot_id|>",),
        system=("<|start_header_id|>system<|end_header_id|>\n\n{{content}}<|eot_id|>",),
        function=("{{content}}<|eot_id|>",),
        observation=("<|start_header_id|>ipython<|end_header_id|>\n\n{{content}}<|eot_id|>"
                     "<|start_header_id|>assistant<|end_header_id|>\n\n",),
        prefix=(BOS,),
        stop_words=("<|eot_id|>", "<|eom_id|>"),
        replace_eos=True,
    ),
    # LLaMA-Factory's qwen template (Qwen2.5 and later default system prompt).
    "qwen": Spec(
        user=("<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n",),
        assistant=("{{content}}<|im_end|>\n",),
        system=("<|im_start|>system\n{{content}}<|im_end|>\n",),
        function=("{{content}}<|im_end|>\n",),
        observation=("<|im_start|>user\n<tool_response>\n{{content}}\n</tool_response><|im_end|>\n"
                     "<|im_start|>assistant\n",),
        default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
        stop_words=("<|im_end|>",),
        replace_eos=True,
    ),
    # LLaMA-Factory's "mistral" (tokenizer v3): system text is fused into the first [INST].
    "mistral": Spec(
        user=("[INST] {{content}}[/INST]",),
        assistant=(" {{content}}", EOS),
        system=("{{content}}\n\n",),
        function=("[TOOL_CALLS] {{content}}", EOS),
        observation=('[TOOL_RESULTS] {"content": {{content}}}[/TOOL_RESULTS]',),
        prefix=(BOS,),
        fuse_system=True,
    ),
    "llama2": Spec(
        user=(BOS, "[INST] {{content}} [/INST]"),
        assistant=("{{content}}", EOS),
        system=("<<SYS>>\n{{content}}\n<</SYS>>\n\n",),
        fuse_system=True,
    ),
    "default": Spec(
        user=("Human: {{content}}", EOS, "\nAssistant:"),
        assistant=("{{content}}", EOS, "\n"),
        system=("System: {{content}}", EOS, "\n"),
    ),
    # Gemma (1, 2) and Gemma 3 (text): Llama2Template, so the system text opens the first user turn.
    "gemma": Spec(
        user=("<start_of_turn>user\n{{content}}<end_of_turn>\n<start_of_turn>model\n",),
        assistant=("{{content}}<end_of_turn>\n",),
        system=("{{content}}\n\n",),
        observation=("<start_of_turn>tool\n{{content}}<end_of_turn>\n<start_of_turn>model\n",),
        prefix=(BOS,),
        stop_words=("<end_of_turn>",),
        replace_eos=True,
        fuse_system=True,
    ),
    "phi": Spec(
        user=("<|user|>\n{{content}}<|end|>\n<|assistant|>\n",),
        assistant=("{{content}}<|end|>\n",),
        system=("<|system|>\n{{content}}<|end|>\n",),
        stop_words=("<|end|>",),
        replace_eos=True,
    ),
    "phi4": Spec(
        user=("<|im_start|>user<|im_sep|>{{content}}<|im_end|><|im_start|>assistant<|im_sep|>",),
        assistant=("{{content}}<|im_end|>",),
        system=("<|im_start|>system<|im_sep|>{{content}}<|im_end|>",),
        stop_words=("<|im_end|>",),
        replace_eos=True,
    ),
    "glm4": Spec(
        user=("<|user|>\n{{content}}<|assistant|>",),
        assistant=("\n{{content}}",),
        system=("<|system|>\n{{content}}",),
        observation=("<|observation|>\n{{content}}<|assistant|>",),
        prefix=("[gMASK]<sop>",),
        stop_words=("<|user|>", "<|observation|>"),
        efficient_eos=True,
    ),
}
SPECS["gemma3"] = SPECS["gemma"]  # the same text template (LLaMA-Factory's differs in its image plugin only)
THINK = ("<think>\n", "\n</think>\n\n")  # LLaMA-Factory's default thought_words
# Qwen3: qwen without its default system prompt; "qwen3" reasons in <think> blocks, "qwen3_nothink" is plain.
SPECS["qwen3_nothink"] = replace(SPECS["qwen"], default_system="")
SPECS["qwen3"] = replace(SPECS["qwen3_nothink"], thought_words=THINK)
# DeepSeek-R1 and its Qwen/Llama distills (LLaMA-Factory's deepseekr1 = deepseek3 + reasoning): the system text
# is written as it is, each reply ends with the tokenizer's eos.
SPECS["deepseekr1"] = Spec(
    user=("<｜User｜>{{content}}<｜Assistant｜>",),
    assistant=("{{content}}", EOS),
    system=("{{content}}",),
    prefix=(BOS,),
    thought_words=THINK,
)


class _Base:
    """Shared: special ids, generation stop ids, padding id, and label building."""

    name = "?"
    efficient_eos = False  # True: data.encode_example appends one labelled eos after the conversation

    def __init__(self, tokenizer, tokenizer_config: Optional[dict] = None):
        self.tokenizer = tokenizer
        tc = tokenizer_config or {}
        tid = tokenizer.token_to_id
        self.bos_token = _token_str(tc.get("bos_token")) or ("<|begin_of_text|>" if tid("<|begin_of_text|>") is not None else None)
        self.eos_token = _token_str(tc.get("eos_token")) or next(
            (t for t in ("<|eot_id|>", "<|im_end|>", "</s>", "<|endoftext|>") if tid(t) is not None), None)

    def _text(self, s: str) -> list[int]:
        return self.tokenizer.encode(s, add_special_tokens=False).ids if s else []

    def _finish_init(self, stop_words) -> None:
        tid = self.tokenizer.token_to_id
        words = [self.eos_token, *stop_words, "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>"]
        self.stop_ids = {tid(w) for w in words if w and tid(w) is not None}
        # Right padding only ever sits behind real tokens (or is masked out), so any id works.
        pad = next((tid(t) for t in ("<|finetune_right_pad_id|>", "<|endoftext|>", "<pad>") if tid(t) is not None),
                   None)
        self.pad = pad if pad is not None else (tid(self.eos_token) if self.eos_token else 0) or 0

    # -- what data.py and chat_server.py use --------------------------------------------------

    def eos_ids(self) -> list[int]:
        """The one eos an efficient_eos template appends after a trained conversation ([] otherwise)."""
        i = self.tokenizer.token_to_id(self.eos_token) if self.efficient_eos and self.eos_token else None
        return [] if i is None else [i]

    def encode_multiturn(self, messages: list[dict]) -> list[tuple[list[int], list[int]]]:
        raise NotImplementedError

    def encode_turns(self, messages: list[dict], train_on_prompt: bool = False,
                     mask_history: bool = False) -> tuple[list[int], list[int]]:
        """(input_ids, labels) without truncation; labels are -100 outside the trained turns."""
        pairs = self.encode_multiturn(messages)
        ids, labels = [], []
        for i, (src, tgt) in enumerate(pairs):
            ids += src + tgt
            labels += (src if train_on_prompt else [IGNORE_INDEX] * len(src))
            labels += [IGNORE_INDEX] * len(tgt) if mask_history and i != len(pairs) - 1 else tgt
        eos = self.eos_ids()
        return ids + eos, labels + eos

    def encode_prompt(self, messages: list[dict]) -> list[int]:
        """Prompt for generation: the conversation so far (ending with a user turn) + the reply opener."""
        pairs = self.encode_multiturn([*messages, {"role": "assistant", "content": ""}])
        ids = []
        for src, tgt in pairs[:-1]:
            ids += src + tgt
        return ids + pairs[-1][0]


class SlotTemplate(_Base):
    """LLaMA-Factory's Template / Llama2Template `_encode`, per message."""

    def __init__(self, name: str, tokenizer, tokenizer_config: Optional[dict] = None, enable_thinking: bool = True):
        super().__init__(tokenizer, tokenizer_config)
        self.name, self.spec, self.enable_thinking = name, SPECS[name], enable_thinking
        self.efficient_eos = self.spec.efficient_eos
        if self.spec.replace_eos:
            self.eos_token = self.spec.stop_words[0]
        self._finish_init(self.spec.stop_words)

    def _slots(self, slots, content: str) -> list[int]:
        ids = []
        for s in slots:
            if s is BOS or s is EOS:
                tok = self.bos_token if s is BOS else self.eos_token
                i = self.tokenizer.token_to_id(tok) if tok else None
                if i is not None:
                    ids.append(i)
            else:
                ids += self._text(s.replace("{{content}}", content))
        return ids

    def encode_multiturn(self, messages):
        if self.spec.thought_words is None:
            return self._encode_pairs(messages)
        if not self.enable_thinking:  # remove all reasoning
            messages = self._without_thoughts(messages)
        pairs = self._encode_pairs(messages)
        replies = split_system(messages)[1][1::2]
        for (src, tgt), reply in zip(pairs, replies):
            if not self._has_thought(reply["content"]):  # an empty block: trained, or in the prompt when off
                if self.enable_thinking:
                    tgt[0:0] = self._thought_ids()
                else:
                    src += self._thought_ids()
        return pairs

    def encode_prompt(self, messages):
        """LLaMA-Factory's encode_oneturn: earlier replies lose their reasoning; thinking off, the prompt ends with
        an empty reasoning block."""
        if self.spec.thought_words is None:
            return super().encode_prompt(messages)
        pairs = self._encode_pairs([*self._without_thoughts(messages),
                                    {"role": "assistant", "content": ""}])
        ids = [i for src, tgt in pairs[:-1] for i in src + tgt] + pairs[-1][0]
        return ids if self.enable_thinking else ids + self._thought_ids()

    def _has_thought(self, content: str) -> bool:
        return any(w.strip() in content for w in self.spec.thought_words)

    def _thought_ids(self) -> list[int]:
        return self._text("".join(self.spec.thought_words))

    def _without_thoughts(self, messages: list[dict]) -> list[dict]:
        """The replies (every second message after the system) with their reasoning blocks removed."""
        open_, close = (re.escape(w) for w in self.spec.thought_words)
        pattern = re.compile(f"{open_}(.*?){close}", re.DOTALL)
        head = messages[:1] if messages and messages[0]["role"] == "system" else []
        rest = messages[len(head):]
        return head + [m if i % 2 == 0 else {**m, "content": pattern.sub("", m["content"]).lstrip("\n")}
                       for i, m in enumerate(rest)]

    def _encode_pairs(self, messages):
        system, messages = split_system(messages)
        check_roles(messages)
        sp = self.spec
        system = system or sp.default_system
        encoded = []
        for i, m in enumerate(messages):
            ids, content = [], m["content"]
            if i == 0:
                ids += self._slots(sp.prefix, "")
                if system:
                    if sp.fuse_system:
                        content = sp.system[0].replace("{{content}}", system) + content
                    else:
                        ids += self._slots(sp.system, system)
            slots = {"user": sp.user, "assistant": sp.assistant, "function": sp.function or sp.assistant,
                     "observation": sp.observation or sp.user}[m["role"]]
            encoded.append(ids + self._slots(slots, content))
        return [(encoded[i], encoded[i + 1]) for i in range(0, len(encoded), 2)]


class JinjaTemplate(_Base):
    """The tokenizer's own `chat_template`; targets found by rendering prefixes."""

    name = "tokenizer"

    def __init__(self, tokenizer, tokenizer_config: dict):
        super().__init__(tokenizer, tokenizer_config)
        source = tokenizer_config.get("chat_template")
        if isinstance(source, list):  # [{"name": "default", "template": ...}, ...]
            source = next((t.get("template") for t in source if t.get("name") == "default"), None)
        if not isinstance(source, str) or not source.strip():
            raise TemplateError("template 'tokenizer': tokenizer_config.json has no chat_template")
        from jinja2 import TemplateError as JinjaError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise TemplateError(f"chat_template: {message}")

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        env.filters["tojson"] = lambda x, indent=None, **kw: json.dumps(x, ensure_ascii=False, indent=indent)
        try:
            self.jinja = env.from_string(source)
        except JinjaError as e:
            raise TemplateError(f"template 'tokenizer': chat_template does not parse ({e})") from None
        self.extra = {k: _token_str(v) for k, v in tokenizer_config.items()
                      if k.endswith("_token") and _token_str(v)}
        self._finish_init(())

    def render(self, messages: list[dict], add_generation_prompt: bool) -> str:
        from jinja2 import TemplateError as JinjaError

        # The role names the model's template knows; function/observation fall back to assistant/tool.
        msgs = [{"role": {"function": "assistant", "observation": "tool"}.get(m["role"], m["role"]),
                 "content": m["content"]} for m in messages]
        try:
            return self.jinja.render({**self.extra, "bos_token": self.bos_token or "",
                                      "eos_token": self.eos_token or ""},
                                     messages=msgs, add_generation_prompt=add_generation_prompt)
        except JinjaError as e:
            raise TemplateError(f"chat_template failed to render: {e}") from None

    def encode_multiturn(self, messages):
        system, rest = split_system(messages)
        check_roles(rest)
        head = [{"role": "system", "content": system}] if system is not None else []
        pairs, done = [], ""
        for k in range(1, len(rest), 2):
            prompt = self.render(head + rest[:k], add_generation_prompt=True)
            full = self.render(head + rest[: k + 1], add_generation_prompt=False)
            if not prompt.startswith(done) or not full.startswith(prompt):
                raise TemplateError("chat_template is not prefix-stable (rendering more turns changes "
                                    "earlier text), so assistant turns cannot be located; use a named template")
            pairs.append((self._text(prompt[len(done):]), self._text(full[len(prompt):])))
            done = full
        return pairs

    def encode_prompt(self, messages):
        return self._text(self.render(messages, add_generation_prompt=True))


def get_template(name: str, tokenizer, tokenizer_config: Optional[dict] = None, enable_thinking: bool = True):
    """`enable_thinking`: LLaMA-Factory's, for the reasoning templates (qwen3, deepseekr1); others ignore it."""
    if name == "tokenizer":
        return JinjaTemplate(tokenizer, tokenizer_config or {})
    if name in SPECS:
        return SlotTemplate(name, tokenizer, tokenizer_config, enable_thinking)
    raise ValueError(f"unsupported template {name!r}; supported: {', '.join(SUPPORTED_TEMPLATES)}")


def load_template(name: str, model_dir, enable_thinking: bool = True):
    """Template for a model directory (tokenizer.json + tokenizer_config.json)."""
    return get_template(name, load_tokenizer(model_dir), load_tokenizer_config(model_dir), enable_thinking)
