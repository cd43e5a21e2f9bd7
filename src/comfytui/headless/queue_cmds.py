"""``comfytui queue``, ``history``, ``wait`` and ``daemon``: the local queue from a shell.

All read and change the store (one SQLite file shared with the dashboard and the daemon); they
talk to ComfyUI only where a job is on the server. ``--json`` prints one JSON document on
stdout. Job ids may be unique prefixes (at least 4 characters). Exit codes: 0 ok, 1 a job
failed, 2 bad input, 3 server unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from comfytui.core.comfy.client import ComfyClient
from comfytui.core.comfy.session import ComfySession, new_client_id
from comfytui.core.config import Config
from comfytui.core.errors import EXIT_JOB_FAILED, EXIT_OK, ComfyTuiError, InputError, ServerUnreachable
from comfytui.core.queue import ops
from comfytui.core.store.db import FINISHED, HistoryFilter, Store, StoredJob, open_store, server_key

SEED_MODES = ("fixed", "increment", "decrement", "randomize")


def add_commands(sub: argparse._SubParsersAction) -> None:
    from comfytui.headless.options import add_server_options

    queue = sub.add_parser("queue", help="the local queue: list, pause, resume, hold, move, cancel...")
    qsub = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)

    def action(name: str, helptext: str) -> argparse.ArgumentParser:
        p = qsub.add_parser(name, help=helptext)
        add_server_options(p)
        p.add_argument("--json", action="store_true", help="print JSON on stdout")
        return p

    action("ls", "list the run order: on the server, then local")
    action("pause", "send nothing new to ComfyUI (the running job finishes)")
    action("resume", "send queued jobs again")
    for name, helptext in (("hold", "keep a local job from being sent"), ("release", "let a held job go")):
        action(name, helptext).add_argument("id")
    move = action("move", "reorder a local job")
    move.add_argument("id")
    where = move.add_mutually_exclusive_group(required=True)
    for flag in ("top", "bottom", "up", "down"):
        where.add_argument(f"--{flag}", dest="where", action="store_const", const=flag)
    prio = action("priority", "set a local job's priority")
    prio.add_argument("id")
    prio.add_argument("level", choices=("high", "normal", "low"))
    action("cancel", "cancel jobs: local ones are dropped, pending ones deleted, running ones interrupted").add_argument(
        "ids", nargs="+", metavar="ID"
    )
    clear = action("clear", "cancel held or all local jobs, or (all) the server's pending queue too")
    clear.add_argument("what", nargs="?", choices=("held", "local", "all"), default="local")
    queue.set_defaults(handler=handle_queue)

    history = sub.add_parser("history", help="finished jobs (ours and other clients'), from the store")
    hsub = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    hls = hsub.add_parser("ls", help="list finished jobs, newest first")
    hls.add_argument("--status", action="append", default=[], help="success, error, interrupted, cancelled, lost (repeatable)")
    hls.add_argument("--since", help="a date (2025-01-31), a time (2025-01-31T12:00) or an age (30m, 2h, 3d)")
    hls.add_argument("--limit", type=int, default=50)
    hls.add_argument("--text", default="", help="match in id, label, batch or workflow source")
    hls.add_argument("--server", dest="history_server", metavar="NAME|URL", help="only jobs of this server (a configured name or a URL)")
    hls.add_argument("--json", action="store_true")
    show = hsub.add_parser("show", help="one job with its prompt, outputs and error")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    requeue = hsub.add_parser("requeue", help="queue a finished job again (new id)")
    requeue.add_argument("id", nargs="?")
    requeue.add_argument("--lost", action="store_true", help="requeue every lost job instead")
    requeue.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.INPUT=VALUE")
    requeue.add_argument("--seed-mode", choices=SEED_MODES, default="fixed")
    requeue.add_argument("--json", action="store_true")
    add_server_options(hls, server_option=False)  # its --server filters, it does not connect
    for p in (show, requeue):
        add_server_options(p)
    history.set_defaults(handler=handle_history)

    wait = sub.add_parser("wait", help="wait for jobs queued earlier; the exit code says how they ended")
    wait.add_argument("ids", nargs="+", metavar="ID")
    wait.add_argument("--json", action="store_true")
    wait.add_argument("--out", type=Path, help="download the outputs here (deduplicated, with sidecars)")
    wait.add_argument("--max-wait", type=float, default=0.0, help="give up after this many seconds (0: never)")
    add_server_options(wait)
    wait.set_defaults(handler=handle_wait)

    daemon = sub.add_parser("daemon", help="run the queue's dispatcher in the foreground (tmux, systemd --user)")
    add_server_options(daemon)
    from comfytui.headless.metrics_cmds import add_listen_options

    add_listen_options(daemon, "--metrics", default=None)
    daemon.set_defaults(handler=handle_daemon)


# -- helpers


def _print(args: argparse.Namespace, payload: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, default=str))
    elif text:
        print(text)


def _row_line(job: StoredJob, index: int | None = None) -> str:
    flags = " held" if job.held else ""
    flags += " foreign" if job.foreign else ""
    where = f"{index:>3} " if index is not None else ""
    return f"{where}{job.id[:8]}  {job.state:<11} {job.priority_name:<6}{flags}  {job.label}".rstrip()


def parse_since(text: str, now: float | None = None) -> float:
    now = time.time() if now is None else now
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if found:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[found.group(2)]
        return now - float(found.group(1)) * unit
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise InputError(f"--since {text!r}: give a date (2025-01-31), a time (2025-01-31T12:00) or an age (2h, 3d)") from None


async def _resolve(store: Store, prefix: str) -> StoredJob:
    return await store.call(store.resolve, prefix)


async def dispatched_here(store: Store, server: str) -> bool:
    """True when a live dispatcher or a paused queue means new jobs go to the local queue."""
    def check() -> bool:
        return store.dispatcher(server) is not None or store.paused(server)

    return await store.call(check)


# -- queue


async def handle_queue(args: argparse.Namespace, config: Config) -> int:
    store = open_store()
    server = config.server.url
    command = args.queue_command
    if command == "ls":
        return await _queue_ls(args, config, store)
    if command in ("pause", "resume"):
        await (ops.pause if command == "pause" else ops.resume)(store, server)
        state = await ops.status(store, server)
        note = "" if state.dispatcher else " (no dispatcher runs: start one with 'comfytui daemon')"
        _print(args, {"paused": state.paused, "server": state.server},
               f"queue {'paused' if state.paused else 'resumed'} for {state.server}{note}")
        return EXIT_OK
    if command in ("hold", "release", "move", "priority"):
        job = await _resolve(store, args.id)
        if command == "hold":
            job = await ops.hold(store, job.id)
        elif command == "release":
            job = await ops.release(store, job.id)
        elif command == "move":
            job = await ops.move(store, job.id, args.where)
        else:
            job = await ops.set_priority(store, job.id, args.level)
        _print(args, job.to_json(), f"{command}: {_row_line(job)}")
        return EXIT_OK
    async with ComfyClient(config.server) as client:
        if command == "cancel":
            results = []
            for prefix in args.ids:
                job_id = await _resolve_anywhere(store, client, prefix)
                results.append({"id": job_id, "result": await ops.cancel(store, client, job_id)})
            _print(args, {"cancelled": results}, "\n".join(f"{r['id']} {r['result']}" for r in results))
            return EXIT_OK
        count = await ops.clear(store, client if args.what == "all" else None, server, args.what)
        _print(args, {"cleared": count, "what": args.what}, f"cleared {count} job(s) ({args.what})")
        return EXIT_OK


async def _resolve_anywhere(store: Store, client: ComfyClient, prefix: str) -> str:
    """A job id from the store, else from the server's queue (a foreign job)."""
    try:
        return (await _resolve(store, prefix)).id
    except InputError as missing:
        queue = await client.queue()
        matches = [q.prompt_id for q in queue.running + queue.pending if q.prompt_id.startswith(prefix.lower())]
        if len(matches) == 1:
            return matches[0]
        raise missing from None


