"""The SQLite job store: migration from jobs.jsonl, private files, kill -9 safety, several
processes at once, the local queue's order and the history's filters."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from comfytui.core.comfy.journal import Journal
from comfytui.core.store.db import HistoryFilter, Store, StoredJob, new_job_id

SERVER = "http://127.0.0.1:8188"


def local_jobs(n: int, server: str = SERVER) -> list[StoredJob]:
    return [StoredJob(id=new_job_id(), server=server, label=f"job {i}", prompt={"1": {"class_type": "X"}}) for i in range(n)]


def test_jsonl_journal_is_migrated_once_and_kept_as_a_copy(comfytui_home: Path) -> None:
    state = comfytui_home / "state"
    state.mkdir()
    ok, gone = new_job_id(), new_job_id()
    lines = [
        {"type": "submitted", "prompt_id": ok, "server": SERVER, "label": "kept", "client_id": "comfytui-abc",
         "created_at": 10.0, "prompt": {"1": {"class_type": "X"}}},
        {"type": "finished", "prompt_id": ok, "server": SERVER, "state": "success", "started_at": 11.0,
         "ended_at": 12.0, "outputs": [["a.png", "", "output", "9", "images"]], "error": None},
        {"type": "submitted", "prompt_id": gone, "server": SERVER, "label": "doomed", "client_id": "comfytui-abc",
         "created_at": 13.0, "prompt": {}},
    ]
    (state / "jobs.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn", encoding="utf-8")
    store = Store()
    assert not (state / "jobs.jsonl").exists() and (state / "jobs.jsonl.migrated").exists()
    kept = store.get(ok)
    assert kept is not None and kept.state == "success" and kept.label == "kept" and kept.outputs[0][0] == "a.png"
    records = {r.prompt_id: r for r in Journal(store=store).records(SERVER)}
    assert records[ok].state == "success" and records[gone].state is None, "unfinished: the resync decides"
    assert records[ok].to_job("comfytui-").duration_s == 1.0
    store.close()
    again = Store()
    assert again.count() == 2, "not migrated twice"
    again.close()


def test_store_files_are_private(comfytui_home: Path) -> None:
    store = Store()
    store.add(local_jobs(1))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    for extra in store.path.parent.glob("comfytui.db-*"):
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra
    store.close()


def test_server_urls_are_stored_without_credentials(tmp_path: Path) -> None:
    store = Store(tmp_path / "s" / "db")
    (job,) = store.add(local_jobs(1, "http://user:secret@host:8188/"))
    assert store.get(job.id).server == "http://user:****@host:8188"
    assert b"secret" not in store.path.read_bytes()
    store.close()


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from comfytui.core.store.db import Store, StoredJob, new_job_id
    store = Store(Path(sys.argv[1]))
    print("ready", flush=True)
    i = 0
    while True:
        store.add([StoredJob(id=new_job_id(), server="http://s", label=f"w{i}", prompt={"n": "x" * 2000})
                   for _ in range(5)])
        store.update(store.queue_rows("http://s")[0].id, held=True)
        i += 1
""")


def test_kill9_in_the_middle_of_writes_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "state" / "comfytui.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writers = [subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for proc in writers:
            assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # two processes writing the same file at once (busy_timeout)
    finally:
        for proc in writers:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    store = Store(path)
    assert store._query("PRAGMA integrity_check")[0][0] == "ok"
    count = store.count()
    assert count > 0 and count % 5 == 0, "every batch of five landed whole or not at all"
    assert all(json.loads(json.dumps(j.prompt))["n"] == "x" * 2000 for j in store.queue_rows("http://s"))
    store.close()


