"""``Store.change_mark``: what the Queue pane checks each second before re-reading the local queue."""

from __future__ import annotations

from pathlib import Path

from comfytui.core.store.db import Store, StoredJob, new_job_id

SERVER = "http://127.0.0.1:8188"


def test_change_mark_moves_on_any_write_and_only_then(comfytui_home: Path) -> None:
    path = comfytui_home / "state" / "comfytui.db"
    ours, other = Store(path), Store(path)  # another process's connection to the same file
    try:
        mark = ours.change_mark()
        ours.queue_rows(SERVER)
        assert ours.change_mark() == mark  # reads change nothing

        ours.add([StoredJob(id=new_job_id(), server=SERVER, label="ours", prompt={})])
        assert ours.change_mark() != mark  # our own write
        mark = ours.change_mark()

        other.set_paused(SERVER, True)
        assert ours.change_mark() != mark  # another connection's write (SQLite's data_version)
        assert ours.paused(SERVER)
        assert ours.change_mark() == ours.change_mark()
    finally:
        ours.close()
        other.close()
