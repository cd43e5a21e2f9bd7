"""``comfytui config path|init|show`` as a user runs them (the real CLI in a subprocess)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from comfytui.core.config import Config, parse_config
from comfytui.core.config_template import starter_config_text, uncommented


def comfytui(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    environ.update({"COMFYTUI_HOME": str(home), **(env or {})})
    return subprocess.run([sys.executable, "-m", "comfytui", *args], capture_output=True, text=True,
                          env=environ, timeout=60, stdin=subprocess.DEVNULL)


def test_init_writes_a_commented_starter_where_path_says(tmp_path: Path) -> None:
    where = comfytui(tmp_path, "config", "path")
    assert where.returncode == 0 and "does not exist yet" in where.stderr
    path = Path(where.stdout.strip())
    assert path == tmp_path / "config" / "config.toml"

    init = comfytui(tmp_path, "config", "init")
    assert init.returncode == 0, init.stderr
    assert Path(init.stdout.strip()) == path
    text = path.read_text()
    assert text.startswith("# comfytui configuration")
    assert parse_config(text, str(path)).replace(source="") == Config()  # all commented out: defaults
    assert "# [container]" in text and "# tag = " in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    again = comfytui(tmp_path, "config", "init")
    assert again.returncode == 2 and "--force" in again.stderr and path.read_text() == text
    assert json.loads(comfytui(tmp_path, "config", "path", "--json").stdout) == {
        "path": str(path), "exists": True, "chosen_by": "$COMFYTUI_HOME"}


def test_every_setting_of_the_starter_is_valid_when_uncommented() -> None:
    text = uncommented(starter_config_text())
    assert "[gpu]" in text and "interval_s = 1.0" in text
    assert parse_config(text, "starter").replace(source="") == Config()


def test_path_and_init_work_while_the_file_is_broken(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("backend = 3\n")
    where = comfytui(tmp_path, "--config", str(broken), "config", "path")
    assert where.returncode == 0 and where.stdout.strip() == str(broken)
    show = comfytui(tmp_path, "--config", str(broken), "config", "show")
    assert show.returncode == 2 and f"{broken}:1: backend" in show.stderr
    fixed = comfytui(tmp_path, "--config", str(broken), "config", "init", "--force")
    assert fixed.returncode == 0 and comfytui(tmp_path, "--config", str(broken), "config", "show").returncode == 0


def test_show_hides_secrets(tmp_path: Path) -> None:
    shown = comfytui(tmp_path, "-H", "X-API-Key: sekrit-value", "config", "show", "--json",
                     env={"COMFY_API_URL": "http://alice:pa55word@127.0.0.1:8188"})
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["server"]["headers"] == {"X-API-Key": "****"}
    assert "sekrit-value" not in shown.stdout and "pa55word" not in shown.stdout
    assert "127.0.0.1:8188" in data["server"]["url"]
