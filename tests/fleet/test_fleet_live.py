"""The fleet end to end: ``comfytui run --url A --url B`` against two real CPU ComfyUI servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.comfy import sleep_prompt, unique_seed

pytestmark = pytest.mark.comfy

COMFYTUI = Path(sys.executable).with_name("comfytui")


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    env["COMFY_RECONNECT_MAX_DELAY_S"] = "0.5"
    return env


def start_run(home: Path, *args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(COMFYTUI), "run", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env_for(home), stdin=subprocess.DEVNULL, cwd=home)


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, dict, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, json.loads(out) if out.strip() else {}, err


def server_history(url: str) -> set[str]:
    return set(httpx.get(f"{url}/history", timeout=10).json())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def two_servers(comfy_server_factory):
    return comfy_server_factory(), comfy_server_factory()


def test_a_batch_is_spread_over_two_servers_and_all_succeed(two_servers, home, tmp_path) -> None:
    a, b = two_servers
    wf = tmp_path / "sleep.json"
    wf.write_text(json.dumps(sleep_prompt(0.6, seed=unique_seed())))
    proc = start_run(home, wf, "--url", a.url, "--url", b.url, "--count", "6", "--seed-mode", "increment",
                     "--wait", "--json")
    code, result, err = finish(proc)
    assert code == 0, err
    assert result["status"] == "success" and len(result["jobs"]) == 6, result
    assert all(j["state"] == "success" for j in result["jobs"]), result
    on_a, on_b = server_history(a.url), server_history(b.url)
    ids = set(result["prompt_ids"])
    assert ids == (on_a | on_b) & ids and not (on_a & on_b), "each job ran exactly once, on one server"
    assert on_a & ids and on_b & ids, f"both servers ran jobs: A {len(on_a & ids)}, B {len(on_b & ids)}"
    assert {j["server"] for j in result["jobs"]} == {a.url, b.url}
    assert "dispatching from this process" in err


def test_a_stopped_server_hands_its_pending_jobs_to_the_other(two_servers, home, tmp_path) -> None:
    a, b = two_servers
    # A foreign job keeps A busy, so ours routed to A wait there (pending) when A is stopped.
    blocker = httpx.post(f"{a.url}/prompt", timeout=10,
                         json={"prompt": sleep_prompt(120, seed=unique_seed()), "client_id": "someone-else"})
    assert blocker.status_code == 200, blocker.text
    wf = tmp_path / "sleep.json"
    wf.write_text(json.dumps(sleep_prompt(0.5, seed=unique_seed())))
    proc = start_run(home, wf, "--url", a.url, "--url", b.url, "--count", "4", "--seed-mode", "increment",
                     "--wait", "--json")
    try:
        deadline = time.monotonic() + 90
        ours_on_a: list[str] = []
        while time.monotonic() < deadline and not ours_on_a:
            queue = httpx.get(f"{a.url}/queue", timeout=10).json()
            ours_on_a = [item[1] for item in queue["queue_pending"] if item[3].get("client_id", "").startswith("comfytui-")]
            time.sleep(0.1)
        assert ours_on_a, f"no job of ours reached A: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}"
        a.stop()
        code, result, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    assert [j["state"] for j in result["jobs"]] == ["success"] * 4, result
    assert {j["server"] for j in result["jobs"]} == {b.url}, "the jobs pending on A ran on B"
    assert set(ours_on_a) <= server_history(b.url), "A's pending jobs ran on B, under the same ids"
    assert "returned to the fleet's queue" in err or "down" in err


def test_jobs_go_only_to_a_server_that_has_their_node_types(comfy_server_factory, home, tmp_path) -> None:
    bare = comfy_server_factory(custom_nodes=())  # no test node pack: it cannot run ComfyTUISleep
    able = comfy_server_factory()
    wf = tmp_path / "sleep.json"
    wf.write_text(json.dumps(sleep_prompt(0.2, seed=unique_seed())))
    code, result, err = finish(start_run(home, wf, "--url", bare.url, "--url", able.url, "--count", "3",
                                         "--seed-mode", "increment", "--wait", "--json"))
    assert code == 0, err
    assert [j["state"] for j in result["jobs"]] == ["success"] * 3
    assert {j["server"] for j in result["jobs"]} == {able.url}
    assert not server_history(bare.url), "nothing was sent to the server without the node pack"


def test_a_fleet_daemon_dispatches_for_run_and_serves_its_decisions_as_metrics(two_servers, home, tmp_path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from harness.comfy import free_port

    a, b = two_servers
    port = free_port()
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen([str(COMFYTUI), "daemon", "--url", a.url, "--url", b.url, "--metrics", f"127.0.0.1:{port}"],
                                  env=env_for(home), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=home)
    try:
        deadline = time.monotonic() + 30
        while "dispatching to the fleet" not in log.read_text() and time.monotonic() < deadline:
            assert daemon.poll() is None, log.read_text()
            time.sleep(0.1)
        wf = tmp_path / "sleep.json"
        wf.write_text(json.dumps(sleep_prompt(0.3, seed=unique_seed())))
        code, result, err = finish(start_run(home, wf, "--url", a.url, "--url", b.url, "--count", "4",
                                             "--seed-mode", "increment", "--wait", "--json"))
        assert code == 0, err + log.read_text()
        assert "the fleet's dispatcher (pid" in err and "dispatching from this process" not in err
        assert {j["server"] for j in result["jobs"]} == {a.url, b.url}
        text = ""
        deadline = time.monotonic() + 15
        decided = 0.0
        while time.monotonic() < deadline and decided < 4:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            families = {f.name: f.samples for f in text_string_to_metric_families(text)}
            decided = sum(s.value for s in families.get("comfytui_dispatch_decisions", []) if s.name.endswith("_total"))
            time.sleep(0.3)
        assert decided == 4, text
    finally:
        daemon.terminate()
        daemon.wait(20)
    assert "Traceback" not in log.read_text()
