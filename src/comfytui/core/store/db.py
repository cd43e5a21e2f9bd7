"""The job store: one SQLite file in the state dir, shared by every comfytui process.

Each job is one row, keyed by its id (the ComfyUI prompt_id, a canonical lowercase UUID4, given
before the job is ever sent). A row lives through: ``queued`` (in comfytui's local queue, maybe
``held``) -> ``pending`` / ``running`` (on the server) -> ``success`` | ``error`` | ``interrupted``
| ``cancelled`` | ``lost``. Foreign jobs (other clients) are stored when seen, for the history.

Why SQLite: a kill -9 at any point leaves either the old or the new row (WAL, one transaction per
change); the dashboard, ``run`` and the daemon share the file (``busy_timeout``); indexes keep a
10,000-job history fast. The file is 0600 in a 0700 directory: prompts may hold private text.

The API is synchronous and thread-safe; async callers use ``await store.call(fn, ...)`` (one
writer thread per store, so calls made from one process keep their order) or ``store.defer``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from comfytui.core import paths
from comfytui.core.config import redact_url
from comfytui.core.errors import InputError
from comfytui.core.processes import pid_alive

T = TypeVar("T")

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

LOCAL = "queued"
ON_SERVER = ("pending", "running")
FINISHED = ("success", "error", "interrupted", "cancelled", "lost")
STATES = (LOCAL, *ON_SERVER, *FINISHED)
PRIORITIES = {"high": 0, "normal": 1, "low": 2}
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    server TEXT NOT NULL,
    state TEXT NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    position REAL,
    priority INTEGER NOT NULL DEFAULT 1,
    label TEXT NOT NULL DEFAULT '',
    batch TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    workflow TEXT,
    prompt TEXT NOT NULL DEFAULT '{}',
    params TEXT NOT NULL DEFAULT '[]',
    seeds TEXT NOT NULL DEFAULT '[]',
    client_id TEXT NOT NULL DEFAULT '',
    foreign_job INTEGER NOT NULL DEFAULT 0,
    number REAL,
    created_at REAL,
    dispatched_at REAL,
    started_at REAL,
    ended_at REAL,
    outputs TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    requeued_from TEXT
);
CREATE INDEX IF NOT EXISTS jobs_run_order ON jobs(server, state, priority, position);
CREATE INDEX IF NOT EXISTS jobs_history ON jobs(ended_at);
CREATE INDEX IF NOT EXISTS jobs_state_history ON jobs(state, ended_at);
CREATE INDEX IF NOT EXISTS jobs_server_history ON jobs(server, ended_at);
-- jobs_for (the session's restore at start-up): 10,000 rows read in order instead of sorted
CREATE INDEX IF NOT EXISTS jobs_server_sent ON jobs(server, coalesce(dispatched_at, created_at));
CREATE TABLE IF NOT EXISTS queue_control (server TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS dispatchers (
    server TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, token TEXT NOT NULL,
    started_at REAL NOT NULL, heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS collected (
    hash TEXT PRIMARY KEY, path TEXT NOT NULL, job_id TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_JSON_COLUMNS = {"workflow", "prompt", "params", "seeds", "outputs", "error"}


def server_key(url: str) -> str:
    """How a server is named in the store: its URL without a trailing slash or a password."""
    return redact_url(url.rstrip("/"))


def new_job_id() -> str:
    return str(uuid.uuid4())


@dataclass
class StoredJob:
    id: str
    server: str
    state: str = LOCAL
    held: bool = False
    position: float | None = None
    priority: int = PRIORITIES["normal"]
    label: str = ""
    batch: str = ""
    source: str = ""
    """Where the workflow came from: a file path (or empty when embedded only)."""
    workflow: dict[str, Any] | None = None
    """The editor workflow, embedded in outputs' PNG info."""
    prompt: dict[str, Any] = field(default_factory=dict, repr=False)
    params: list[str] = field(default_factory=list)
    """The ``--set`` overrides the user gave."""
    seeds: list[int] = field(default_factory=list)
    client_id: str = ""
    foreign: bool = False
    number: float | None = None
    created_at: float | None = None
    dispatched_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    outputs: list[list[str]] = field(default_factory=list)
    """``[filename, subfolder, type, node_id, kind]`` per file, as ``/view`` addresses it."""
    error: dict[str, Any] | None = None
    requeued_from: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def priority_name(self) -> str:
        return PRIORITY_NAMES.get(self.priority, "normal")

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)

    def to_json(self, *, with_prompt: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "server": self.server,
            "state": self.state,
            "held": self.held,
            "priority": self.priority_name,
            "label": self.label,
            "batch": self.batch,
            "source": self.source,
            "foreign": self.foreign,
            "client_id": self.client_id,
            "seeds": self.seeds,
            "params": self.params,
            "created_at": self.created_at,
            "dispatched_at": self.dispatched_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "outputs": [dict(zip(("filename", "subfolder", "type", "node_id", "kind"), o, strict=False)) for o in self.outputs],
            "error": self.error,
            "requeued_from": self.requeued_from,
        }
        if with_prompt:
            out["prompt"] = self.prompt
            out["workflow"] = self.workflow
        return out


