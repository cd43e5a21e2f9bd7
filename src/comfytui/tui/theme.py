"""Themes from the repo's ``themes/*.toml`` (bundled into the package), registered with Textual."""

from __future__ import annotations

import logging
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
    from comfytui.core.themes import load_theme_specs  # checks every colour (file and key named)

    specs, problems = load_theme_specs(directory)
    for problem in problems:
        logging.getLogger(__name__).warning("theme left out: %s", problem)
    return [Theme(name=spec.name, dark=spec.dark, **spec.colours) for spec in specs]


def register_themes(app: App) -> None:
    for theme in load_themes():
        app.register_theme(theme)
