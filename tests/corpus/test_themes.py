"""Theme files: a bad one is left out with a message naming the file and the key; the good ones
still load, and every colour the core check accepts is one Textual can apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color

from comfytui.core.themes import check_colour, load_theme_specs
from comfytui.tui.theme import load_themes, themes_dir

GOOD = 'name = "mine"\ndark = false\nprimary = "#5f87d7"\nbackground = "rgb(10, 20, 30)"\nsurface = "hsl(120, 50%, 40%)"\n'
BAD = {
    "not_a_colour.toml": ('name = "x"\nprimary = "#5f87d7"\naccent = "banana"\n', "accent: 'banana' is not a colour"),
    "number.toml": ('name = "x"\nprimary = 255\n', "primary: is a int"),
    "short_hex.toml": ('name = "x"\nprimary = "#12345"\n', "primary: '#12345' is not a colour"),
    "bad_toml.toml": ('name = "x\nprimary = "#fff"\n', "bad_toml.toml: "),
    "no_primary.toml": ('name = "x"\naccent = "#fff"\n', "primary: missing"),
    "typo.toml": ('name = "x"\nprimary = "#fff"\nprimery = "#000"\n', "unknown key 'primery'"),
}


def test_bad_theme_files_are_left_out_naming_file_and_key(tmp_path: Path, caplog) -> None:
    (tmp_path / "good.toml").write_text(GOOD)
    for name, (text, _reason) in BAD.items():
        (tmp_path / name).write_text(text)
    specs, problems = load_theme_specs(tmp_path)
    assert [s.name for s in specs] == ["mine"]
    assert len(problems) == len(BAD)
    for name, (_text, reason) in BAD.items():
        line = next((p for p in problems if name in p), None)
        assert line is not None and reason in line, (name, problems)
    # the dashboard's loader: only the good theme is registered, each bad file is one warning
    themes = load_themes(tmp_path)
    assert [t.name for t in themes] == ["mine"]
    assert themes[0].background == "rgb(10, 20, 30)"
    warnings = [r.getMessage() for r in caplog.records if "theme left out" in r.getMessage()]
    assert len(warnings) == len(BAD)


@pytest.mark.parametrize("colour", ["#5f87d7", "#abc", "#abcd", "#5f87d7aa", "rgb(1, 2, 3)", "rgba(1,2,3,0.5)",
                                    "hsl(120, 50%, 50%)", "hsla(120, 50%, 50%, 0.5)"])
def test_every_accepted_colour_parses_in_textual(colour: str) -> None:
    assert check_colour(colour) is None
    Color.parse(colour)


def test_the_bundled_themes_pass_the_check() -> None:
    directory = themes_dir()
    assert directory is not None
    specs, problems = load_theme_specs(directory)
    assert problems == []
    assert {"comfytui-dark", "comfytui-light"} <= {s.name for s in specs}
