"""``comfytui gpu`` and ``comfytui free`` as a user runs them, against the real CPU ComfyUI.

NVML is really absent on the CI machines, so ``gpu`` shows the reason and the server's devices;
the tests that need that absence skip where a real NVIDIA driver answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_nvml import real_nvml_initialises

pytestmark = pytest.mark.comfy
needs_no_nvml = pytest.mark.skipif(real_nvml_initialises(), reason="a real NVIDIA driver answers here")

COMFYTUI = str(Path(sys.executable).with_name("comfytui"))
REASON = "NVML unavailable: NVML Shared Library Not Found (no NVIDIA driver on this machine)"


def run(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMFYTUI_HOME": str(home)}
    env.pop("COMFY_API_URL", None)
    return subprocess.run([COMFYTUI, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


@needs_no_nvml
def test_gpu_without_nvml_shows_reason_and_server_devices(comfy_server, tmp_path: Path) -> None:
    proc = run("gpu", "--url", comfy_server.url, home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert REASON in proc.stdout
    assert f"Server {comfy_server.url}: ComfyUI 0.3.75" in proc.stdout
    assert "cpu" in proc.stdout and "TORCH VRAM FREE / TOTAL" in proc.stdout


@needs_no_nvml
def test_gpu_json(comfy_server, tmp_path: Path) -> None:
    proc = run("gpu", "--url", comfy_server.url, "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["nvml"] == {**data["nvml"], "available": False, "reason": REASON, "gpus": []}
    server = data["server"]
    assert server["ok"] is True and server["url"] == comfy_server.url
    stats = server["system_stats"]
    assert stats["comfyui_version"] == "0.3.75"
    assert "--cpu" in stats["argv"]
    (device,) = stats["devices"]
    assert device["type"] == "cpu" and device["vram_total"] > 0 and device["torch_vram_free"] > 0


def test_gpu_watch_json_lines(comfy_server, tmp_path: Path) -> None:
    proc = run("gpu", "--url", comfy_server.url, "--json", "--watch", "--interval", "0.1", "--count", "3",
               home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3
    assert all(json.loads(line)["server"]["ok"] for line in lines)


@needs_no_nvml
def test_gpu_without_nvml_or_server_exits_3(tmp_path: Path) -> None:
    proc = run("gpu", "--url", "http://127.0.0.1:9", "--timeout", "2", home=tmp_path)
    assert proc.returncode == 3
    assert REASON in proc.stdout
    assert "cannot reach ComfyUI at http://127.0.0.1:9" in proc.stdout


def test_free_json_reports_before_and_after(comfy_server, tmp_path: Path) -> None:
    proc = run("free", "--url", comfy_server.url, "--yes", "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["request"] == {"unload_models": True, "free_memory": True}
    assert data["status"] == 200 and data["reply"] == ""
    (device,) = data["devices"]
    assert device["device"] == "cpu"
    for key in ("vram_free_before", "vram_free_after", "torch_vram_free_before", "torch_vram_free_after"):
        assert isinstance(device[key], int) and device[key] > 0
    assert data["ram_free_before"] > 0 and data["ram_free_after"] > 0


def test_free_unload_models_only_plain_text(comfy_server, tmp_path: Path) -> None:
    # stdin is not a terminal: no question is asked even without --yes
    proc = run("free", "--url", comfy_server.url, "--unload-models", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f'POST {comfy_server.url}/free {{"unload_models": true, "free_memory": false}}: HTTP 200' in proc.stdout
    assert "VRAM FREE BEFORE -> AFTER" in proc.stdout and "RAM free:" in proc.stdout


def test_free_unreachable_exits_3(tmp_path: Path) -> None:
    proc = run("free", "--url", "http://127.0.0.1:9", "--yes", "--timeout", "2", home=tmp_path)
    assert proc.returncode == 3
    assert "cannot reach ComfyUI" in proc.stderr
