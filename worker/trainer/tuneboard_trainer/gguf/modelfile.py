"""An Ollama Modelfile for an exported .gguf (Ollama's documented grammar: FROM, TEMPLATE, PARAMETER,
SYSTEM, LICENSE; multi-line values in triple quotes)."""

from __future__ import annotations

from typing import Optional

from .chat_templates import go_template, stop_words


def _quoted(text: str) -> str:
    if '"""' in text:
        raise ValueError('a Modelfile value cannot contain """')
    return f'"""{text}"""'


def render_modelfile(gguf_name: str, run_template: Optional[str], eos_text: Optional[str],
                     system: Optional[str] = None, license_name: Optional[str] = None) -> str:
    lines = [f"FROM ./{gguf_name}"]
    template = go_template(run_template)
    if template:
        lines.append(f"TEMPLATE {_quoted(template)}")
    for word in stop_words(run_template, eos_text):
        escaped = word.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'PARAMETER stop "{escaped}"')
    if system:
        lines.append(f"SYSTEM {_quoted(system)}")
    if license_name:
        lines.append(f"LICENSE {_quoted(license_name)}")
    return "\n".join(lines) + "\n"
