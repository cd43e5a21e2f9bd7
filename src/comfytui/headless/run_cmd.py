"""``comfytui run WORKFLOW``: queue a workflow, follow it, download its outputs.

Progress goes to stderr, results to stdout (``--json``: one JSON object). Exit codes: 0 all jobs
succeeded (or were queued, without ``--wait``), 1 a job failed, was interrupted or lost, 2 bad
input, 3 server unreachable, 130 Ctrl+C (with ``--wait`` the jobs this run queued are cancelled
first: pending ones leave the queue, the running one is interrupted; without it they stay queued).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from comfytui.core import paths
from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import Job, JobState
from comfytui.core.comfy.session import ComfySession, SessionUpdate
from comfytui.core.config import Config
from comfytui.core.errors import EXIT_JOB_FAILED, EXIT_OK, ComfyTuiError, InputError, ServerUnreachable
from comfytui.core.queue.submit import submit_batch, uses_local_queue
from comfytui.core.store.db import server_key
from comfytui.core.workflows.params import SEED_MODES
from comfytui.headless.progress import ProgressPrinter

EXIT_INTERRUPTED = 130
CANCEL_LIMIT_S = 10.0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from comfytui.headless.options import add_server_options

    run = sub.add_parser(
        "run",
        help="queue a workflow (API or editor JSON, or a PNG/WebP with an embedded workflow)",
        description="Queue a workflow and optionally wait for it. Progress goes to stderr.",
    )
    run.add_argument("workflow", help="workflow file: API-format or editor-format JSON, or a PNG/WebP made by ComfyUI")
    add_server_options(run)
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NODE.INPUT=VALUE",
        help="change an input before queueing; NODE is a node id or title (repeatable)",
    )
    run.add_argument("--count", type=int, default=1, help="queue N jobs (default 1)")
    run.add_argument("--seed-mode", choices=SEED_MODES, default="fixed", help="how seeds change across --count jobs")
    run.add_argument("--front", action="store_true", help="queue at the front")
    run.add_argument("--wait", action="store_true", help="wait for the jobs to finish and download their outputs")
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    run.add_argument("--out", type=Path, help="where outputs are downloaded (default: the comfytui data dir)")
    run.add_argument("--no-download", action="store_true", help="with --wait: do not download outputs")
    run.add_argument("--label", default="", help="a name for these jobs in the dashboard")
    run.add_argument("--batch", default="", help="a name for the batch (with --count)")
    run.set_defaults(handler=handle_run)


async def prepare_prompt(args: argparse.Namespace, session: ComfySession) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Load, convert, override and preflight the workflow: (prompt, object_info, editor workflow)."""
    from comfytui.core.workflows.preflight import preflight_prompt
    from comfytui.core.workflows.prompts import resolve_prompt

    if args.count < 1:
        raise InputError("--count must be at least 1")
    resolved = await resolve_prompt(Path(args.workflow), session.client, overrides=args.overrides)
    for warning in resolved.warnings:
        print(f"comfytui: note: {warning}", file=sys.stderr)
    preflight_prompt(resolved.prompt, resolved.object_info, source=args.workflow)
    return resolved.prompt, resolved.object_info, resolved.workflow


