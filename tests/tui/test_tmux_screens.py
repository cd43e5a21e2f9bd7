"""The full-screen views in a real terminal (tmux 120x40), keys only, on the real CPU ComfyUI."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import time
import uuid
from pathlib import Path

import pytest

from harness.tmux import TmuxSession

REPO = Path(__file__).resolve().parents[2]
COMFYTUI = str(REPO / ".venv" / "bin" / "comfytui")
pytestmark = [pytest.mark.comfy, pytest.mark.tmux]


def write_safetensors(path: Path, metadata: dict[str, str]) -> None:
    header = {"__metadata__": metadata, "model.diffusion_model.w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\x00" * 8)


def test_model_browser_filters_shows_metadata_and_hashes_a_large_file_while_responding(
    tmux: TmuxSession, comfy_server, tmp_path: Path
) -> None:
    token = f"tmux{uuid.uuid4().hex[:8]}"
    folder = comfy_server.base / "models" / "checkpoints" / token
    folder.mkdir(parents=True)
    try:
        write_safetensors(folder / "a-small.safetensors", {"modelspec.title": f"title-{token}"})
        big = folder / "b-big.ckpt"
        with open(big, "wb") as handle:  # sparse: quick to make, seconds to hash
            handle.truncate(8 * 1024**3)  # about 10 s of hashing here: long enough to watch
        expected = hashlib.sha256()
        with open(big, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 24), b""):
                expected.update(chunk)
        env = {"COMFYTUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"}
        tmux.start([COMFYTUI, "--url", comfy_server.url], env)
        tmux.wait_for("● connected", timeout=60)
        tmux.keys("m")
        tmux.wait_for("files · sort: name", timeout=30)
        tmux.keys("/")
        tmux.wait_for("filter: every word must match", timeout=10)  # type only once the box has focus
        for char in token:
            tmux.keys(char)
        tmux.keys("Enter")
        screen = tmux.wait_for(f"filter: {token}", timeout=10)
        assert "2 of" in screen, screen
        tmux.keys("Enter")  # details of the first row: the header read from the file
        screen = tmux.wait_for(f"title-{token}", timeout=10)
        assert "tensors: 1 (F16 1)" in screen
        tmux.keys("Down", "h")
        screen = tmux.wait_for("hashing…", timeout=10)
        tmux.keys("3")  # the UI answers during the hash: sort by date
        screen = tmux.wait_for("sort: date", timeout=5)
        assert "hashing…" in screen, "the hash finished before the UI answered: not a responsiveness check"
        assert re.search(r"━.*\d+%", screen), "no progress bar while hashing"
        # the digest shows in the details pane once the hash is done (the pane may wrap it)
        tmux.wait_for(expected.hexdigest()[:24], timeout=180)
        tmux.keys("Escape")
        tmux.wait_for("Workflows [1]", timeout=10)
        tmux.keys("q")
        assert tmux.exit_status() == 0
    finally:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()


def test_workflow_form_flags_out_of_range_then_queues_three_consecutive_seeds(
    tmux: TmuxSession, comfy_server, tmp_path: Path
) -> None:
    import random

    import httpx

    seed = random.randint(10_000_000, 99_000_000)
    prefix = f"tmux{uuid.uuid4().hex[:6]}"
    env = {"COMFYTUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"}
    tmux.start([COMFYTUI, "--url", comfy_server.url], env)
    tmux.wait_for("● connected", timeout=60)
    tmux.wait_for("demo-progress.json")
    tmux.keys("e")  # the first bundled workflow is selected: demo-progress.json
    tmux.wait_for("Queue (F10)", timeout=20)
    tmux.wait_for("Demo sampler")
    # focus starts on the first field, Demo sampler's steps (1..1000)
    tmux.keys("C-u", "5", "0", "0", "0")
    screen = tmux.wait_for("⚠", timeout=10)
    history_before = set(httpx.get(f"{comfy_server.url}/history", params={"max_items": 200}).json())
    tmux.keys("F10")
    time.sleep(1.0)
    # Nothing reached the server: no new history entry and nothing queued or running.
    history_after = set(httpx.get(f"{comfy_server.url}/history", params={"max_items": 200}).json())
    queue = httpx.get(f"{comfy_server.url}/queue").json()
    assert history_after == history_before, "F10 with an out-of-range value queued a job"
    assert queue["queue_running"] == [] and queue["queue_pending"] == [], "F10 with an out-of-range value queued a job"
    assert "⚠" in tmux.screen(), "the out-of-range value is no longer flagged"
    tmux.keys("C-u", "6")  # steps back in range
    tmux.wait_gone("⚠", timeout=10)
    # An Input selects its text when it gets focus; let that land before typing over it.
    tmux.keys("Tab", "Tab", "Tab")  # delay, fmt, seed
    time.sleep(0.5)
    tmux.keys("C-u", *str(seed))
    tmux.keys("Tab", "Tab", "Tab")  # blur_radius, sigma, filename_prefix: a text
    time.sleep(0.5)
    tmux.keys("C-u", *prefix)
    tmux.keys("Tab")  # count
    time.sleep(0.5)
    tmux.keys("C-u", "3")
    tmux.keys("Tab", "Enter", "Down", "Enter")  # seed mode: fixed -> increment
    screen = tmux.wait_for("increment", timeout=10)
    tmux.keys("F10")
    deadline = time.monotonic() + 90
    seeds: list[int] = []
    while time.monotonic() < deadline:
        history = httpx.get(f"{comfy_server.url}/history", params={"max_items": 200}).json()
        ours = [
            entry
            for entry in history.values()
            if (entry["prompt"][2].get("3") or {}).get("inputs", {}).get("filename_prefix") == prefix
        ]
        seeds = sorted(entry["prompt"][2]["1"]["inputs"]["seed"] for entry in ours)
        if len(ours) == 3 and all(entry["status"]["status_str"] == "success" for entry in ours):
            break
        time.sleep(0.5)
    assert seeds == [seed, seed + 1, seed + 2], seeds
    assert all(entry["prompt"][2]["1"]["inputs"]["steps"] == 6 for entry in ours)
    # The form closes itself once the batch is queued. No Escape here: on the dashboard it changes
    # nothing to wait for, and an Escape read together with the next key is alt+key (q lost).
    screen = tmux.wait_for("Workflows [1]", timeout=10)
    assert "#3/3" in screen or "×3" in screen, "the batch is not shown in the panes"
    tmux.keys("q")
    assert tmux.exit_status() == 0
