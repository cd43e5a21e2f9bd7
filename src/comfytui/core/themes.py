"""Theme files (``themes/*.toml``) read and checked without a UI library: a broken file or a
colour Textual cannot parse is reported (file and key) and the theme left out, instead of the
dashboard failing when it applies the theme."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

THEME_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background",
                "surface", "panel", "boost")
REQUIRED_FIELDS = ("primary",)
_NUMBER = r"\s*-?\d+(?:\.\d+)?%?\s*"
_COLOUR = re.compile(
    r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})"
    rf"|rgba?\({_NUMBER},{_NUMBER},{_NUMBER}(?:,{_NUMBER})?\)"
    rf"|hsla?\({_NUMBER},{_NUMBER},{_NUMBER}(?:,{_NUMBER})?\)"
)


@dataclass(frozen=True)
class ThemeSpec:
    name: str
    dark: bool
    colours: dict[str, str] = field(default_factory=dict)
    path: str = ""


def check_colour(value: object) -> str | None:
    """Why ``value`` is not a colour (``#rrggbb``, ``#rgb``, ``#rrggbbaa``, ``rgb()``, ``hsl()``), or None."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, expected a colour string like \"#5f87d7\""
    if not _COLOUR.fullmatch(value.strip()):
        return f"{value[:40]!r} is not a colour (use \"#rrggbb\", \"#rgb\", \"rgb(r, g, b)\" or \"hsl(h, s%, l%)\")"
    return None


def parse_theme(text: str, path: str) -> ThemeSpec:
    """One theme file's text; raises ``ValueError`` naming the file, line/column or key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{path}: name: expected a non-empty string")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError(f"{path}: dark: expected true or false")
    for key in REQUIRED_FIELDS:
        if key not in data:
            raise ValueError(f"{path}: {key}: missing (every theme needs it)")
    colours: dict[str, str] = {}
    for key in THEME_FIELDS:
        if key in data:
            problem = check_colour(data[key])
            if problem:
                raise ValueError(f"{path}: {key}: {problem}")
            colours[key] = data[key].strip()
    unknown = sorted(set(data) - set(THEME_FIELDS) - {"name", "dark"})
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r} (known: name, dark, {', '.join(THEME_FIELDS)})")
    return ThemeSpec(name=name.strip(), dark=dark, colours=colours, path=path)


def load_theme_specs(directory: Path) -> tuple[list[ThemeSpec], list[str]]:
    """Every valid theme of ``directory`` and one message per file left out."""
    specs: list[ThemeSpec] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            specs.append(parse_theme(path.read_text(encoding="utf-8"), str(path)))
        except OSError as exc:
            problems.append(f"{path}: cannot read ({exc.strerror or exc})")
        except UnicodeDecodeError:
            problems.append(f"{path}: not a UTF-8 text file")
        except ValueError as exc:
            problems.append(str(exc))
    return specs, problems
