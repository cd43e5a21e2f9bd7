"""How the store's history queries scale: 10,000 finished jobs beside an empty store.

Prints the time of each operation on both and the ratio. Not a test; run:
    .venv/bin/python bench/history_store.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from comfytui.core.store.db import _COLUMNS, HistoryFilter, Store, StoredJob, _job_values, new_job_id

SERVER = "http://127.0.0.1:8188"
N = 10_000


def fill(store: Store, n: int) -> None:
    now = time.time()
    rows = [
        StoredJob(id=new_job_id(), server=SERVER if i % 3 else "http://other:8188", state=("success", "error", "lost")[i % 3],
                  label=f"workflow {i}", prompt={str(k): {"class_type": "KSampler", "inputs": {"seed": i}} for k in range(8)},
                  outputs=[[f"out_{i}.png", "", "output", "9", "images"]], ended_at=now - i * 60, started_at=now - i * 60 - 5)
        for i in range(n)
    ]
    with store._tx() as conn:
        conn.executemany(f"INSERT INTO jobs({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                         [_job_values(r) for r in rows])


OPERATIONS = {
    "list newest 100": lambda s: s.history(HistoryFilter(limit=100)),
    "filter status=error": lambda s: s.history(HistoryFilter(status=("error",), limit=100)),
    "filter server": lambda s: s.history(HistoryFilter(server="http://other:8188", limit=100)),
    "filter since 1 day": lambda s: s.history(HistoryFilter(since=time.time() - 86400, limit=100)),
    "text search": lambda s: s.history(HistoryFilter(text="workflow 99", limit=100)),
    "queue rows": lambda s: s.queue_rows(SERVER),
    "count all": lambda s: s.count(),
}


def timed(store: Store, op, rounds: int = 50) -> float:
    op(store)
    started = time.perf_counter()
    for _ in range(rounds):
        op(store)
    return (time.perf_counter() - started) / rounds


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        empty = Store(Path(tmp) / "empty" / "db")
        full = Store(Path(tmp) / "full" / "db")
        started = time.perf_counter()
        fill(full, N)
        print(f"filled {N} finished jobs in {time.perf_counter() - started:.2f}s")
        print(f"{'operation':<22} {'empty':>10} {'10k jobs':>10} {'ratio':>8}")
        for name, op in OPERATIONS.items():
            a, b = timed(empty, op), timed(full, op)
            print(f"{name:<22} {a * 1000:9.3f}ms {b * 1000:9.3f}ms {b / a if a else float('inf'):7.1f}x")
        empty.close()
        full.close()


if __name__ == "__main__":
    main()
