"""Secrets never leave the process: a server URL with a password and an ``X-API-Key`` header,
used by ``run --wait``, ``status``, ``gpu --json``, ``models --json`` and ``workflow convert``
against the real CPU ComfyUI, appear in no output of those commands and in no file comfytui
writes under COMFYTUI_HOME (state, cache, config)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.comfy import progress_prompt

pytestmark = pytest.mark.comfy

COMFYTUI = Path(sys.executable).with_name("comfytui")
PASSWORD = "pw-S3cr3t-7f41a9"
API_KEY = "key-S3cr3t-0b9c2e"


def _run(*args: str | Path, home: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    return subprocess.run([str(COMFYTUI), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL, cwd=home)


def _files_holding(root: Path, *secrets: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path} holds {s!r}" for s in secrets if s.encode() in data]
    return hits


def test_password_and_api_key_never_printed_nor_stored(comfy_server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = comfy_server.url.replace("http://", f"http://admin:{PASSWORD}@")
    auth = ("--url", url, "-H", f"X-API-Key: {API_KEY}")
    workflow = tmp_path / "secret_job.json"
    workflow.write_text(json.dumps(progress_prompt(steps=2, delay=0.01, prefix="secrets")))
    models_dir = tmp_path / "models" / "checkpoints"
    models_dir.mkdir(parents=True)
    (models_dir / "tiny.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")

    runs = {
        "run --wait": _run(*auth, "run", workflow, "--wait", "--no-download", home=home),
        "status": _run(*auth, "status", home=home),
        "status --json": _run(*auth, "status", "--json", home=home),
        "gpu --json": _run(*auth, "gpu", "--json", home=home),
        "gpu": _run(*auth, "gpu", home=home),
        "models --json": _run(*auth, "models", "--json", "--dir", tmp_path / "models", home=home),
        "models": _run(*auth, "models", "--dir", tmp_path / "models", home=home),
        "workflow convert": _run(*auth, "workflow", "convert", workflow, "--check", home=home),
        "free --json": _run(*auth, "free", "--yes", "--json", home=home),
    }
    assert runs["run --wait"].returncode == 0, runs["run --wait"].stderr
    for name in ("gpu --json", "models --json", "free --json"):
        assert runs[name].returncode == 0, (name, runs[name].stderr)
    # the commands did talk about the server: its address shows, masked
    assert "admin:****@127.0.0.1" in runs["gpu --json"].stdout
    assert "admin:****@127.0.0.1" in runs["models --json"].stdout
    for name, proc in runs.items():
        for stream in (proc.stdout, proc.stderr):
            assert PASSWORD not in stream, f"{name} printed the password:\n{stream[:2000]}"
            assert API_KEY not in stream, f"{name} printed the API key:\n{stream[:2000]}"
            assert "Traceback" not in stream, f"{name}:\n{stream[-2000:]}"
    assert _files_holding(home, PASSWORD, API_KEY) == []


def test_a_malformed_frame_warning_is_one_clean_line_without_the_secret(tmp_path: Path) -> None:
    """A Python logging warning (here: the protocol's malformed-frame warning, fed a frame that
    carries a secret URL and terminal escapes) reaches stderr as one line, redacted and inert."""
    script = (
        "import logging, sys\n"
        "from comfytui.cli import headless_output\n"
        "with headless_output():\n"
        "    logging.getLogger('comfytui.core.comfy.protocol').warning(\n"
        "        'skipped a malformed %s: %s', 'frame', 'see http://u:" + PASSWORD + "@h/x?token=" + API_KEY
        + "\\x1b]0;pwned\\x07\\nsecond line\\x1b[2J')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("comfytui: warning: skipped a malformed frame: see http://u:****@h/x?token=****")
    assert "second line" in lines[0]
    assert PASSWORD not in proc.stderr and API_KEY not in proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