async def _queue_ls(args: argparse.Namespace, config: Config, store: Store) -> int:
    state = await ops.status(store, config.server.url)
    known = {j.id for j in state.jobs}
    foreign: list[dict[str, Any]] = []
    reachable = True
    try:
        async with ComfyClient(config.server) as client:
            queue = await client.queue()
        for kind, items in (("running", queue.running), ("pending", queue.pending)):
            foreign += [{"id": q.prompt_id, "state": kind, "foreign": True, "client_id": q.client_id}
                        for q in items if q.prompt_id not in known]
    except ComfyTuiError:
        reachable = False
    payload = {
        "server": state.server,
        "paused": state.paused,
        "dispatcher": state.dispatcher,
        "server_reachable": reachable,
        "jobs": [j.to_json() for j in state.jobs],
        "server_only": foreign,
    }
    head = f"{state.server}: {'paused' if state.paused else 'running'}; " + (
        f"dispatcher pid {state.dispatcher['pid']} on {state.dispatcher['host']}" if state.dispatcher else "no dispatcher"
    )
    lines = [head] + [_row_line(j, i) for i, j in enumerate(state.jobs, start=1)]
    lines += [f"    {f['id'][:8]}  {f['state']:<11} (another client)" for f in foreign]
    _print(args, payload, "\n".join(lines))
    return EXIT_OK


