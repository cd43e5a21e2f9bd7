"""The dashboard killed with SIGKILL in a real terminal (tmux) while it dispatches: on restart in
the same home the local queue is as it was (held jobs held, in order, still paused), the job
that was running on ComfyUI is followed to its end with its output, and every job runs once."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from comfytui.core.processes import pid_alive
from comfytui.core.store.db import open_store
from harness.comfy import progress_prompt, unique_seed
from harness.tmux import TmuxSession
from tui_queue.conftest import runs_by_seed, write_flows
from tui_queue.test_tmux_queue import wait_runs

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.comfy, pytest.mark.tmux]


def local_rows(server: str) -> list[tuple[str, bool]]:
    """(label, held) of the local queue in run order, as the store (COMFYTUI_HOME) has it."""
    return [(j.label, j.held) for j in open_store().queue_rows(server) if j.state == "queued"]


def queue_pane_lines(screen: str) -> list[str]:
    """The lines of the Queue pane (the middle box of the top row: Workflows, Queue, Preview)."""
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if "Queue [2]" in line)
    out = []
    for line in lines[start + 1:]:
        if "╰" in line:
            break
        parts = line.split("││")
        if len(parts) >= 2:
            out.append(parts[1])
    return out


def queue_pane_order(screen: str, labels: list[str]) -> list[tuple[str, str]]:
    """(label, state column) of the Queue pane's rows that show one of ``labels``, top to bottom
    (a row reads ``glyph  position  state  [priority]  label  waiting``; toasts may overlap the pane)."""
    rows = []
    for line in queue_pane_lines(screen):
        match = re.search(r"^\s*\S\s+(?:run|\d+)\s+(running|pending|held|local|foreign)\s+(?:[▲▼]\s+)?(\S+)", line)
        if match and match.group(2) in labels:
            rows.append((match.group(2), match.group(1)))
    return rows


def test_held_jobs_and_the_running_job_survive_kill_9_of_the_dashboard(comfy_server_factory, comfytui_home: Path, tmp_path: Path) -> None:
    # a private server: the shared one lists other tests' outputs and saved workflows in the
    # Workflows pane, which would move the entries this test reaches with End/Up
    comfy_server = comfy_server_factory()
    flows = tmp_path / "flows"
    seeds = write_flows(flows, ["zq-a.json", "zq-b.json", "zq-c.json"], seconds=0.5)
    prefix = f"zqrun{unique_seed()}"
    run_prompt = progress_prompt(steps=40, delay=0.5, prefix=prefix)  # ~20 s, saves one image
    run_seed = run_prompt["1"]["inputs"]["seed"]
    (flows / "zq-run.json").write_text(json.dumps(run_prompt))
    config = tmp_path / "config.toml"
    config.write_text(f'[workflows]\ndirs = ["{flows}"]\n[queue]\ndispatch_depth = 0\n[ui]\nimage_protocol = "halfcell"\n')
    env = {"COMFYTUI_HOME": str(comfytui_home), "COMFYTUI_CONFIG": str(config), "TERM": "xterm-256color"}
    command = [str(REPO / ".venv" / "bin" / "comfytui"), "--url", comfy_server.url]

    first = TmuxSession(tmp_path / "tmux-1.sock", width=160, height=50)
    try:
        first.start(command, env)
        first.wait_for("● connected", timeout=60)
        first.wait_for("dispatch: this dashboard", timeout=20)
        first.keys("1", "End")  # zq-run.json, sorted last
        first.wait_for("zq-run.json")
        first.keys("r")  # not paused: it goes to ComfyUI at once
        deadline = time.monotonic() + 30
        running = []
        while time.monotonic() < deadline and not running:
            queue = httpx.get(f"{comfy_server.url}/queue", timeout=10).json()
            running = [q[1] for q in queue["queue_running"] if q[2].get("1", {}).get("inputs", {}).get("seed") == run_seed]
            time.sleep(0.2)
        assert len(running) == 1, "zq-run.json did not start on ComfyUI"
        run_id = running[0]
        first.keys("2", "p")
        first.wait_for("queue paused", timeout=10)
        first.keys("1", "End", "Up")  # zq-c
        first.keys("r")
        first.wait_for("1 local")
        first.keys("Up", "r")
        first.wait_for("2 local")
        first.keys("Up", "r")
        first.wait_for("3 local")  # local order: c, b, a (after the running zq-run)
        first.keys("2", "Home", "Down", "h")  # c held
        time.sleep(0.7)
        first.keys("Down", "Down", "h")  # a held
        time.sleep(0.7)
        server = comfy_server.url
        before = local_rows(server)
        screen = first.screen()
        assert queue_pane_order(screen, ["zq-c.json", "zq-b.json", "zq-a.json"]) == [
            ("zq-c.json", "held"), ("zq-b.json", "local"), ("zq-a.json", "held")
        ], "\n".join(queue_pane_lines(screen))
        assert run_id in [q[1] for q in httpx.get(f"{server}/queue", timeout=10).json()["queue_running"]], (
            "zq-run.json must still be running when the dashboard is killed"
        )
        pid = first.pane_pid
        assert "comfytui" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"), "the pane runs something else"
        os.kill(pid, signal.SIGKILL)
        # gone (or a zombie tmux has not reaped yet): tmux may close the pane before its status can be read
        deadline = time.monotonic() + 10
        while pid_alive(pid):
            assert time.monotonic() < deadline, "the dashboard survived SIGKILL"
            time.sleep(0.05)
    finally:
        first.kill()
    expected = [("zq-c.json", True), ("zq-b.json", False), ("zq-a.json", True)]
    assert before == expected, f"before the kill: {before}"
    assert local_rows(server) == expected, "the kill changed the local queue"

    second = TmuxSession(tmp_path / "tmux-2.sock", width=160, height=50)
    try:
        second.start(command, env)
        second.wait_for("● connected", timeout=60)
        second.wait_for("dispatch: this dashboard", timeout=30)  # the dead dashboard's lock is stale
        screen = second.wait_for("queue paused", timeout=10)
        assert queue_pane_order(screen, ["zq-c.json", "zq-b.json", "zq-a.json"]) == [
            ("zq-c.json", "held"), ("zq-b.json", "local"), ("zq-a.json", "held")
        ], "\n".join(queue_pane_lines(screen))
        # the job that was running when the dashboard died: shown running, followed to its end
        deadline = time.monotonic() + 10
        while ("zq-run.json", "running") not in queue_pane_order(screen, ["zq-run.json"]) and time.monotonic() < deadline:
            time.sleep(0.1)
            screen = second.screen()
        assert ("zq-run.json", "running") in queue_pane_order(screen, ["zq-run.json"]), "\n".join(queue_pane_lines(screen))
        # with its output
        screen = second.wait_for(prefix, timeout=60)
        line = next(line for line in screen.splitlines() if prefix in line)
        assert "success" in line, line
        row = open_store().get(run_id)
        assert row is not None and row.state == "success" and any(prefix in o[0] for o in row.outputs), row
        assert [seed for _, seed in runs_by_seed(server) if seed in seeds.values()] == [], "a job went out while paused"
        second.keys("2", "p")  # resume: b runs, the held ones do not
        second.wait_for("queue resumed", timeout=10)
        wait_runs(server, lambda r: seeds["zq-b.json"] in r, what="b to run")
        time.sleep(1.5)
        ran = [seed for _, seed in runs_by_seed(server)]
        assert seeds["zq-a.json"] not in ran and seeds["zq-c.json"] not in ran, "a held job was sent"
        second.keys("p")  # pause while releasing, so the rows stay put
        second.wait_for("queue paused", timeout=10)
        second.keys("Home", "h")
        time.sleep(0.7)
        second.keys("Down", "h")
        time.sleep(0.7)
        second.wait_gone("held", timeout=10)
        second.keys("p")
        second.wait_for("queue resumed", timeout=10)
        ran = wait_runs(server, lambda r: seeds["zq-a.json"] in r and seeds["zq-c.json"] in r, what="the released jobs to run")
        time.sleep(1.5)
        ran = [seed for _, seed in runs_by_seed(server) if seed in seeds.values()]
        assert ran == [seeds["zq-b.json"], seeds["zq-c.json"], seeds["zq-a.json"]], f"order or duplicates wrong: {ran}"
        history = httpx.get(f"{server}/history", params={"max_items": 500}, timeout=10).json()
        assert sum(1 for pid_ in history if pid_ == run_id) == 1
        assert sum(1 for e in history.values() if (e["prompt"][2].get("1") or {}).get("inputs", {}).get("seed") == run_seed) == 1, (
            "zq-run.json ran more than once"
        )
        second.keys("q")
        assert second.exit_status() == 0
    finally:
        second.kill()
