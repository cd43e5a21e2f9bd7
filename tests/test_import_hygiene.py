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


def _modules_loaded_by(*argv: str) -> tuple[int, list[str]]:
    """Run ``comfytui ARGV`` in a fresh interpreter; its exit code and the comfytui command modules
    and UI modules it loaded."""
    script = f"""
import json, sys
from comfytui.cli import main
try:
    code = main({list(argv)!r})
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {UI_MODULES!r} and "." not in m
                or m.startswith("comfytui.headless.") and m.endswith(("_cmd", "_cmds")))
print(json.dumps([code, loaded]))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    code, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    return code, loaded


def test_run_loads_its_own_command_module_only(tmp_path: Path) -> None:
    """``comfytui run`` pays for neither the UI stack nor the other commands' modules (start-up
    time is most of a one-job run): not for --help, not for a run that gets as far as the server."""
    from harness.ports import free_port

    port = free_port()  # nothing listens: the run ends with exit 3
    workflow = tmp_path / "wf.json"
    workflow.write_text('{"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}')
    assert _modules_loaded_by("run", "--help") == (0, ["comfytui.headless.run_cmd"])
    code, loaded = _modules_loaded_by("run", str(workflow), "--url", f"http://127.0.0.1:{port}", "--wait")
    assert (code, loaded) == (3, ["comfytui.headless.run_cmd"])


def test_top_level_help_loads_no_command_module() -> None:
    assert _modules_loaded_by("--help") == (0, [])
