"""The queue manager in a real terminal (tmux) against the real CPU ComfyUI, keys only: pause,
move, priority, hold, cancel, release and requeue, checked against what ComfyUI ran."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.tmux import TmuxSession
from tui_queue.conftest import runs_by_seed, write_flows

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.comfy, pytest.mark.tmux]


@pytest.fixture
def tmux(tmp_path: Path):
    session = TmuxSession(tmp_path / "tmux.sock", width=160, height=50)
    yield session
    session.kill()


def wait_runs(url: str, predicate, timeout: float = 60.0, what: str = "") -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ran = [seed for _, seed in runs_by_seed(url)]
        if predicate(ran):
            return ran
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: ComfyUI ran {ran}")


def test_pause_move_priority_hold_cancel_release_and_requeue_from_the_keyboard(tmux: TmuxSession, comfy_server_factory, tmp_path: Path) -> None:
    # a private server: the shared one lists other tests' outputs and saved workflows in the
    # Workflows pane, which would move the entries this test reaches with End/Up
    comfy_server = comfy_server_factory()
    flows = tmp_path / "flows"
    seeds = write_flows(flows, ["zq-a.json", "zq-b.json", "zq-c.json"], seconds=0.5)
    config = tmp_path / "config.toml"
    config.write_text(f'[workflows]\ndirs = ["{flows}"]\n[queue]\ndispatch_depth = 0\n[ui]\nimage_protocol = "halfcell"\n')
    env = {"COMFYTUI_HOME": str(tmp_path / "home"), "COMFYTUI_CONFIG": str(config), "TERM": "xterm-256color"}
    tmux.start([str(REPO / "scripts" / "run"), "--url", comfy_server.url], env)
    tmux.wait_for("● connected", timeout=60)
    tmux.wait_for("dispatch: this dashboard", timeout=20)
    tmux.keys("2", "p")
    tmux.wait_for("queue paused", timeout=10)
    tmux.keys("1", "End")
    tmux.wait_for("zq-c.json")
    tmux.keys("r")
    tmux.wait_for("1 local")
    tmux.keys("Up", "r")
    tmux.wait_for("2 local")
    tmux.keys("Up", "r")
    tmux.wait_for("3 local")  # local order: c, b, a
    tmux.keys("2", "J")  # c down: b, c, a
    time.sleep(0.5)
    tmux.keys("J")  # b, a, c
    time.sleep(0.5)
    tmux.keys("t")  # c to the top: c, b, a
    time.sleep(0.5)
    tmux.keys("Down", "Down", "+")  # a high: a, c, b
    time.sleep(0.5)
    tmux.keys("Down", "h")  # c held
    tmux.wait_for("held")
    tmux.keys("Down", "c")  # b cancelled
    tmux.wait_for("cancelled zq-b.json")
    tmux.keys("p")  # resume
    tmux.wait_for("queue resumed")
    ran = wait_runs(comfy_server.url, lambda r: seeds["zq-a.json"] in r, what="a (high priority) to run")
    time.sleep(1.5)
    ran = [seed for _, seed in runs_by_seed(comfy_server.url)]
    assert seeds["zq-c.json"] not in ran, "the held job was sent"
    assert seeds["zq-b.json"] not in ran, "the cancelled job was sent"
    screen = tmux.wait_for("held")
    assert "zq-c.json" in screen
    tmux.keys("h")  # the only row left: release c
    ran = wait_runs(comfy_server.url, lambda r: seeds["zq-c.json"] in r, what="c to run once released")
    assert ran.index(seeds["zq-a.json"]) < ran.index(seeds["zq-c.json"])
    assert seeds["zq-b.json"] not in ran
    tmux.keys("3")  # History: the newest (c) is selected
    time.sleep(1.0)
    tmux.keys("R")
    tmux.wait_for("identical to job", timeout=20)  # the same prompt: ComfyUI answers from its cache
    wait_runs(comfy_server.url, lambda r: r.count(seeds["zq-c.json"]) == 2, what="the requeued job")
    tmux.keys("q")
    assert tmux.exit_status() == 0
