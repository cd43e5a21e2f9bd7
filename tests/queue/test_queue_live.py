"""The local queue end to end: ``comfytui daemon`` as a real subprocess, ``run`` / ``queue`` /
``wait`` / ``history`` as real commands, against the real CPU ComfyUI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from _cli import Daemon, cli, cli_json

from harness.comfy import progress_prompt, sleep_prompt, unique_seed

pytestmark = pytest.mark.comfy


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def workflow(tmp_path: Path, prompt: dict, name: str = "wf.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(prompt))
    return path


def execution_start(url: str, prompt_id: str) -> float:
    entry = httpx.get(f"{url}/history/{prompt_id}", timeout=10).json()[prompt_id]
    (start,) = [m[1]["timestamp"] for m in entry["status"]["messages"] if m[0] == "execution_start"]
    return start


def server_queue_ids(url: str) -> set[str]:
    queue = httpx.get(f"{url}/queue", timeout=10).json()
    return {item[1] for item in queue["queue_running"] + queue["queue_pending"]}


def test_paused_queue_reorder_resume_wait_collect_requeue_and_foreign_history(comfy_server, home, tmp_path) -> None:
    url = comfy_server.url
    # Another comfytui process's own job, finished on this server before the daemon starts (its
    # client id says comfytui-, it never went through this queue): that process downloads it, the
    # daemon must not collect it when it resyncs the server's history.
    other = progress_prompt(steps=1, delay=0.0, seed=unique_seed(), prefix="other_comfytui")
    posted = httpx.post(f"{url}/prompt", json={"prompt": other, "client_id": "comfytui-another-process"}, timeout=10)
    other_id = posted.json()["prompt_id"]
    deadline = time.monotonic() + 20
    while other_id not in httpx.get(f"{url}/history/{other_id}", timeout=10).json():
        assert time.monotonic() < deadline, "the other process's job did not finish"
        time.sleep(0.2)
    daemon = Daemon(url, home).start()
    try:
        assert cli("queue", "pause", "--url", url, home=home).returncode == 0
        wf = workflow(tmp_path, progress_prompt(steps=3, delay=0.05, seed=unique_seed(), prefix="queue_live"))
        queued = cli_json("run", wf, "--url", url, "--count", "3", "--seed-mode", "increment", home=home)
        first, second, third = ids = queued["prompt_ids"]
        assert len(set(ids)) == 3
        listed = cli_json("queue", "ls", "--url", url, home=home)
        assert [j["id"] for j in listed["jobs"]] == ids and all(j["state"] == "queued" for j in listed["jobs"])
        time.sleep(1.0)  # a paused queue sends nothing, even given time
        assert not server_queue_ids(url) & set(ids)

        assert cli("queue", "move", third[:8], "--top", "--url", url, home=home).returncode == 0
        assert [j["id"] for j in cli_json("queue", "ls", "--url", url, home=home)["jobs"]] == [third, first, second]
        assert cli("queue", "resume", "--url", url, home=home).returncode == 0

        done = cli_json("wait", *ids, "--url", url, home=home, timeout=120)
        assert done["status"] == "success", done
        starts = {pid: execution_start(url, pid) for pid in ids}
        assert starts[third] < starts[first] < starts[second], "the job moved to the top ran first"

        # The daemon collected each output once, with a sidecar naming its job.
        outputs = home / "data" / "outputs"
        deadline = time.monotonic() + 10
        while len(list(outputs.rglob("*.png"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        pngs = sorted(outputs.rglob("*.png"))
        assert len(pngs) == 3, pngs
        sidecars = {json.loads(p.with_name(p.name + ".json").read_text())["job_id"] for p in pngs}
        assert sidecars == set(ids)
        assert all(p.parent.parent == outputs and p.name.split("-")[-2] in {i[:8] for i in ids} for p in pngs)

        # Requeue as it was: a new id that succeeds; the same image is not collected twice.
        again = cli_json("history", "requeue", first[:8], "--url", url, home=home)
        assert again["id"] not in ids and again["requeued_from"] == first and again["mode"] == "queued"
        assert cli_json("wait", again["id"], "--url", url, home=home, timeout=60)["status"] == "success"
        time.sleep(1.0)
        assert len(list(outputs.rglob("*.png"))) == 3, "same content, same file"

        # A foreign job that finishes in well under a second reaches the history within 3 s.
        foreign = httpx.post(f"{url}/prompt", json={"prompt": sleep_prompt(0.05), "client_id": "curl-user"}, timeout=10)
        foreign_id = foreign.json()["prompt_id"]
        deadline = time.monotonic() + 3.0
        seen = []
        while time.monotonic() < deadline:
            seen = [j for j in cli_json("history", "ls", "--limit", "20", home=home) if j["id"] == foreign_id]
            if seen:
                break
            time.sleep(0.2)
        assert seen and seen[0]["foreign"] and seen[0]["state"] == "success", "foreign job not in history within 3 s"

    finally:
        daemon.stop()
    assert "Traceback" not in daemon.log.read_text()


def test_held_jobs_survive_kill9_and_jobs_wait_out_a_stopped_server(comfy_server_factory, home, tmp_path) -> None:
    server = comfy_server_factory()
    url = server.url
    daemon = Daemon(url, home).start()
    try:
        assert cli("queue", "pause", "--url", url, home=home).returncode == 0
        wf = workflow(tmp_path, sleep_prompt(0.2))
        ids = cli_json("run", wf, "--url", url, "--count", "3", "--seed-mode", "increment", home=home)["prompt_ids"]
        for pid in ids[:2]:
            assert cli("queue", "hold", pid[:8], "--url", url, home=home).returncode == 0
        daemon.kill9()
        daemon = Daemon(url, home).start()  # the dead holder's lock is stale: taken over at once
        rows = cli_json("queue", "ls", "--url", url, home=home)["jobs"]
        assert [(r["id"], r["held"]) for r in rows] == [(ids[0], True), (ids[1], True), (ids[2], False)]

        # The server goes away; resumed jobs wait locally and go out, once, when it is back.
        server.stop()
        for pid in ids[:2]:
            assert cli("queue", "release", pid[:8], "--url", url, home=home).returncode == 0
        assert cli("queue", "resume", "--url", url, home=home).returncode == 0
        time.sleep(2.0)
        rows = cli_json("queue", "ls", "--url", url, home=home)["jobs"]
        assert [r["state"] for r in rows] == ["queued"] * 3
        server.start()
        done = cli_json("wait", *ids, "--url", url, home=home, timeout=120)
        assert done["status"] == "success", done
        history = httpx.get(f"{url}/history", timeout=10).json()
        assert sorted(history) == sorted(ids), "each job ran exactly once"
        starts = [execution_start(url, pid) for pid in ids]
        assert starts == sorted(starts), "in queue order"
    finally:
        daemon.stop()


def test_run_without_a_dispatcher_sends_straight_and_says_so(comfy_server, home, tmp_path) -> None:
    wf = workflow(tmp_path, sleep_prompt(0.05))
    proc = cli("run", wf, "--url", comfy_server.url, "--wait", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    assert "no dispatcher runs" in proc.stderr and "sending straight to ComfyUI" in proc.stderr
    (pid,) = json.loads(proc.stdout)["prompt_ids"]
    shown = cli_json("history", "show", pid[:10], home=home)
    assert shown["state"] == "success" and shown["prompt"]["1"]["class_type"] == "ComfyTUISleep"
