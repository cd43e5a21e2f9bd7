"""Soak: kill -9 ComfyUI mid-batch N times, and kill a ``comfytui run --wait`` mid-batch N times,
on the real CPU ComfyUI (not in CI). Reports jobs submitted, finished, lost, requeued (the lost
jobs of a server kill queued again through the same session, which must then finish) and the
times to notice the server gone and to reconnect. Prints one JSON object last (per-cycle figures
and ``totals``).

    .venv/bin/python bench/soak.py --server-kills 3 --client-kills 3
"""

from __future__ import annotations

# ruff: noqa: ASYNC110 - polling session state is what a soak measures
import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from comfytui.core.comfy.session import ComfySession  # noqa: E402
from comfytui.core.config import Config, ReconnectSettings  # noqa: E402
from harness.comfy import ComfyServer, ensure_installed, progress_prompt  # noqa: E402

COMFYTUI = Path(sys.executable).with_name("comfytui")


async def server_kill_cycle(server: ComfyServer, batch: int) -> dict:
    config = Config().with_server(url=server.url, timeout_s=20).replace(
        reconnect=ReconnectSettings(max_attempts=0, base_delay_s=0.1, max_delay_s=1.0))
    session = ComfySession(config)
    runner = asyncio.create_task(session.run())
    try:
        while session.connection.state != "connected":
            await asyncio.sleep(0.05)
        jobs = [await session.submit(progress_prompt(steps=6, delay=0.2, prefix="soak")) for _ in range(batch)]
        while not any(session.book.get(j.prompt_id).step > 0 for j in jobs):
            await asyncio.sleep(0.05)
        await asyncio.to_thread(server.kill)
        killed = time.monotonic()
        while session.connection.state != "disconnected":
            await asyncio.sleep(0.01)
        noticed = time.monotonic() - killed
        await asyncio.to_thread(server.restart)  # returns once /system_stats answers again
        back = time.monotonic()
        while session.connection.state != "connected":
            await asyncio.sleep(0.05)
        reconnected = time.monotonic() - killed
        after_back = time.monotonic() - back
        async with asyncio.timeout(60):
            done = await session.wait_for([j.prompt_id for j in jobs])
        states = [str(j.state) for j in done]
        lost = [j for j in done if str(j.state) == "lost"]
        requeued = [await session.submit(j.prompt, label="requeued") for j in lost]
        async with asyncio.timeout(120):
            again = await session.wait_for([j.prompt_id for j in requeued])
        return {"submitted": batch, "finished": sum(s == "success" for s in states),
                "lost": len(lost), "other": [s for s in states if s not in ("success", "lost")],
                "requeued": len(requeued), "requeued_finished": sum(str(j.state) == "success" for j in again),
                "noticed_down_s": round(noticed, 3), "reconnect_s": round(reconnected, 3),
                "reconnect_after_back_s": round(after_back, 3)}
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await session.aclose()


def client_kill_cycle(server: ComfyServer, batch: int, home: Path) -> dict:
    """``comfytui run --wait --count BATCH`` killed with SIGKILL once it has queued the whole batch
    and the server runs its first job: the jobs must still finish on the server (lost = 0)."""
    import httpx

    workflow = home / "soak.json"
    workflow.write_text(json.dumps(progress_prompt(steps=6, delay=0.3, prefix="soak_client")))
    env = {**os.environ, "COMFYTUI_HOME": str(home)}
    proc = subprocess.Popen([str(COMFYTUI), "run", str(workflow), "--url", server.url, "--wait", "--count", str(batch),
                             "--seed-mode", "increment", "--no-download"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    queued: list[str] = []
    for line in proc.stderr:  # "comfytui: queued <id> ..." once per job
        if line.startswith("comfytui: queued "):
            queued.append(line.split()[2])
        if len(queued) >= batch:
            break
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not httpx.get(f"{server.url}/queue").json().get("queue_running"):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    deadline = time.monotonic() + 90
    finished: set[str] = set()
    while time.monotonic() < deadline and len(finished) < len(queued):
        history = httpx.get(f"{server.url}/history").json()
        finished = {pid for pid in queued if pid in history}
        time.sleep(0.5)
    return {"submitted": len(queued), "finished": len(finished), "lost": len(queued) - len(finished),
            "killed_mid_batch": proc.returncode == -signal.SIGKILL}


def totals(results: dict) -> dict:
    server, client = results["server_kills"], results["client_kills"]
    reconnects = sorted(c["reconnect_s"] for c in server)
    after_back = sorted(c["reconnect_after_back_s"] for c in server)
    return {
        "server_kills": len(server), "client_kills": len(client),
        "submitted": sum(c["submitted"] for c in server + client),
        "finished": sum(c["finished"] for c in server + client),
        "lost": sum(c["lost"] for c in server + client),
        "requeued": sum(c["requeued"] for c in server),
        "requeued_finished": sum(c["requeued_finished"] for c in server),
        "client_killed_mid_batch": sum(bool(c.get("killed_mid_batch")) for c in client),
        "noticed_down_s_max": max((c["noticed_down_s"] for c in server), default=None),
        "reconnect_s_median": reconnects[len(reconnects) // 2] if reconnects else None,
        "reconnect_s_max": reconnects[-1] if reconnects else None,
        # what the acceptance bounds: from ComfyUI answering again to the session connected
        "reconnect_after_back_s_median": after_back[len(after_back) // 2] if after_back else None,
        "reconnect_after_back_s_max": after_back[-1] if after_back else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-kills", type=int, default=3)
    parser.add_argument("--client-kills", type=int, default=3)
    parser.add_argument("--batch", type=int, default=3)
    args = parser.parse_args()
    ensure_installed()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COMFYTUI_HOME"] = str(Path(tmp) / "home")
        server = ComfyServer(base=Path(tmp) / "comfy")
        server.start()
        try:
            results: dict = {"server_kills": [], "client_kills": []}
            for i in range(args.server_kills):
                results["server_kills"].append(asyncio.run(server_kill_cycle(server, args.batch)))
                print(f"server kill {i + 1}/{args.server_kills}: {results['server_kills'][-1]}", file=sys.stderr, flush=True)
            for i in range(args.client_kills):
                results["client_kills"].append(client_kill_cycle(server, args.batch, Path(tmp)))
                print(f"client kill {i + 1}/{args.client_kills}: {results['client_kills'][-1]}", file=sys.stderr, flush=True)
        finally:
            server.stop()
    results["totals"] = totals(results)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
