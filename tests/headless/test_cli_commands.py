"""``comfytui --help`` is answered from a table in ``cli.py`` (no command module imported): the
table must say what the command modules themselves define, and every ``CMD --help`` must work."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from comfytui.cli import COMMANDS, build_parser

COMFYTUI = Path(sys.executable).with_name("comfytui")


def _defined_by_modules() -> list[tuple[str, str]]:
    parser = build_parser()  # imports every command module
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(choice.dest, choice.help) for choice in sub._choices_actions]


def test_the_table_is_what_the_modules_define() -> None:
    assert [(name, help_line) for _module, name, help_line in COMMANDS] == _defined_by_modules()


def test_each_command_belongs_to_the_module_named_for_it() -> None:
    for module, name, _help in COMMANDS:
        parser = build_parser([name])
        (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert name in sub.choices, f"{module} does not define {name!r}"


def _comfytui(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    return subprocess.run([str(COMFYTUI), *args], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


def test_top_level_help_lists_every_command_with_its_help() -> None:
    proc = _comfytui("--help")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for _module, name, help_line in COMMANDS:
        assert f"{name} {' '.join(help_line.split())}" in text, name


@pytest.mark.parametrize("name", [name for _module, name, _help in COMMANDS])
def test_each_command_has_its_own_help(name: str) -> None:
    proc = _comfytui(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: comfytui {name}"), proc.stdout[:200]


def test_an_unknown_command_is_bad_input_listing_the_real_ones() -> None:
    proc = _comfytui("frobnicate")
    assert proc.returncode == 2
    assert "invalid choice: 'frobnicate'" in proc.stderr and "'run'" in proc.stderr and "'config'" in proc.stderr
