"""The first hour in a real terminal (tmux), keys only, on the real CPU ComfyUI: the form owns its
keys (a stray ``q`` or ``r`` never reaches the dashboard), and every pane is reachable at 80x24."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest

from harness.tmux import TmuxSession

REPO = Path(__file__).resolve().parents[2]
COMFYTUI = str(REPO / ".venv" / "bin" / "comfytui")
pytestmark = [pytest.mark.comfy, pytest.mark.tmux]


def start(tmp_path: Path, url: str, width: int, height: int) -> TmuxSession:
    session = TmuxSession(tmp_path / "tmux.sock", width=width, height=height)
    env = {"COMFYTUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"}
    session.start([COMFYTUI, "--url", url], env)
    return session


def server_prompts(url: str) -> list[dict]:
    """Every prompt the server holds: queued, running and in its history."""
    queue = httpx.get(f"{url}/queue").json()
    history = httpx.get(f"{url}/history", params={"max_items": 200}).json()
    queued = [item[2] for item in queue["queue_running"] + queue["queue_pending"]]
    return queued + [entry["prompt"][2] for entry in history.values()]


def test_form_keys_stay_in_the_form_q_asks_and_r_queues_the_edited_values(comfy_server, tmp_path: Path) -> None:
    seed = random.randint(10_000_000, 99_000_000)
    tmux = start(tmp_path, comfy_server.url, 120, 40)
    try:
        tmux.wait_for("● connected", timeout=60)
        tmux.wait_for("demo-progress.json")
        tmux.keys("e")  # the first bundled workflow: demo-progress.json
        tmux.wait_for("Queue (F10)", timeout=20)
        tmux.wait_for("Demo sampler")
        tmux.keys("Tab", "Tab", "Tab")  # focus starts on steps; then delay, fmt, seed
        time.sleep(0.5)  # an Input selects its text on focus: let that land before typing
        tmux.keys("C-u", *str(seed))
        tmux.keys("Tab", "Tab", "Tab", "Tab", "Tab", "Tab")  # blur_radius, sigma, prefix, count, seed mode, front
        time.sleep(0.5)
        assert not any(p.get("1", {}).get("inputs", {}).get("seed") == seed for p in server_prompts(comfy_server.url))
        tmux.keys("q")  # on the "at the front" checkbox: used to quit the app and lose the edit
        tmux.wait_for("lose your edits", timeout=10)
        tmux.keys("n")
        screen = tmux.wait_gone("lose your edits", timeout=10)
        assert "Queue (F10)" in screen, "n must go back to the form"
        assert tmux.exit_status(timeout=0.5) is None, "q quit the app"
        tmux.keys("r")  # on the checkbox: queue what the form shows (used to queue the unedited file)
        deadline = time.monotonic() + 60
        ours: list[dict] = []
        while time.monotonic() < deadline and not ours:
            ours = [p for p in server_prompts(comfy_server.url) if p.get("1", {}).get("inputs", {}).get("seed") == seed]
            time.sleep(0.3)
        assert ours, f"the server never received seed {seed} from the form"
        tmux.wait_for("Workflows [1]", timeout=10)  # the form closed after queueing
        tmux.keys("q")
        assert tmux.exit_status() == 0
    finally:
        tmux.kill()


def maximize_and_restore(tmux: TmuxSession, title: str, *focus_keys: str) -> str:
    """Focus a pane (``focus_keys``), ``z`` maximizes it (the other panes go), ``z`` restores;
    the maximized screen."""
    tmux.keys(*focus_keys, "z")
    screen = tmux.wait_gone("Workflows [1]", timeout=10)
    assert title in screen
    tmux.keys("z")
    tmux.wait_for("Workflows [1]", timeout=10)
    return screen


def test_every_pane_is_reachable_at_80x24_by_its_key(comfy_server, tmp_path: Path) -> None:
    tmux = start(tmp_path, comfy_server.url, 80, 24)
    try:
        screen = tmux.wait_for("● connected", timeout=60)
        assert "Preview [5]" not in screen, "at 80 columns the Preview has no room beside the queue"
        for key, title in (("1", "Workflows [1]"), ("2", "Queue [2]"), ("3", "History"), ("4", "Logs [4]"), ("6", "Devices [6]")):
            tmux.keys(key)
            assert title in tmux.wait_for(title, timeout=10)
        tmux.keys("5")  # no room: shown maximized
        screen = tmux.wait_for("Preview [5]", timeout=10)
        assert "Workflows [1]" not in screen, "the Preview should fill the screen"
        tmux.keys("Escape")
        screen = tmux.wait_for("Workflows [1]", timeout=10)
        assert "Preview [5]" not in screen
        maximize_and_restore(tmux, "Logs [4]", "4")
        tmux.keys("C-p")  # the palette finds it by the word a user types
        tmux.wait_for("Search for commands", timeout=10)
        tmux.keys(*"maximize")
        tmux.wait_for("maximize or restore the focused pane", timeout=10)
        tmux.keys("Escape")
        tmux.wait_gone("Search for commands", timeout=10)  # the dashboard shows behind the palette
        tmux.keys("q")
        assert tmux.exit_status() == 0
    finally:
        tmux.kill()


def test_keys_typed_in_the_first_instant_are_kept_or_ignored_never_a_crash(comfy_server, tmp_path: Path) -> None:
    """In a real terminal the heavy panes mount just after the first frame: a pane key typed before
    they exist is applied once they do, and other keys are ignored, not a traceback."""
    tmux = start(tmp_path, comfy_server.url, 120, 40)
    try:
        deadline = time.monotonic() + 30
        while "comfytui" not in tmux.screen():  # the first frame: the header
            assert time.monotonic() < deadline, "no first frame"
            time.sleep(0.005)
        tmux.keys("c", "i", "3")
        tmux.wait_for("● connected", timeout=60)
        tmux.wait_for("History [3]", timeout=10)
        screen = maximize_and_restore(tmux, "History [3]")  # the focused pane: History, focused by the early "3"
        assert "Traceback" not in screen
        maximize_and_restore(tmux, "Queue [2]", "2")  # the Queue pane maximizes too
        tmux.keys("q")
        assert tmux.exit_status() == 0
    finally:
        tmux.kill()
