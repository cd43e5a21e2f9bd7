"""The reference for bench/run_jobs.py: the least a Python client can do to run N prompts.

httpx + websockets, nothing else: open ``/ws?clientId=...``, POST every prompt with that client
id, then read the socket until an ``executing`` message with ``node: null`` has arrived for each
prompt id. No resync, no journal, no downloads, no validation.

    python bench/raw_client.py --url http://127.0.0.1:8188 --workflow workflows/image-blur.json \
        --count 50 [--set 1.color=123] [--increment 1.seed]

``--increment NODE.INPUT`` adds the job's index to that input (distinct seeds, like comfytui's
``--seed-mode increment``), so no job is answered from ComfyUI's cache.

Prints one JSON object: {"jobs", "wall_s", "per_job_s"} (wall time inside the process, from
before the websocket opens to the last job's end).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import time
import uuid
from pathlib import Path

import httpx
from websockets.asyncio.client import connect


def apply_set(prompt: dict, assignments: list[str]) -> dict:
    """``NODE_ID.INPUT=VALUE`` (JSON value, else string); by node id only."""
    prompt = copy.deepcopy(prompt)
    for item in assignments:
        target, _, raw = item.partition("=")
        node, _, name = target.partition(".")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        prompt[node]["inputs"][name] = value
    return prompt


def job_prompt(prompt: dict, increment: list[str], index: int) -> dict:
    if not increment or not index:
        return prompt
    prompt = copy.deepcopy(prompt)
    for target in increment:
        node, _, name = target.partition(".")
        prompt[node]["inputs"][name] += index
    return prompt


async def run_jobs(url: str, prompt: dict, count: int, increment: list[str] = ()) -> dict:
    client_id = f"raw-{uuid.uuid4().hex[:8]}"
    ws_url = url.replace("http://", "ws://", 1).rstrip("/") + f"/ws?clientId={client_id}"
    started = time.perf_counter()
    async with connect(ws_url, max_size=None) as ws, httpx.AsyncClient(base_url=url, timeout=60) as http:
        await ws.recv()  # the first status message: the socket is registered
        waiting: set[str] = set()
        for index in range(count):
            body = {"prompt": job_prompt(prompt, list(increment), index), "client_id": client_id}
            reply = await http.post("/prompt", json=body)
            reply.raise_for_status()
            waiting.add(reply.json()["prompt_id"])
        failed = 0
        while waiting:
            frame = await ws.recv()
            if isinstance(frame, bytes):
                continue
            message = json.loads(frame)
            data = message.get("data") or {}
            if message.get("type") == "execution_error":
                failed += 1
            if message.get("type") == "executing" and data.get("node") is None and data.get("prompt_id") in waiting:
                waiting.discard(data["prompt_id"])
    wall = time.perf_counter() - started
    return {"jobs": count, "failed": failed, "wall_s": round(wall, 4), "per_job_s": round(wall / count, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--workflow", type=Path, required=True, help="an API-format prompt (JSON)")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--set", dest="assignments", action="append", default=[])
    parser.add_argument("--increment", action="append", default=[], metavar="NODE.INPUT")
    args = parser.parse_args()
    prompt = apply_set(json.loads(args.workflow.read_text()), args.assignments)
    print(json.dumps(asyncio.run(run_jobs(args.url, prompt, args.count, args.increment))))


if __name__ == "__main__":
    main()