# -- history


def _server_filter(config: Config, name_or_url: str | None) -> str | None:
    """``history ls --server``: a configured server's name stands for its URL."""
    if not name_or_url:
        return None
    named = {p.name: p.server.url for p in config.fleet()}
    return named.get(name_or_url, name_or_url)


async def handle_history(args: argparse.Namespace, config: Config) -> int:
    store = open_store()
    if args.history_command == "ls":
        bad = [s for s in args.status for part in s.split(",") if part not in FINISHED]
        if bad:
            raise InputError(f"--status {bad[0]!r}: one of {', '.join(FINISHED)}")
        query = HistoryFilter(
            status=tuple(p for s in args.status for p in s.split(",")),
            text=args.text,
            server=_server_filter(config, args.history_server),
            since=parse_since(args.since) if args.since else None,
            limit=max(1, args.limit),
        )
        rows = await store.call(store.history, query)
        lines = [
            f"{r.id[:8]}  {r.state:<11} {'' if r.duration_s is None else f'{r.duration_s:7.2f}s'}"
            f"{' foreign' if r.foreign else ''}  {r.label}" for r in rows
        ]
        _print(args, [r.to_json() for r in rows], "\n".join(lines) or "no finished jobs")
        return EXIT_OK
    if args.history_command == "show":
        job = await _resolve(store, args.id)
        payload = job.to_json(with_prompt=True)
        text = json.dumps({k: v for k, v in payload.items() if k not in ("prompt", "workflow")}, indent=2, default=str)
        _print(args, payload, text)
        return EXIT_OK
    return await _requeue(args, config, store)


async def _requeue(args: argparse.Namespace, config: Config, store: Store) -> int:
    server = config.server.url
    if args.lost:
        copies = await ops.requeue_lost(store, server)
        _print(args, {"requeued": [c.id for c in copies]}, "\n".join(c.id for c in copies) or "no lost jobs")
        if copies and not await dispatched_here(store, server):
            print("comfytui: no dispatcher runs: the jobs wait in the local queue for 'comfytui daemon'", file=sys.stderr)
        return EXIT_OK
    if not args.id:
        raise InputError("history requeue: give a job id (or --lost)")
    original = await _resolve(store, args.id)
    async with ComfyClient(config.server) as client:
        object_info = None
        if args.overrides or args.seed_mode != "fixed":
            from comfytui.core.workflows.prompts import DEFAULT_CACHE

            object_info = await DEFAULT_CACHE.get(client)
        copy = ops.requeued_copy(original, overrides=args.overrides, seed_mode=args.seed_mode,
                                 object_info=object_info, server=server)
        mode = await submit_or_enqueue(store, client, [copy])
    _print(args, {"id": copy.id, "requeued_from": original.id, "mode": mode}, copy.id)
    return EXIT_OK