_COLUMNS = [f.name if f.name != "foreign" else "foreign_job" for f in fields(StoredJob)]


def _row_to_job(row: sqlite3.Row) -> StoredJob:
    values: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row has keys(), not iteration over names
        value = row[key]
        if key in _JSON_COLUMNS and value is not None:
            value = json.loads(value)
        if key == "foreign_job":
            key, value = "foreign", bool(value)
        elif key == "held":
            value = bool(value)
        values[key] = value
    return StoredJob(**values)


def _job_values(job: StoredJob) -> list[Any]:
    out: list[Any] = []
    for f in fields(StoredJob):
        value = getattr(job, f.name)
        if f.name in _JSON_COLUMNS:
            value = None if value is None else json.dumps(value, separators=(",", ":"), default=str)
        elif isinstance(value, bool):
            value = int(value)
        out.append(value)
    return out


@dataclass(frozen=True)
class DispatcherLock:
    server: str
    pid: int
    host: str
    token: str
    started_at: float
    heartbeat: float

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, heartbeat {time.time() - self.heartbeat:.0f}s ago"


@dataclass(frozen=True)
class HistoryFilter:
    status: Sequence[str] = ()
    text: str = ""
    """Matched against id, label, batch and source (case-insensitive)."""
    server: str | None = None
    since: float | None = None
    until: float | None = None
    foreign: bool | None = None
    limit: int = 100
    offset: int = 0