async def _fleet_prompt(args: argparse.Namespace, members: list[tuple[str, Config]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Load and check the workflow against the first server that answers and can run it."""
    failure: ComfyTuiError | None = None
    for _name, cfg in members:
        session = ComfySession(cfg, role="cli", restore=False)  # only its client is used
        try:
            await session.client.system_stats()
            return await prepare_prompt(args, session)
        except ComfyTuiError as exc:
            failure = failure if isinstance(failure, InputError) else exc
        finally:
            await session.aclose()
    assert failure is not None
    raise failure


def _job_json(job: Job, files: list[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_id": job.prompt_id,
        "status": str(job.state),
        "duration_s": round(job.duration_s, 3) if job.duration_s is not None else None,
        "outputs": [str(p) for p in files],
        "server_outputs": [
            {"filename": o.filename, "subfolder": o.subfolder, "type": o.type, "node": o.node_id} for o in job.outputs
        ],
    }
    if job.error is not None:
        out["error"] = {
            "node_id": job.error.node_id,
            "node_type": job.error.node_type,
            "exception_type": job.error.exception_type,
            "exception_message": job.error.exception_message,
            "traceback": list(job.error.traceback),
        }
    return out


async def handle_run(args: argparse.Namespace, config: Config) -> int:
    if not config.reconnect.max_attempts:
        # A script should not wait for ever on a server that is gone.
        config = config.replace(reconnect=type(config.reconnect)(8, config.reconnect.base_delay_s, config.reconnect.max_delay_s))
    from comfytui.headless.options import fleet_members

    members = fleet_members(args, config)
    if len(members) > 1:  # several servers: through the fleet's local queue (docs/FLEET.md)
        from comfytui.headless.queue_cmds import run_on_fleet

        return await run_on_fleet(args, config, members, *await _fleet_prompt(args, members))

    # It follows only the jobs it queues: no resync, /system_stats or finished jobs it has no use for.
    session = ComfySession(config, role="cli", own_jobs_only=True)
    # With --wait the websocket opens while the workflow is read: the handshake overlaps the local
    # work, and the socket is open before anything is queued, so no progress message is missed.
    # Without --wait a /system_stats checks the server instead. Either way an unreachable server
    # is what gets reported (exit 3 naming the URL), even when the workflow is bad too.
    runner = asyncio.create_task(session.run(), name="comfytui-run-session") if args.wait else None
    reachable = asyncio.create_task(
        _wait_connected(session, runner) if runner is not None else session.client.system_stats()
    )
    try:
        try:
            prompt, object_info, workflow = await prepare_prompt(args, session)
            dispatched = await uses_local_queue(session.journal.store, session.client.url)
        except ComfyTuiError:
            await _reachable_or_unreachable(reachable)  # only an unreachable server wins over this error
            raise
        await reachable
        if dispatched:  # the local queue's dispatcher sends the jobs; this process follows the store
            from comfytui.headless.queue_cmds import run_through_queue

            await _stop(runner)
            runner = None
            routed = await run_through_queue(args, config, session, prompt, object_info, workflow, dispatched=True)
            assert routed is not None
            return routed
        print(f"comfytui: no dispatcher runs for {server_key(session.client.url)}: sending straight to ComfyUI",
              file=sys.stderr)
        printer = ProgressPrinter(session, quiet=False)
        queued: list[str] = []

        def note_queued(job: Job, label: str) -> None:
            queued.append(job.prompt_id)
            print(f"comfytui: queued {job.prompt_id} ({label})", file=sys.stderr)

        try:
            submitted = await submit_batch(
                session, prompt, count=args.count, seed_mode=args.seed_mode, object_info=object_info,
                front=args.front, label=args.label or Path(args.workflow).name, batch=args.batch,
                workflow=workflow, on_queued=note_queued, local_queue=False,
            )
            ids = submitted.prompt_ids
            if not args.wait:
                if args.json:
                    print(json.dumps({"status": "queued", "prompt_ids": ids}))
                else:
                    print("\n".join(ids))
                return EXIT_OK
            printer.watch(ids)
            assert runner is not None
            finished = await _wait(session, runner, ids)
            printer.close()
        except asyncio.CancelledError:
            # Ctrl+C: asyncio.run cancels this task; answering here (not re-raising) makes it the exit code.
            printer.close()
            if not args.wait:
                if queued:
                    print(f"comfytui: interrupted; {len(queued)} job(s) stay queued on {session.client.display_url}: "
                          f"{' '.join(queued)} (follow them in the dashboard: comfytui)", file=sys.stderr)
                else:
                    print("comfytui: interrupted", file=sys.stderr)
                return EXIT_INTERRUPTED
            print(await _cancel_queued(session, queued), file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            await _stop(runner)
            runner = None
        out_dir = args.out or paths.data_dir() / "outputs"
        results = []
        for job in finished:
            files: list[Path] = []
            if job.state == JobState.SUCCESS and not args.no_download:
                # "temp" files are PreviewImage's throwaway previews, not results: listed, not downloaded
                for file in job.outputs:
                    if file.type == "output":
                        files.append(await session.client.download(file, out_dir))
            results.append(_job_json(job, files))
        ok = all(job.state == JobState.SUCCESS for job in finished)
        if args.json:
            status = "success" if ok else next(str(j.state) for j in finished if j.state != JobState.SUCCESS)
            print(json.dumps({"status": status, "prompt_ids": [j.prompt_id for j in finished], "jobs": results}, indent=2))
        else:
            for job, result in zip(finished, results, strict=True):
                print(f"{job.prompt_id} {job.state}" + "".join(f"\n  {p}" for p in result["outputs"]))
        for job in finished:
            if job.error is not None:
                print(describe_failure(job), file=sys.stderr)
        return EXIT_OK if ok else EXIT_JOB_FAILED
    finally:
        if reachable.done() and not reachable.cancelled():
            reachable.exception()  # retrieved: an outcome nobody needed is not logged at exit
        reachable.cancel()
        await _stop(runner)
        await session.aclose()


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _reachable_or_unreachable(reachable: asyncio.Task[Any]) -> None:
    """Wait for the reachability check; raise only ``ServerUnreachable``."""
    try:
        await reachable
    except ServerUnreachable:
        raise
    except (ComfyTuiError, Exception):  # noqa: BLE001 - anything else: the caller's error stands
        return


async def _cancel_queued(session: ComfySession, prompt_ids: list[str]) -> str:
    """Take this run's jobs off the server: delete the pending ones, interrupt the running one."""
    if not prompt_ids:
        return "comfytui: interrupted before any job was queued"
    mine = set(prompt_ids)
    try:
        async with asyncio.timeout(CANCEL_LIMIT_S):
            # Pending first, so none of them starts when the running one is interrupted.
            await session.client.delete_pending(prompt_ids)
            queue = await session.client.queue()
            running = [q.prompt_id for q in queue.running if q.prompt_id in mine]
            for prompt_id in running:
                await session.client.interrupt(prompt_id)
    except (ComfyTuiError, TimeoutError) as exc:
        return (f"comfytui: interrupted, but could not cancel the {len(prompt_ids)} queued job(s) "
                f"({exc or 'timed out'}): {' '.join(prompt_ids)}")
    done = f"interrupted {' '.join(running)}, " if running else ""
    return f"comfytui: interrupted; cancelled this run's jobs ({done}removed the pending ones): {' '.join(prompt_ids)}"


async def _wait_connected(session: ComfySession, runner: asyncio.Task[None], limit_s: float = 15.0) -> None:
    """Until the websocket is open, so no progress message is missed. When it fails to connect and
    ``/system_stats`` does not answer either, the server is unreachable: ``ServerUnreachable``
    naming the URL. After ``limit_s`` the jobs are queued anyway (the stream keeps trying)."""
    changed = asyncio.Event()

    def on_update(update: SessionUpdate) -> None:
        if isinstance(update.event, ev.Connected | ev.Disconnected):
            changed.set()

    session.add_listener(on_update)
    try:
        async with asyncio.timeout(limit_s):
            while session.connection.state != "connected":
                waiter = asyncio.create_task(changed.wait())
                try:
                    await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if runner.done():
                    runner.result()  # the stream gave up: its ServerUnreachable
                    raise ServerUnreachable(f"lost ComfyUI at {session.client.display_url} while connecting")
                changed.clear()
                if session.connection.state == "disconnected":
                    await session.client.system_stats()  # refused too: exit 3 with the reason
    except TimeoutError:
        pass
    finally:
        session.remove_listener(on_update)


async def _wait(session: ComfySession, runner: asyncio.Task[None], ids: list[str]) -> list[Job]:
    waiter = asyncio.create_task(session.wait_for(ids))
    done, _ = await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
    if waiter in done:
        return waiter.result()
    waiter.cancel()
    exc = runner.exception()
    if exc is not None:
        raise exc
    raise ServerUnreachable(f"lost ComfyUI at {session.client.display_url} while waiting")


def describe_failure(job: Job) -> str:
    err = job.error
    if err is None:
        return f"comfytui: job {job.prompt_id} {job.state}"
    class_type, title = job.title_of(err.node_id)
    who = f"node {err.node_id} ({title or err.node_type or class_type})" if err.node_id else "the job"
    lines = [f"comfytui: job {job.prompt_id} failed in {who}: {err.exception_type}: {err.exception_message}"]
    if err.traceback:
        lines.append("".join(err.traceback).rstrip())
    return "\n".join(lines)