async def submit_or_enqueue(store: Store, client: ComfyClient, jobs: list[StoredJob], *, front: bool = False) -> str:
    """Through the local queue when a dispatcher runs (or the queue is paused), else straight to
    ComfyUI as before the local queue existed. Says which on stderr; returns ``queued`` or ``sent``."""
    server = client.url
    if await dispatched_here(store, server):
        await ops.enqueue(store, jobs, front=front)
        lock = await store.call(store.dispatcher, server)
        who = f"dispatcher pid {lock.pid}" if lock else "no dispatcher yet: the queue is paused"
        print(f"comfytui: added {len(jobs)} job(s) to the local queue ({who})", file=sys.stderr)
        return "queued"
    print(f"comfytui: no dispatcher runs for {server_key(server)}: sending straight to ComfyUI", file=sys.stderr)
    client_id = new_client_id()
    for job in jobs:
        await ops.send_now(store, client, job, client_id)
    return "sent"


# -- wait


async def wait_for_jobs(
    store: Store, client: ComfyClient, ids: list[str], *, timeout_s: float = 0.0, poll_s: float = 0.25
) -> list[StoredJob]:
    """Wait until every job has finished, reading the store (a dispatcher or dashboard writes it)
    and, every second, the server itself (nobody may be watching)."""
    deadline = time.monotonic() + timeout_s if timeout_s else None
    last_server_check = 0.0
    unreachable_since: float | None = None
    while True:
        rows = [await store.call(store.get, i) for i in ids]
        missing = [i for i, r in zip(ids, rows, strict=True) if r is None]
        if missing:
            raise InputError(f"job {missing[0]} is not in the store")
        jobs = [r for r in rows if r is not None]
        if all(j.finished for j in jobs):
            return jobs
        if deadline is not None and time.monotonic() > deadline:
            raise InputError(f"gave up waiting after {timeout_s:g}s")
        if time.monotonic() - last_server_check >= 1.0:
            last_server_check = time.monotonic()
            on_server = [j for j in jobs if j.state in ("pending", "running")]
            try:
                if on_server:
                    await ops.settle_from_server(store, client, on_server)
                unreachable_since = None
            except ServerUnreachable:
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > 60 and not await store.call(store.dispatcher, client.url):
                    raise
        await asyncio.sleep(poll_s)


def _describe(job: StoredJob) -> str:
    line = f"{job.id} {job.state}"
    if job.error:
        line += f": {job.error.get('exception_type', '')}: {job.error.get('exception_message', '')}"
    return line


async def handle_wait(args: argparse.Namespace, config: Config) -> int:
    store = open_store()
    ids = [(await _resolve(store, p)).id for p in args.ids]
    async with ComfyClient(config.server) as client:
        jobs = await wait_for_jobs(store, client, ids, timeout_s=args.max_wait)
        return await report_jobs(args, config, store, client, jobs)


async def report_jobs(
    args: argparse.Namespace, config: Config, store: Store, client: ComfyClient, jobs: list[StoredJob],
    *, clients: dict[str, ComfyClient] | None = None,
) -> int:
    """Print the outcome; with ``args.out``, collect outputs (from each job's own server in ``clients``)."""
    from comfytui.core.queue.outputs import collect_outputs

    results = []
    for job in jobs:
        entry = job.to_json()
        if args.out and job.state == "success":
            source = (clients or {}).get(job.server, client)
            got = await collect_outputs(store, source, job, config.outputs, args.out)
            entry["files"] = [str(p) for p in got.files]
            for message in got.refused:
                print(f"comfytui: {message}", file=sys.stderr)
        results.append(entry)
    ok = all(j.state == "success" for j in jobs)
    status = "success" if ok else next(j.state for j in jobs if j.state != "success")
    _print(args, {"status": status, "prompt_ids": [j.id for j in jobs], "jobs": results},
           "\n".join(_describe(j) + "".join(f"\n  {p}" for p in r.get("files", [])) for j, r in zip(jobs, results, strict=True)))
    return EXIT_OK if ok else EXIT_JOB_FAILED


