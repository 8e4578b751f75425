"""README.md model card for an exported model (GGUF or merged Hugging Face folder): base model,
datasets, method and hyper-parameters, final losses, identity check and eval metrics when the run has
them, the loss plot, and the base model's license. The facts come from the export config's `card`
object, which the worker fills from what it knows about the run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Optional, Sequence

from .config import ConfigError

CARD_FIELDS = ("run_name", "base_model", "datasets", "method", "template", "hyperparameters", "final_train_loss",
               "final_eval_loss", "identity_check", "eval_metrics", "loss_plot", "system_prompt")
LOSS_PLOT = "training_loss.png"


def check_card(card) -> dict:
    if card is None:
        return {}
    if not isinstance(card, dict):
        raise ConfigError("card: expected an object")
    extra = sorted(set(card) - set(CARD_FIELDS))
    if extra:
        raise ConfigError(f"card.{extra[0]}: unknown field")
    return card


def base_license(base: Path) -> Optional[str]:
    """`license` from the base's config.json, else from its README's YAML front matter."""
    try:
        cfg = json.loads((base / "config.json").read_text(encoding="utf-8"))
        if isinstance(cfg.get("license"), str):
            return cfg["license"]
    except (OSError, json.JSONDecodeError):
        pass
    readme = base / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8", errors="replace")
        m = re.match(r"---\n(.*?)\n---", text, re.S)
        if m:
            lic = re.search(r"^license:\s*(\S.*)$", m.group(1), re.M)
            if lic:
                return lic.group(1).strip().strip("'\"")
    return None


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _identity_lines(ident) -> list[str]:
    """The Identity check as the Chat page reports it: counts out of the held-out questions, and an answer."""
    if isinstance(ident, str):
        return [f"- Identity check: {ident}"]
    n = ident.get("questions")
    if not isinstance(n, int) or not ident.get("name"):
        return [f"- Identity check: {json.dumps(ident)}"]
    name, author = ident["name"], ident.get("author") or ""
    parts = [f"{ident.get('with_name', 0)}/{n} answers name {name}"]
    if author:
        parts += [f"{ident.get('with_author', 0)}/{n} name {author}", f"{ident.get('with_both', 0)}/{n} both"]
    if "clean" in ident:
        parts.append(f"{ident['clean']}/{n} clean")
    out = [f"- Identity check ({n} held-out questions"
           + (f", {str(ident['checked_at'])[:10]}" if ident.get("checked_at") else "") + "): " + ", ".join(parts)]
    if ident.get("example_answer"):
        out.append(f"  - Example answer: \"{ident['example_answer']}\"")
    return out


def render_model_card(card: dict, base: Path, files: list[str], has_plot: bool, notes: Sequence[str] = ()) -> str:
    lic = base_license(base)
    title = card.get("run_name") or base.name
    out = ["---"]
    if lic:
        out.append(f"license: {lic}")
    out += [f"base_model: {card.get('base_model') or base.name}", "tags:", "- tuneboard", "---", "",
            f"# {title}", "", f"Fine-tuned from **{card.get('base_model') or base.name}** with Tuneboard.", ""]
    rows = [("Base model", card.get("base_model") or base.name),
            ("Datasets", ", ".join(card.get("datasets") or []) or None),
            ("Method", card.get("method")), ("Chat template", card.get("template")),
            ("Final training loss", card.get("final_train_loss")), ("Final eval loss", card.get("final_eval_loss"))]
    out += ["## Training", "", "| | |", "| --- | --- |"]
    out += [f"| {k} | {_fmt(v)} |" for k, v in rows if v is not None]
    hp = card.get("hyperparameters") or {}
    if hp:
        out += ["", "### Hyper-parameters", "", "| name | value |", "| --- | --- |"]
        out += [f"| {k} | {_fmt(v)} |" for k, v in sorted(hp.items())]
    if card.get("system_prompt"):
        out += ["", "System prompt:", "", "```", card["system_prompt"], "```"]
    if has_plot:
        out += ["", "## Loss", "", f"![training loss]({LOSS_PLOT})"]
    ident, metrics = card.get("identity_check"), card.get("eval_metrics") or {}
    if ident is not None or metrics:
        out += ["", "## Evaluation", ""]
        if ident is not None:
            out += _identity_lines(ident)
        out += [f"- {k}: {_fmt(v)}" for k, v in sorted(metrics.items())]
    if notes:  # warnings the export raised (e.g. a merge from a quantized base)
        out += ["", "## Notes", ""] + [f"- **Warning:** {n[0].upper()}{n[1:]}." for n in notes]
    out += ["", "## Files", ""] + [f"- `{f}`" for f in files]
    out += ["", "## License", "",
            f"This model is a derivative of {card.get('base_model') or base.name} and is subject to its license"
            + (f" ({lic})." if lic else "; the base model names none, so check it before sharing this model.")]
    return "\n".join(out) + "\n"


def write_model_card(out_dir: Path, card: dict, base: Path, notes: Sequence[str] = ()) -> None:
    """README.md (and the loss plot beside it, when the run has one) into `out_dir`."""
    plot = card.get("loss_plot")
    has_plot = bool(plot) and Path(plot).is_file()
    if has_plot:
        shutil.copyfile(plot, out_dir / LOSS_PLOT)
    files = sorted(p.name for p in out_dir.iterdir() if p.is_file() and p.name != "README.md")
    (out_dir / "README.md").write_text(render_model_card(card, base, files, has_plot, notes), encoding="utf-8")
