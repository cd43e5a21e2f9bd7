"""``comfytui workflow convert|list`` and ``comfytui run`` on editor JSON and PNGs, as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from comfytui.core.workflows.pnginfo import read_image_metadata
from harness.comfy import unique_seed

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "workflow" / "fixtures"
COMFYTUI = Path(sys.executable).parent / "comfytui"


def comfytui(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMFYTUI), *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**os.environ, "COMFY_API_URL": "http://127.0.0.1:9"},  # only explicit --url reaches a server
    )


def test_convert_offline_with_object_info(comfytui_home):
    proc = comfytui("workflow", "convert", str(FIXTURES / "acceptance.json"), "--object-info", str(FIXTURES / "object_info.json"))
    assert proc.returncode == 0, proc.stderr
    prompt = json.loads(proc.stdout)
    assert {"1", "4:20", "4:21", "6", "8", "9"} <= set(prompt)
    assert "3" not in prompt and "7" not in prompt  # bypassed and muted
    assert prompt["6"]["inputs"]["filename_prefix"] == "comfytui/accept"  # from the PrimitiveNode
    assert prompt["4:21"]["_meta"]["title"] == "Upscale Image"

    proc = comfytui("workflow", "convert", str(FIXTURES / "acceptance.json"), "--object-info", str(FIXTURES / "object_info.json"),
                    "--set", "ComfyTUIProgress.seed=42", "--compact")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["8"]["inputs"]["seed"] == 42
    assert "\n" not in proc.stdout.strip()


def test_convert_refuses_bad_input_with_exit_2(comfytui_home, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [1, 2')
    proc = comfytui("workflow", "convert", str(bad), "--object-info", str(FIXTURES / "object_info.json"))
    assert proc.returncode == 2
    assert f"{bad}:1:" in proc.stderr
    proc = comfytui("workflow", "convert", str(bad), "--object-info", str(bad), "--url", "http://127.0.0.1:9")
    assert proc.returncode == 2 and "either --url or --object-info" in proc.stderr
    proc = comfytui("workflow", "convert", str(FIXTURES / "acceptance.json"), "--url", "http://127.0.0.1:9")
    assert proc.returncode == 3 and "cannot reach ComfyUI" in proc.stderr


@pytest.mark.comfy
def test_convert_with_the_server_and_check(comfy_server, comfytui_home, tmp_path):
    proc = comfytui("workflow", "convert", str(FIXTURES / "acceptance.json"), "--url", comfy_server.url, "--check")
    assert proc.returncode == 0, proc.stderr
    offline = comfytui("workflow", "convert", str(FIXTURES / "acceptance.json"), "--object-info", str(FIXTURES / "object_info.json"))
    assert json.loads(proc.stdout) == json.loads(offline.stdout)

    prompt = json.loads((REPO / "workflows" / "demo-progress.json").read_text())
    prompt["7"] = {"class_type": "NoSuchNodeType", "inputs": {}, "_meta": {"title": "Mystery"}}
    mystery = tmp_path / "mystery.json"
    mystery.write_text(json.dumps(prompt))
    proc = comfytui("workflow", "convert", str(mystery), "--url", comfy_server.url, "--check")
    assert proc.returncode == 2
    assert "node 7 (Mystery): unknown node type 'NoSuchNodeType'" in proc.stderr


@pytest.mark.comfy
def test_list_shows_bundled_user_and_server_saved_workflows(comfy_server, comfytui_home, tmp_path):
    name = f"cli-tests/editor-{unique_seed()}.json"
    route = "/userdata/" + urllib.parse.quote(f"workflows/{name}", safe="") + "?overwrite=true"
    request = urllib.request.Request(comfy_server.url + route, data=(FIXTURES / "acceptance.json").read_bytes(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    proc = comfytui("workflow", "list", "--json", "--url", comfy_server.url, "--images", "0")
    assert proc.returncode == 0, proc.stderr
    entries = {(e["source"], e["name"]): e for e in json.loads(proc.stdout)}
    demo = entries[("bundled", "demo-progress.json")]
    assert (demo["format"], demo["nodes"]) == ("api", 3)
    assert "ComfyTUIProgress" in demo["node_types"]
    saved = entries[("server", name)]
    assert (saved["format"], saved["nodes"], saved["remote"]) == ("editor", 10, name)
    assert entries[("bundled", "txt2img-sd15.json")]["models"] == ["v1-5-pruned-emaonly.safetensors"]

    table = comfytui("workflow", "list", "--url", comfy_server.url, "--images", "0")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == ["SOURCE", "FORMAT", "NODES", "NAME", "MODIFIED", "NEEDS"]
    assert any(line.split()[:3] == ["server", "editor", "10"] for line in table.stdout.splitlines())

    down = comfytui("workflow", "list", "--json", "--url", "http://127.0.0.1:9")
    assert down.returncode == 0 and "cannot reach ComfyUI" in down.stderr
    assert ("bundled", "demo-progress.json") in {(e["source"], e["name"]) for e in json.loads(down.stdout)}


@pytest.mark.comfy
def test_run_reruns_the_prompt_embedded_in_a_png_the_server_made(comfy_server, comfytui_home, tmp_path):
    sigma = 1 + (unique_seed() % 900) / 1000
    first = comfytui("run", str(REPO / "workflows" / "image-blur.json"), "--url", comfy_server.url, "--wait", "--json",
                     "--out", str(tmp_path / "one"), "--set", f"Blur.sigma={sigma}")
    assert first.returncode == 0, first.stderr
    png = Path(json.loads(first.stdout)["jobs"][0]["outputs"][0])
    assert png.suffix == ".png"
    embedded = read_image_metadata(png).prompt
    assert embedded["2"]["inputs"]["sigma"] == sigma

    # as is, and with an input changed by node title
    again = comfytui("run", str(png), "--url", comfy_server.url, "--wait", "--json", "--out", str(tmp_path / "two"),
                     "--set", "Blur.blur_radius=6")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["status"] == "success"
    rerun = read_image_metadata(Path(result["jobs"][0]["outputs"][0])).prompt
    assert rerun["2"]["inputs"] == {**embedded["2"]["inputs"], "blur_radius": 6}
    assert rerun["1"] == embedded["1"]