# -- daemon


async def handle_daemon(args: argparse.Namespace, config: Config) -> int:
    """One server's dispatcher, or the fleet's (several --url, or [servers.*] without --server)."""
    import os

    from comfytui.core.queue.dispatcher import Dispatcher
    from comfytui.core.queue.fleet import Fleet
    from comfytui.headless.options import fleet_members

    if not config.reconnect.max_attempts == 0:
        config = config.replace(reconnect=type(config.reconnect)(0, config.reconnect.base_delay_s, config.reconnect.max_delay_s))
    store = open_store()
    members = fleet_members(args, config)
    fleet: Fleet | None = None
    if members:
        fleet = Fleet(members, store=store)
        work = fleet.run()
        what = f"the fleet {', '.join(n for n, _ in members)}"
    else:
        dispatcher = Dispatcher(config, store=store, session=ComfySession(config, role="daemon"))
        work = dispatcher.run()
        what = dispatcher.server
    metrics = None
    if args.metrics_listen:
        from comfytui.headless.metrics_cmds import serve_metrics

        def sessions() -> dict[str, Any]:
            if fleet is not None:
                return {m.name: m.dispatcher.session for m in fleet.members if m.dispatcher is not None}
            return {config.selected_server: dispatcher.session}

        metrics = await serve_metrics(args, config, sessions_by_server=sessions,
                                      decisions=(lambda: dict(fleet.decisions)) if fleet is not None else None)
    task = asyncio.create_task(work, name="comfytui-daemon")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    print(f"comfytui: dispatching to {what} (pid {os.getpid()})", file=sys.stderr, flush=True)
    try:
        await task
    except asyncio.CancelledError:
        print("comfytui: dispatcher stopped", file=sys.stderr)
    finally:
        if metrics is not None:
            from comfytui.headless.metrics_cmds import stop_metrics

            await stop_metrics(*metrics)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(store.flush)
    return EXIT_OK


async def run_through_queue(
    args: argparse.Namespace, config: Config, session: ComfySession, prompt: dict[str, Any],
    object_info: dict[str, Any] | None, workflow: dict[str, Any] | None, *, dispatched: bool | None = None,
) -> int | None:
    """``comfytui run`` when a dispatcher runs (or the queue is paused): add the jobs to the local
    queue and, with ``--wait``, wait for them through the store. None: send directly as before.
    ``dispatched``: the caller's ``dispatched_here`` answer, when it asked already."""
    import random

    from comfytui.core.workflows.batch import batch_name, build_batch, job_label
    from comfytui.core.workflows.params import seed_inputs

    store = open_store()
    server = session.client.url
    if dispatched is None:
        dispatched = await dispatched_here(store, server)
    if not dispatched:
        print(f"comfytui: no dispatcher runs for {server_key(server)}: sending straight to ComfyUI", file=sys.stderr)
        return None
    prompts = build_batch(dict(prompt), args.count, args.seed_mode, object_info, random.Random())
    label = args.label or Path(args.workflow).name
    batch = batch_name(label, len(prompts), args.batch)
    source = await asyncio.to_thread(lambda: str(Path(args.workflow).resolve()))
    jobs = [
        StoredJob(id=ops.new_job_id(), server=server, label=job_label(label, i, len(prompts)), batch=batch,
                  source=source, workflow=workflow, prompt=p, params=list(args.overrides),
                  seeds=[p[n]["inputs"][k] for n, k in seed_inputs(p, object_info)])
        for i, p in enumerate(prompts)
    ]
    await submit_or_enqueue(store, session.client, jobs, front=args.front)
    ids = [j.id for j in jobs]
    for job in jobs:
        print(f"comfytui: queued {job.id} ({job.label})", file=sys.stderr)
    if not args.wait:
        _print(args, {"status": "queued", "prompt_ids": ids}, "\n".join(ids))
        return EXIT_OK
    finished = await wait_for_jobs(store, session.client, ids)
    if not args.no_download:
        from comfytui.core.queue.outputs import output_dir

        args.out = args.out or output_dir(config.outputs)
    else:
        args.out = None
    return await report_jobs(args, config, store, session.client, finished)


