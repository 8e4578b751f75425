"""The run's chat template in the two languages other programs read: Jinja for llama.cpp's
tokenizer.chat_template (when the model has no template of its own) and Go templates for Ollama's
Modelfile. Each renders the same text as templates.py's slot template of the same name."""

from __future__ import annotations

from typing import Optional

from ..templates import SPECS

JINJA = {
    "llama3": (
        "{{ bos_token }}{% for message in messages %}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
    ),
    "qwen": (
        "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n" + SPECS["qwen"].default_system
        + "<|im_end|>\\n' }}{% endif %}{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    "mistral": (
        "{{ bos_token }}{% set ns = namespace(system='') %}"
        "{% if messages[0]['role'] == 'system' %}{% set ns.system = messages[0]['content'] + '\\n\\n' %}{% endif %}"
        "{% for message in messages %}{% if message['role'] == 'user' %}"
        "{{ '[INST] ' + (ns.system if loop.index0 <= 1 else '') + message['content'] + '[/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}"
    ),
}

GO = {
    "llama3": (
        "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "qwen": (
        "<|im_start|>system\n{{ if .System }}{{ .System }}{{ else }}" + SPECS["qwen"].default_system
        + "{{ end }}<|im_end|>\n"
        "{{ range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    ),
    "mistral": (
        "{{- range $i, $m := .Messages }}{{- if eq $m.Role \"user\" }}[INST] "
        "{{ if and (eq $i 0) $.System }}{{ $.System }}\n\n{{ end }}{{ $m.Content }}[/INST]"
        "{{- else if eq $m.Role \"assistant\" }} {{ $m.Content }}</s>{{- end }}{{- end }}"
    ),
}


def jinja_template(run_template: Optional[str]) -> Optional[str]:
    return JINJA.get(run_template or "")


def go_template(run_template: Optional[str]) -> Optional[str]:
    return GO.get(run_template or "")


def stop_words(run_template: Optional[str], eos_text: Optional[str]) -> list[str]:
    """The strings that end a reply: the template's stop words, else the tokenizer's EOS."""
    spec = SPECS.get(run_template or "")
    words = list(spec.stop_words) if spec and spec.stop_words else []
    if not words and eos_text:
        words = [eos_text]
    return words
