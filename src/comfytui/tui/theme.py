"""Themes from the repo's ``themes/*.toml`` (bundled into the package), registered with Textual."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.app import App
from textual.theme import Theme

THEME_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background", "surface", "panel", "boost")


def themes_dir() -> Path | None:
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "bundled_themes", here.parents[3] / "themes"):
        if candidate.is_dir():
            return candidate
    return None


def load_themes(directory: Path | None = None) -> list[Theme]:
    directory = directory or themes_dir()
    if directory is None:
        return []
    themes = []
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        colours = {k: data[k] for k in THEME_FIELDS if k in data}
        themes.append(Theme(name=data.get("name", path.stem), dark=bool(data.get("dark", True)), **colours))
    return themes


def register_themes(app: App) -> None:
    for theme in load_themes():
        app.register_theme(theme)
