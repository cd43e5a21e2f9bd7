"""The commented starter config that ``comfytui config init`` writes.

Generated from the settings dataclasses in ``config`` (their defaults and the docstring under each
field), so it can never drift from what ``parse_config`` accepts: every setting is present,
commented out, with its default value.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import typing

import tomli_w

from comfytui.core import config as config_module
from comfytui.core.config import Config

HEADER = """\
# comfytui configuration ({path})
#
# Every setting is listed with its default, commented out: uncomment what you change.
# Precedence: command-line options > environment (COMFY_API_URL, COMFYTUI_BACKEND, ...) > this file.
# A wrong key, type or value stops comfytui with "file:line: section.key: what is wrong".
# Secrets never go in this file: name an environment variable in [server] token_env.
"""


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (``field: T = x`` then ``\"\"\"doc\"\"\"``)."""
    tree = ast.parse(inspect.getsource(config_module))
    docs: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            body = node.body
            for stmt, after in zip(body, body[1:], strict=False):
                if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                        and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                        and isinstance(after.value.value, str)):
                    docs[stmt.target.id] = " ".join(after.value.value.split())
    return docs


def _toml_value(value: typing.Any) -> str:
    """One value as TOML on one line (tomli_w has no API for a bare value: dump a one-key table and
    cut it; arrays are joined here because tomli_w spreads them over several lines)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _commented(lines: list[str], name: str, value: typing.Any, doc: str) -> None:
    if doc:
        lines.append(f"# {doc}")
    if isinstance(value, dict) and not value:
        lines.append(f"# {name} = {{}}")
    elif value is None:
        return
    else:
        lines.append(f"# {name} = {_toml_value(value)}")


def starter_config_text(path: str = "config.toml") -> str:
    defaults = Config()
    lines = [HEADER.format(path=path)]
    top_docs = field_docs(Config)
    _commented(lines, "backend", defaults.backend, top_docs.get("backend", "") or
               '"none" (just connect), "container" (podman) or "process" (a bare ComfyUI)')
    for f in dataclasses.fields(Config):
        section = getattr(defaults, f.name)
        if not dataclasses.is_dataclass(section):
            continue
        lines.append("")
        doc = (type(section).__doc__ or "").strip().splitlines()
        if doc:
            lines.append(f"# {doc[0]}")
        lines.append(f"# [{f.name}]")
        docs = field_docs(type(section))
        for sub in dataclasses.fields(section):
            _commented(lines, sub.name, getattr(section, sub.name), docs.get(sub.name, ""))
    return "\n".join(lines) + "\n"


def uncommented(text: str) -> str:
    """The starter text with every setting line enabled (what a user gets by uncommenting all)."""
    setting = re.compile(r"^# (\[[a-z_]+\]|[a-z_]+ = .*)$")
    return "\n".join(m.group(1) for line in text.splitlines() if (m := setting.match(line))) + "\n"
