"""``comfytui run`` as a user or a script runs it: a real subprocess against the real CPU ComfyUI."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness.comfy import unique_seed
from harness.ports import free_port

pytestmark = pytest.mark.comfy

REPO = Path(__file__).resolve().parents[2]
COMFYTUI = Path(sys.executable).with_name("comfytui")
BLUR = REPO / "workflows" / "image-blur.json"
DEMO = REPO / "workflows" / "demo-progress.json"


def run(*args: str | Path, home: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    return subprocess.run(
        [str(COMFYTUI), "run", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL, cwd=home,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_run_wait_json_downloads_a_png(comfy_server, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run(BLUR, "--url", comfy_server.url, "--wait", "--json", "--out", out,
               "--set", f"1.color={unique_seed() % 0xFFFFFF}", home=home)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "success"
    (job,) = result["jobs"]
    assert job["status"] == "success" and job["prompt_id"] == result["prompt_ids"][0]
    (saved,) = job["outputs"]
    saved = Path(saved)
    assert saved.is_file() and saved.is_relative_to(out)
    assert png_size(saved) == (256, 256)
    assert job["server_outputs"][0]["subfolder"] == "comfytui" and job["server_outputs"][0]["node"] == "3"
    assert "queued " + job["prompt_id"] in proc.stderr, "progress goes to stderr, not stdout"


def test_set_by_node_id_and_by_title_changes_the_output(comfy_server, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run(BLUR, "--url", comfy_server.url, "--wait", "--json", "--out", out,
               "--set", "1.width=96", "--set", "Empty Image.height=40",
               "--set", f"Empty Image.color={unique_seed() % 0xFFFFFF}", home=home)
    assert proc.returncode == 0, proc.stderr
    (saved,) = json.loads(proc.stdout)["jobs"][0]["outputs"]
    assert png_size(Path(saved)) == (96, 40)


def test_unknown_node_class_is_bad_input_naming_node_and_class(comfy_server, home: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "unknown.json"
    workflow.write_text(json.dumps({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "7": {"class_type": "FancyUpscalerThatIsNotInstalled", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "x"}},
    }))
    proc = run(workflow, "--url", comfy_server.url, "--wait", home=home)
    assert proc.returncode == 2, proc.stderr
    assert "node 7" in proc.stderr and "FancyUpscalerThatIsNotInstalled" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_json_syntax_error_is_bad_input_naming_line_and_column(comfy_server, home: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "broken.json"
    workflow.write_text('{\n  "1": {"class_type": "EmptyImage",\n         "inputs": {"width": 8,, "height": 8}}\n}\n')
    proc = run(workflow, "--url", comfy_server.url, "--wait", home=home)
    assert proc.returncode == 2, proc.stderr
    assert f"{workflow}:3:" in proc.stderr, proc.stderr
    line_col = proc.stderr.split(f"{workflow}:", 1)[1].split(":")[:2]
    assert line_col == ["3", "32"], proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_url_exits_3_naming_it(home: Path) -> None:
    port = free_port()  # nothing listens there
    proc = run(BLUR, "--url", f"http://127.0.0.1:{port}", "--wait", home=home)
    assert proc.returncode == 3
    assert f"http://127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_failing_job_exits_1_with_node_and_message(comfy_server, home: Path, tmp_path: Path) -> None:
    message = f"the disk is full {unique_seed()}"
    workflow = tmp_path / "fail.json"
    workflow.write_text(json.dumps({
        "4": {"class_type": "ComfyTUIFail", "inputs": {"message": message, "fail": True}, "_meta": {"title": "Exploder"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }))
    proc = run(workflow, "--url", comfy_server.url, "--wait", "--json", home=home)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "error"
    error = result["jobs"][0]["error"]
    assert (error["node_id"], error["node_type"], error["exception_message"]) == ("4", "ComfyTUIFail", message)
    assert "node 4 (Exploder)" in proc.stderr and message in proc.stderr


def test_count_with_increment_queues_consecutive_seeds(comfy_server, home: Path) -> None:
    seed = unique_seed()
    proc = run(DEMO, "--url", comfy_server.url, "--wait", "--json", "--no-download",
               "--count", "3", "--seed-mode", "increment",
               "--set", f"1.seed={seed}", "--set", "1.steps=2", "--set", "1.delay=0", home=home)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "success" and len(result["prompt_ids"]) == 3
    assert all(job["outputs"] == [] and job["server_outputs"] for job in result["jobs"]), "--no-download"
    seeds = []
    for pid in result["prompt_ids"]:
        entry = httpx.get(f"{comfy_server.url}/history/{pid}", timeout=10).json()[pid]
        seeds.append(entry["prompt"][2]["1"]["inputs"]["seed"])
        assert entry["prompt"][3]["client_id"].startswith("comfytui-")
    assert seeds == [seed, seed + 1, seed + 2]


def test_without_wait_prints_the_queued_ids(comfy_server, home: Path) -> None:
    proc = run(DEMO, "--url", comfy_server.url, "--json", "--set", f"1.seed={unique_seed()}",
               "--set", "1.steps=1", "--set", "1.delay=0", home=home)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "queued" and len(result["prompt_ids"]) == 1


def test_ctrl_c_during_wait_cancels_every_job_this_run_queued(comfy_server, home: Path, tmp_path: Path) -> None:
    import signal
    import time

    from harness.comfy import sleep_prompt

    workflow = tmp_path / "slow.json"
    workflow.write_text(json.dumps(sleep_prompt(20.0)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    proc = subprocess.Popen(
        [str(COMFYTUI), "run", str(workflow), "--url", comfy_server.url, "--count", "3", "--wait"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL, cwd=home,
    )
    try:
        ids: list[str] = []
        assert proc.stderr is not None
        while len(ids) < 3:
            line = proc.stderr.readline()
            assert line, f"comfytui run ended before queueing three jobs (exit {proc.poll()})"
            if line.startswith("comfytui: queued "):
                ids.append(line.split()[2])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # interrupt while one of ours runs and two wait
            running = httpx.get(comfy_server.url + "/queue", timeout=10).json()["queue_running"]
            if any(item[1] in ids for item in running):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest
    assert "cancelled this run's jobs" in rest
    deadline = time.monotonic() + 20
    while True:  # an interrupt takes effect at the node's next check
        queue = httpx.get(comfy_server.url + "/queue", timeout=10).json()
        left = [item[1] for item in queue["queue_running"] + queue["queue_pending"] if item[1] in ids]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left == [], "none of the three jobs is pending or running any more"



def test_run_wait_keeps_results_and_leaves_preview_temp_files(comfy_server, home: Path, tmp_path: Path) -> None:
    """PreviewImage writes throwaway "temp" files: they are listed as server outputs, never downloaded."""
    flow = tmp_path / "save-and-preview.json"
    flow.write_text(json.dumps({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": 1,
                                                      "color": unique_seed() % 0xFFFFFF}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "kept"}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }))
    out = tmp_path / "out"
    proc = run(flow, "--url", comfy_server.url, "--wait", "--json", "--out", out, home=home)
    assert proc.returncode == 0, proc.stderr
    (job,) = json.loads(proc.stdout)["jobs"]
    assert sorted(o["type"] for o in job["server_outputs"]) == ["output", "temp"]
    (saved,) = job["outputs"]
    assert Path(saved).name.startswith("kept") and png_size(Path(saved)) == (32, 16)
    assert sorted(p.name for p in out.rglob("*.png")) == [Path(saved).name]
