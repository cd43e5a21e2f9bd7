"""The headless CLI and the core never load the UI stack (Textual, textual-image, Rich).

textual_image probes the terminal when imported (it reads stdin), and Textual/Rich cost start-up
time: ``comfytui run`` in a script must not pay for either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import comfytui

PACKAGE = Path(comfytui.__file__).resolve().parent
UI_MODULES = ("textual", "textual_image", "rich")


def _modules(*folders: str) -> list[str]:
    names = []
    for folder in folders:
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


def test_the_module_list_is_not_empty() -> None:
    names = _modules("core", "headless")
    assert "comfytui.core.comfy.session" in names and "comfytui.headless.run_cmd" in names


def test_core_headless_and_cli_import_without_ui_modules() -> None:
    names = ["comfytui.core", *_modules("core", "headless"), "comfytui.cli"]
    script = f"""
import importlib, json, sys
ui = set({UI_MODULES!r})
failed, culprits = {{}}, {{}}
def loaded():
    return {{m.split(".")[0] for m in sys.modules}} & ui
for name in {names!r}:
    before = loaded()
    try:
        importlib.import_module(name)
    except Exception as exc:  # reported, so a broken module is not mistaken for a clean one
        failed[name] = repr(exc)
    for module in sorted(loaded() - before):
        culprits[module] = name
import comfytui.cli
comfytui.cli.build_parser()  # loads every command module the CLI offers
for module in sorted(loaded() - set(culprits)):
    culprits[module] = "comfytui.cli.build_parser()"
print(json.dumps({{"failed": failed, "culprits": culprits}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}, result["failed"]
    assert result["culprits"] == {}, f"UI module -> the first module that imported it: {result['culprits']}"


def test_the_check_itself_sees_a_ui_import() -> None:
    """Guards the probe: importing the TUI's own dependency is detected."""
    code = "import sys, textual; print('textual' in {m.split('.')[0] for m in sys.modules})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.stdout.strip() == "True", proc.stderr