def test_local_queue_order_moves_priorities_and_holds(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    a, b, c = store.add(local_jobs(3))
    order = lambda: [j.id for j in store.queue_rows(SERVER)]  # noqa: E731
    assert order() == [a.id, b.id, c.id]
    store.move(c.id, "top")
    assert order() == [c.id, a.id, b.id]
    store.move(c.id, "down")
    assert order() == [a.id, c.id, b.id]
    store.move(a.id, "bottom")
    assert order() == [c.id, b.id, a.id]
    store.set_priority(a.id, "high")
    assert order() == [a.id, c.id, b.id]
    store.update(a.id, held=True)
    assert store.next_to_dispatch(SERVER).id == c.id, "a held job keeps its place but is skipped"
    (front,) = store.add(local_jobs(1), front=True)
    assert order()[1] == front.id, "at the front of its priority"
    assert store.resolve(c.id[:6]).id == c.id
    store.close()


def test_an_edited_held_job_takes_the_place_of_the_original(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    a, b, c, d = store.add(local_jobs(4))
    store.set_priority(b.id, "high")
    store.set_priority(c.id, "high")  # high: b, c; normal: a, d
    store.update(b.id, held=True)
    order = lambda: [j.id for j in store.queue_rows(SERVER)]  # noqa: E731
    assert order() == [b.id, c.id, a.id, d.id]
    # the form queued two edited copies of b at the end (normal priority)
    e1, e2 = store.add(local_jobs(2))
    assert store.take_place([e1.id, e2.id], of=b.id) == 2
    assert order() == [e1.id, e2.id, c.id, a.id, d.id], "the copies run where b would have, in their order"
    assert store.get(b.id).state == "cancelled"
    assert store.next_to_dispatch(SERVER).id == e1.id
    # the original already left the local queue: nothing moves
    (late,) = store.add(local_jobs(1))
    assert store.take_place([late.id], of=b.id) is None
    assert order()[-1] == late.id
    store.close()


def test_history_filters_by_status_text_server_and_date(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    now = time.time()
    for i, state in enumerate(["success", "error", "success", "lost"]):
        job = StoredJob(id=new_job_id(), server=SERVER if i < 3 else "http://other", state=state,
                        label=f"cat {i}" if i % 2 else f"dog {i}", ended_at=now - i * 3600)
        store.upsert(job)
    assert [j.label for j in store.history()] == ["dog 0", "cat 1", "dog 2", "cat 3"]
    assert [j.label for j in store.history(HistoryFilter(status=("success",)))] == ["dog 0", "dog 2"]
    assert [j.label for j in store.history(HistoryFilter(text="cat"))] == ["cat 1", "cat 3"]
    assert [j.label for j in store.history(HistoryFilter(server="http://other"))] == ["cat 3"]
    assert [j.label for j in store.history(HistoryFilter(since=now - 1.5 * 3600))] == ["dog 0", "cat 1"]
    store.close()


def test_one_dispatcher_per_server_and_a_dead_holder_is_stale(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    assert store.acquire_dispatcher(SERVER, "mine") is None
    holder = store.acquire_dispatcher(SERVER, "theirs")
    assert holder is not None and holder.pid == os.getpid(), "the second one is told who holds it"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store._conn.execute("UPDATE dispatchers SET pid = ?", (dead.pid,))
    assert store.dispatcher(SERVER) is None, "its pid is gone: stale"
    assert store.acquire_dispatcher(SERVER, "theirs") is None
    assert not store.heartbeat(SERVER, "mine"), "the old holder learns it lost the lock"
    store.close()


@pytest.mark.parametrize("n", [10_000])
def test_ten_thousand_finished_jobs_list_and_filter_fast(tmp_path: Path, n: int) -> None:
    store = Store(tmp_path / "db")
    now = time.time()
    rows = [StoredJob(id=new_job_id(), server=SERVER, state="success" if i % 7 else "error", label=f"wf {i}",
                      prompt={"1": {"class_type": "X", "inputs": {"seed": i}}}, ended_at=now - i) for i in range(n)]
    with store._tx() as conn:
        from comfytui.core.store.db import _COLUMNS, _job_values

        conn.executemany(f"INSERT INTO jobs({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                         [_job_values(r) for r in rows])
    started = time.perf_counter()
    for _ in range(10):
        assert len(store.history(HistoryFilter(limit=100))) == 100
        assert len(store.history(HistoryFilter(status=("error",), limit=50))) == 50
        assert store.history(HistoryFilter(text="wf 9999", limit=5))[0].label == "wf 9999"
    per_round = (time.perf_counter() - started) / 10
    assert per_round < 0.25, f"listing and filtering took {per_round:.3f}s per round"
    store.close()