# -- the fleet: several servers behind one local queue (docs/FLEET.md)


async def run_on_fleet(
    args: argparse.Namespace, config: Config, members: list[tuple[str, Config]], prompt: dict[str, Any],
    object_info: dict[str, Any] | None, workflow: dict[str, Any] | None,
) -> int:
    """``comfytui run`` over several servers: the jobs go to the fleet's local queue; a fleet
    dispatcher runs in this process unless a ``comfytui daemon`` runs one for the same servers."""
    import random

    from comfytui.core.queue.fleet import Fleet
    from comfytui.core.workflows.batch import batch_name, build_batch, job_label
    from comfytui.core.workflows.params import seed_inputs

    store = open_store()
    queue_depth = config.queue.dispatch_depth if args.wait else max(args.count, config.queue.dispatch_depth)
    members = [(n, c.replace(queue=type(c.queue)(queue_depth, c.queue.heartbeat_s, c.queue.stale_after_s))) for n, c in members]
    fleet = Fleet(members, store=store)
    prompts = build_batch(dict(prompt), args.count, args.seed_mode, object_info, random.Random())
    label = args.label or Path(args.workflow).name
    batch = batch_name(label, len(prompts), args.batch)
    source = await asyncio.to_thread(lambda: str(Path(args.workflow).resolve()))
    jobs = [
        StoredJob(id=ops.new_job_id(), server=fleet.pool, label=job_label(label, i, len(prompts)), batch=batch,
                  source=source, workflow=workflow, prompt=p, params=list(args.overrides),
                  seeds=[p[n]["inputs"][k] for n, k in seed_inputs(p, object_info)])
        for i, p in enumerate(prompts)
    ]
    ids = [j.id for j in jobs]
    names = ", ".join(n for n, _ in members)
    await ops.enqueue(store, jobs, front=args.front)
    for job in jobs:
        print(f"comfytui: queued {job.id} ({job.label}) for the fleet ({names})", file=sys.stderr)
    lock = await store.call(store.dispatcher, fleet.pool)
    runner: asyncio.Task[None] | None = None
    if lock is None:
        print(f"comfytui: no fleet dispatcher runs for {names}: dispatching from this process", file=sys.stderr)
        runner = asyncio.create_task(fleet.run(), name="comfytui-run-fleet")
    else:
        print(f"comfytui: the fleet's dispatcher (pid {lock.pid}) sends them", file=sys.stderr)
    try:
        done = await _follow_fleet(store, ids, runner, until="finished" if args.wait else "sent")
    finally:
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
    if not args.wait:
        _print(args, {"status": "queued", "prompt_ids": ids, "servers": {j.id: j.server for j in done}}, "\n".join(ids))
        return EXIT_OK
    args.out = None if args.no_download else (args.out or _outputs_dir(config))
    clients = {server_key(c.server.url): ComfyClient(c.server) for _, c in members}
    try:
        return await report_jobs(args, config, store, next(iter(clients.values())), done, clients=clients)
    finally:
        for client in clients.values():
            await client.aclose()


def _outputs_dir(config: Config) -> Path:
    from comfytui.core.queue.outputs import output_dir

    return output_dir(config.outputs)


async def _follow_fleet(store: Store, ids: list[str], runner: asyncio.Task[None] | None, *, until: str) -> list[StoredJob]:
    """Poll the store until every job has finished (or, ``until="sent"``, left the local queue)."""
    while True:
        rows = [await store.call(store.get, i) for i in ids]
        jobs = [r for r in rows if r is not None]
        if len(jobs) < len(ids):
            raise InputError("a job of this run vanished from the store (cancelled and cleared?)")
        if all(j.finished for j in jobs) or (until == "sent" and all(j.state != "queued" for j in jobs)):
            return jobs
        if runner is not None and runner.done():
            runner.result()  # the fleet stopped: say why
            raise ComfyTuiError("the fleet dispatcher stopped")
        await asyncio.sleep(0.25)