def _history_where(q: HistoryFilter) -> tuple[str, list[Any]]:
    """``Store.history``'s WHERE clause for ``q`` and its parameters."""
    clauses = ["state IN ('success','error','interrupted','cancelled','lost')"]
    params: list[Any] = []
    if q.status:
        clauses = [f"state IN ({','.join('?' * len(q.status))})"]
        params += list(q.status)
    if q.server:
        clauses.append("server = ?")
        params.append(server_key(q.server))
    if q.since is not None:
        clauses.append("ended_at >= ?")
        params.append(q.since)
    if q.until is not None:
        clauses.append("ended_at < ?")
        params.append(q.until)
    if q.foreign is not None:
        clauses.append("foreign_job = ?")
        params.append(int(q.foreign))
    if q.text:
        clauses.append("(id LIKE ? ESCAPE '\\' OR label LIKE ? ESCAPE '\\' OR batch LIKE ? ESCAPE '\\' OR source LIKE ? ESCAPE '\\')")
        like = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [like] * 4
    return " AND ".join(clauses), params


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.state_dir() / "comfytui.db"
        self._lock = threading.RLock()
        self._writes = 0
        """Transactions committed through this Store (``data_version`` counts only other connections')."""
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="comfytui-store")
        self._conn = self._open()
        self._migrate_journal()

    # -- opening

    def _open(self) -> sqlite3.Connection:
        directory = self.path.parent
        paths.ensure(directory)
        os.chmod(directory, 0o700)
        # Created 0600 before SQLite opens it; SQLite gives the -wal/-shm files the same mode.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # in WAL: durable against a killed process
        conn.execute("PRAGMA foreign_keys=ON")
        with self._tx(conn):
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        return conn

    class _Tx:
        def __init__(self, conn: sqlite3.Connection, lock: threading.RLock, store: Store | None = None) -> None:
            self.conn, self.lock, self.store = conn, lock, store

        def __enter__(self) -> sqlite3.Connection:
            self.lock.acquire()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.lock.release()
                raise
            return self.conn

        def __exit__(self, kind: object, *rest: object) -> None:
            try:
                self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
                if kind is None and self.store is not None:
                    self.store._writes += 1
            finally:
                self.lock.release()

    def _tx(self, conn: sqlite3.Connection | None = None) -> Store._Tx:
        return Store._Tx(conn or self._conn, self._lock, self)

    def change_mark(self) -> tuple[int, int]:
        """Cheap "has anything been written?" token: equal marks mean the database is unchanged
        (SQLite's ``data_version`` for other connections' commits, our own commit count for ours).
        A poller compares it before re-reading."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0]), self._writes

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            self._conn.close()

    # -- async plumbing

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store method on the store's thread (never block the event loop on SQLite)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def defer(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        """Queue a write on the store's thread without waiting (from the event loop)."""
        return self._executor.submit(fn, *args, **kwargs)

    def flush(self) -> None:
        """Wait for every deferred write queued so far (a no-op on the store's own thread)."""
        if threading.current_thread().name.startswith("comfytui-store"):
            return
        self._executor.submit(lambda: None).result()

    # -- the jsonl journal of earlier versions

    def _migrate_journal(self) -> None:
        old = self.path.parent / "jobs.jsonl"
        if not old.exists():
            return
        done = self._query("SELECT value FROM meta WHERE key = 'migrated_jsonl'")
        if not done:
            jobs = read_jsonl_journal(old)
            with self._tx() as conn:
                for job in jobs:
                    job.server = server_key(job.server)
                    conn.execute(
                        f"INSERT OR IGNORE INTO jobs({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                        _job_values(job),
                    )
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('migrated_jsonl', ?)", (str(len(jobs)),))
        # After the commit: a crash before the rename only means the rename is done next time.
        os.replace(old, old.with_name(old.name + ".migrated"))

    # -- jobs: reading

    def get(self, job_id: str) -> StoredJob | None:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _row_to_job(rows[0]) if rows else None

    def resolve(self, prefix: str) -> StoredJob:
        """The one job whose id starts with ``prefix`` (a unique prefix, as the CLI accepts)."""
        prefix = prefix.strip().lower()
        if len(prefix) < 4:
            raise InputError(f"job id {prefix!r} is too short: give at least 4 characters")
        rows = self._query("SELECT * FROM jobs WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "\uffff"))
        if not rows:
            raise InputError(f"no job with an id starting {prefix!r}")
        if len(rows) > 1:
            raise InputError(f"job id {prefix!r} is ambiguous: give more characters")
        return _row_to_job(rows[0])

    def queue_rows(self, server: str | None = None) -> list[StoredJob]:
        """The run order: jobs on the server (running first, then pending in dispatch order), then the
        local queue by priority and position (held ones keep their place)."""
        where, params = ("AND server = ?", [server_key(server)]) if server else ("", [])
        rows = self._query(
            f"SELECT * FROM jobs WHERE state IN ('running','pending','queued') {where} "
            "ORDER BY CASE state WHEN 'running' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, "
            "CASE WHEN state = 'queued' THEN priority ELSE 0 END, "
            "CASE WHEN state = 'queued' THEN position ELSE coalesce(number, dispatched_at, created_at) END",
            params,
        )
        return [_row_to_job(r) for r in rows]

    def next_to_dispatch(self, server: str) -> StoredJob | None:
        rows = self._query(
            "SELECT * FROM jobs WHERE server = ? AND state = 'queued' AND held = 0 ORDER BY priority, position LIMIT 1",
            (server_key(server),),
        )
        return _row_to_job(rows[0]) if rows else None

    def on_server(self, server: str) -> list[StoredJob]:
        rows = self._query(
            "SELECT * FROM jobs WHERE server = ? AND state IN ('pending','running') AND foreign_job = 0 ORDER BY dispatched_at",
            (server_key(server),),
        )
        return [_row_to_job(r) for r in rows]

    def history(self, query: HistoryFilter | None = None) -> list[StoredJob]:
        """Finished jobs, newest first."""
        q = query or HistoryFilter()
        where, params = _history_where(q)
        sql = f"SELECT * FROM jobs WHERE {where} ORDER BY ended_at DESC LIMIT ? OFFSET ?"
        return [_row_to_job(r) for r in self._query(sql, [*params, q.limit, q.offset])]

    def history_count(self, query: HistoryFilter | None = None) -> int:
        """How many finished jobs ``query`` matches, whatever its limit and offset."""
        where, params = _history_where(query or HistoryFilter())
        return int(self._query(f"SELECT count(*) FROM jobs WHERE {where}", params)[0][0])

    def jobs_for(self, server: str, *, dispatched_only: bool = True, limit: int = 1000) -> list[StoredJob]:
        """Our jobs that reached the server, oldest first (what a session restores)."""
        extra = "AND dispatched_at IS NOT NULL AND foreign_job = 0" if dispatched_only else ""
        rows = self._query(
            f"SELECT * FROM (SELECT * FROM jobs WHERE server = ? {extra} ORDER BY coalesce(dispatched_at, created_at) DESC LIMIT ?) "
            "ORDER BY coalesce(dispatched_at, created_at)",
            (server_key(server), limit),
        )
        return [_row_to_job(r) for r in rows]

    def latest_from_source(self, source: str) -> StoredJob | None:
        """The newest job queued from this workflow file (its seeds are the last ones used)."""
        rows = self._query("SELECT * FROM jobs WHERE source = ? ORDER BY created_at DESC LIMIT 1", (source,))
        return _row_to_job(rows[0]) if rows else None

    def identical_success(self, server: str, prompt: dict[str, Any], scan: int = 200) -> tuple[StoredJob | None, bool]:
        """A recent successful job on ``server`` that ran exactly ``prompt``, and whether it is the
        server's latest finished job (then ComfyUI still holds every node's output in its cache)."""
        rows = self._query(
            "SELECT * FROM jobs WHERE server = ? AND state IN ('success','error','interrupted') "
            "ORDER BY ended_at DESC LIMIT ?",
            (server_key(server), scan),
        )
        for index, row in enumerate(rows):
            job = _row_to_job(row)
            if job.state == "success" and job.prompt == prompt:
                return job, index == 0
        return None, False

    def count(self, state: str | None = None) -> int:
        if state is None:
            return int(self._query("SELECT count(*) FROM jobs")[0][0])
        return int(self._query("SELECT count(*) FROM jobs WHERE state = ?", (state,))[0][0])

    # -- jobs: writing

    def add(self, jobs: Iterable[StoredJob], *, front: bool = False) -> list[StoredJob]:
        """Put new jobs in the local queue, at the end of their priority (or the front), in the given order."""
        jobs = list(jobs)
        with self._tx() as conn:
            for job in jobs:
                job.server = server_key(job.server)
                job.state = job.state or LOCAL
                if job.created_at is None:
                    job.created_at = time.time()
                if job.state == LOCAL and job.position is None:
                    bound = conn.execute(
                        f"SELECT {'min' if front else 'max'}(position) FROM jobs WHERE server = ? AND state = 'queued' AND priority = ?",
                        (job.server, job.priority),
                    ).fetchone()[0]
                    job.position = (bound or 0.0) + (-1.0 if front else 1.0)
                conn.execute(
                    f"INSERT INTO jobs({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})", _job_values(job)
                )
            if front:
                # Front insertion went backwards: flip these jobs so the first given runs first.
                firsts = sorted((j.position for j in jobs if j.state == LOCAL), key=float)
                for job, position in zip([j for j in jobs if j.state == LOCAL], firsts, strict=True):
                    job.position = position
                    conn.execute("UPDATE jobs SET position = ? WHERE id = ?", (position, job.id))
        return jobs

    def upsert(self, job: StoredJob) -> None:
        """Insert or fully replace a row (a job learnt from the server)."""
        job.server = server_key(job.server)
        with self._tx() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO jobs({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                _job_values(job),
            )

    def update(self, job_id: str, *, only_if_state: Sequence[str] | None = None, **changes: Any) -> bool:
        """Change some columns of one job; with ``only_if_state``, only when it is in one of those states."""
        if not changes:
            return False
        sets, params = [], []
        for key, value in changes.items():
            column = "foreign_job" if key == "foreign" else key
            if key in _JSON_COLUMNS and value is not None:
                value = json.dumps(value, separators=(",", ":"), default=str)
            elif isinstance(value, bool):
                value = int(value)
            sets.append(f"{column} = ?")
            params.append(value)
        sql = f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?"
        params.append(job_id)
        if only_if_state:
            sql += f" AND state IN ({','.join('?' * len(only_if_state))})"
            params += list(only_if_state)
        with self._tx() as conn:
            return conn.execute(sql, params).rowcount > 0

    def delete(self, job_ids: Iterable[str]) -> int:
        ids = list(job_ids)
        with self._tx() as conn:
            return sum(conn.execute("DELETE FROM jobs WHERE id = ?", (i,)).rowcount for i in ids)

    def move(self, job_id: str, where: str) -> StoredJob:
        """Reorder a local job within its priority: ``top``, ``bottom``, ``up`` or ``down``."""
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            job = _row_to_job(row) if row else None
            if job is None or job.state != LOCAL:
                raise InputError(f"job {job_id[:8]} is not in the local queue: only local jobs can be reordered")
            peers = [
                (r["id"], r["position"])
                for r in conn.execute(
                    "SELECT id, position FROM jobs WHERE server = ? AND state = 'queued' AND priority = ? ORDER BY position",
                    (job.server, job.priority),
                )
            ]
            index = next(i for i, (pid, _) in enumerate(peers) if pid == job_id)
            if where == "top":
                position = peers[0][1] - 1.0 if index else job.position
            elif where == "bottom":
                position = peers[-1][1] + 1.0 if index < len(peers) - 1 else job.position
            elif where in ("up", "down"):
                other = index - 1 if where == "up" else index + 1
                if 0 <= other < len(peers):
                    # swap places with the neighbour
                    conn.execute("UPDATE jobs SET position = ? WHERE id = ?", (job.position, peers[other][0]))
                    position = peers[other][1]
                else:
                    position = job.position
            else:
                raise InputError(f"unknown move {where!r}: top, bottom, up or down")
            conn.execute("UPDATE jobs SET position = ? WHERE id = ?", (position, job_id))
            job.position = position
            return job

    def take_place(self, job_ids: Sequence[str], of: str) -> int | None:
        """The local jobs ``job_ids`` (in this order) take the place of the local job ``of`` (its
        priority, between it and the next job), and ``of`` is cancelled: an edited held job runs
        where the original would have. One transaction, so a dispatcher never sees both or
        neither. Returns how many moved (the ones sent meanwhile or to another server stay where
        they are); None, and nothing changed, when ``of`` is no longer in the local queue."""
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (of,)).fetchone()
            old = _row_to_job(row) if row else None
            if old is None or old.state != LOCAL:
                return None
            ids = [i for i in job_ids if i != of]
            marks = ",".join("?" * len(ids))
            movable = {
                r["id"] for r in conn.execute(
                    f"SELECT id FROM jobs WHERE id IN ({marks}) AND state = 'queued' AND server = ?", (*ids, old.server)
                )
            } if ids else set()
            ids = [i for i in ids if i in movable]
            after = conn.execute(
                "SELECT min(position) FROM jobs WHERE server = ? AND state = 'queued' AND priority = ? AND position > ?"
                f" AND id NOT IN ({','.join('?' * (len(ids) + 1))})",
                (old.server, old.priority, old.position, of, *ids),
            ).fetchone()[0]
            step = ((after - old.position) if after is not None else 1.0) / (len(ids) + 1)
            for n, job_id in enumerate(ids, start=1):
                conn.execute(
                    "UPDATE jobs SET priority = ?, position = ? WHERE id = ?", (old.priority, old.position + n * step, job_id)
                )
            conn.execute("UPDATE jobs SET state = 'cancelled', ended_at = ? WHERE id = ?", (time.time(), of))
            return len(ids)

    def set_priority(self, job_id: str, level: str) -> StoredJob:
        if level not in PRIORITIES:
            raise InputError(f"unknown priority {level!r}: high, normal or low")
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            job = _row_to_job(row) if row else None
            if job is None or job.state != LOCAL:
                raise InputError(f"job {job_id[:8]} is not in the local queue: only local jobs have a priority")
            bound = conn.execute(
                "SELECT max(position) FROM jobs WHERE server = ? AND state = 'queued' AND priority = ?",
                (job.server, PRIORITIES[level]),
            ).fetchone()[0]
            job.priority, job.position = PRIORITIES[level], (bound or 0.0) + 1.0
            conn.execute("UPDATE jobs SET priority = ?, position = ? WHERE id = ?", (job.priority, job.position, job_id))
            return job

    # -- queue control

    def paused(self, server: str) -> bool:
        rows = self._query("SELECT paused FROM queue_control WHERE server = ?", (server_key(server),))
        return bool(rows and rows[0][0])

    def set_paused(self, server: str, paused: bool) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO queue_control(server, paused) VALUES (?, ?) ON CONFLICT(server) DO UPDATE SET paused = excluded.paused",
                (server_key(server), int(paused)),
            )

    # -- the dispatcher lock

    def dispatcher(self, server: str, stale_after_s: float = 15.0) -> DispatcherLock | None:
        """The live dispatcher of ``server``, or None (none, or its holder is dead or silent)."""
        rows = self._query("SELECT * FROM dispatchers WHERE server = ?", (server_key(server),))
        if not rows:
            return None
        lock = DispatcherLock(**dict(rows[0]))
        if _is_stale(lock, stale_after_s):
            return None
        return lock

    def acquire_dispatcher(self, server: str, token: str, stale_after_s: float = 15.0) -> DispatcherLock | None:
        """Take the lock for this process; returns the holder that keeps it from us, or None on success."""
        key = server_key(server)
        now = time.time()
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM dispatchers WHERE server = ?", (key,)).fetchone()
            if row is not None:
                lock = DispatcherLock(**dict(row))
                if lock.token != token and not _is_stale(lock, stale_after_s):
                    return lock
            conn.execute(
                "INSERT OR REPLACE INTO dispatchers(server, pid, host, token, started_at, heartbeat) VALUES (?,?,?,?,?,?)",
                (key, os.getpid(), socket.gethostname(), token, now, now),
            )
        return None

    def heartbeat(self, server: str, token: str) -> bool:
        """Refresh our lock; False when we lost it (taken over as stale)."""
        with self._tx() as conn:
            return conn.execute(
                "UPDATE dispatchers SET heartbeat = ? WHERE server = ? AND token = ?", (time.time(), server_key(server), token)
            ).rowcount > 0

    def release_dispatcher(self, server: str, token: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM dispatchers WHERE server = ? AND token = ?", (server_key(server), token))

    # -- collected outputs

    def collected_path(self, digest: str) -> str | None:
        rows = self._query("SELECT path FROM collected WHERE hash = ?", (digest,))
        return rows[0][0] if rows else None

    def record_collected(self, digest: str, path: str, job_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO collected(hash, path, job_id, created_at) VALUES (?,?,?,?)",
                (digest, path, job_id, time.time()),
            )


def read_jsonl_journal(path: Path) -> list[StoredJob]:
    """Jobs in submission order, merged from their records; a corrupt (torn) line is skipped."""
    merged: dict[str, StoredJob] = {}
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        return []
    with handle:
        for line in handle:
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(raw, dict) or "prompt_id" not in raw:
                continue
            pid = str(raw["prompt_id"])
            job = merged.get(pid) or StoredJob(id=pid, server=str(raw.get("server") or ""), state="pending")
            if raw.get("type") == "submitted":
                job.label = raw.get("label") or ""
                job.batch = raw.get("batch") or ""
                job.client_id = raw.get("client_id") or ""
                job.created_at = raw.get("created_at")
                job.dispatched_at = job.created_at or 0.0
                job.prompt = raw.get("prompt") or {}
            elif raw.get("type") == "finished":
                job.state = raw.get("state") or "lost"
                job.started_at = raw.get("started_at")
                job.ended_at = raw.get("ended_at")
                job.outputs = raw.get("outputs") or []
                job.error = raw.get("error")
                if job.dispatched_at is None:
                    job.dispatched_at = job.started_at or job.ended_at or 0.0
            merged[pid] = job
    return list(merged.values())


def _is_stale(lock: DispatcherLock, stale_after_s: float) -> bool:
    if time.time() - lock.heartbeat > stale_after_s:
        return True
    return lock.host == socket.gethostname() and not pid_alive(lock.pid)


_STORES: dict[Path, Store] = {}
_STORES_LOCK = threading.Lock()


def open_store(path: Path | None = None) -> Store:
    """The process's one Store for ``path`` (default: ``state_dir()/comfytui.db``)."""
    target = (path or paths.state_dir() / "comfytui.db").resolve()
    with _STORES_LOCK:
        store = _STORES.get(target)
        if store is None or not target.exists():
            store = Store(target)
            _STORES[target] = store
        return store
