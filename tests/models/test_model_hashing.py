"""sha256 on demand: sha256sum-identical, chunked with progress, cancellable, cached by (path, size, mtime_ns)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from comfytui.core import paths
from comfytui.core.errors import InputError
from comfytui.core.models.hashing import CHUNK_BYTES, HashCache, HashCancelled, sha256_file, sha256_file_sync


def sha256sum(path: Path) -> str:
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout
    return out.split()[0]


def make(path: Path, size: int) -> Path:
    path.write_bytes(bytes((i * 31 + 7) % 251 for i in range(size)) if size < 1 << 20 else os.urandom(size))
    return path


@pytest.mark.parametrize("size", [0, 1, 4095, CHUNK_BYTES, CHUNK_BYTES + 3])
async def test_matches_sha256sum(tmp_path: Path, size: int) -> None:
    path = make(tmp_path / f"f{size}.bin", size)
    result = await sha256_file(path)
    assert result.sha256 == sha256sum(path)
    assert (result.size, result.cached) == (size, False)
    assert result.path == str(path.absolute())


async def test_progress_is_reported_on_the_loop_thread(tmp_path: Path) -> None:
    path = make(tmp_path / "p.bin", 100_000)
    seen: list[tuple[int, int]] = []
    threads: set[int] = set()

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        threads.add(threading.get_ident())

    result = await sha256_file(path, chunk_bytes=16 * 1024, progress=progress)
    assert result.sha256 == sha256sum(path)
    assert seen[0] == (0, 100_000) and seen[-1] == (100_000, 100_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) == 1 + 7  # start + ceil(100000 / 16384) chunks
    assert threads == {threading.get_ident()}


async def test_cache_hit_miss_and_invalidation(tmp_path: Path, comfytui_home: Path) -> None:
    path = make(tmp_path / "model.safetensors", 50_000)
    cache = HashCache()
    assert cache.path == paths.cache_dir() / "model-hashes.json"
    assert str(cache.path).startswith(str(comfytui_home))
    first = await sha256_file(path, cache=cache)
    assert first.cached is False
    # a fresh cache object (a second run) reads the JSON file
    second = await sha256_file(path, cache=HashCache(), progress=lambda d, t: None)
    assert second.cached is True and second.sha256 == first.sha256
    data = json.loads(cache.path.read_text())
    entry = data["entries"][str(path.absolute())]
    st = path.stat()
    assert (entry["size"], entry["mtime_ns"], entry["sha256"]) == (st.st_size, st.st_mtime_ns, first.sha256)
    # same size, new content and mtime: hashed again
    path.write_bytes(bytes(reversed(path.read_bytes())))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    third = await sha256_file(path, cache=HashCache())
    assert third.cached is False and third.sha256 == sha256sum(path) != first.sha256
    assert HashCache().get(path) == third.sha256


async def test_cache_keeps_entries_written_by_another_process(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache" / "h.json"
    a, b = make(tmp_path / "a.bin", 10), make(tmp_path / "b.bin", 20)
    one, two = HashCache(cache_file), HashCache(cache_file)
    one.get(a), two.get(b)  # both loaded the (empty) file before either wrote
    await sha256_file(a, cache=one)
    await sha256_file(b, cache=two)
    fresh = HashCache(cache_file)
    assert fresh.get(a) == sha256sum(a) and fresh.get(b) == sha256sum(b)
    assert not list(cache_file.parent.glob(".model-hashes-*"))  # no temp files left behind


def test_corrupt_cache_file_is_ignored(tmp_path: Path) -> None:
    cache_file = tmp_path / "h.json"
    cache_file.write_text("{not json")
    path = make(tmp_path / "x.bin", 5)
    result = sha256_file_sync(path, cache=HashCache(cache_file))
    assert result.sha256 == sha256sum(path)
    assert json.loads(cache_file.read_text())["version"] == 1


async def test_cancel_event_stops_the_worker(tmp_path: Path) -> None:
    path = make(tmp_path / "big.bin", 4 << 20)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 64 * 1024:
            cancel.set()

    cache = HashCache(tmp_path / "h.json")
    with pytest.raises(HashCancelled, match="hashing cancelled after"):
        await sha256_file(path, chunk_bytes=16 * 1024, progress=progress, cancel=cancel, cache=cache)
    assert cache.get(path) is None


async def test_task_cancellation_stops_the_thread(tmp_path: Path) -> None:
    path = make(tmp_path / "big.bin", 8 << 20)
    reached = asyncio.Event()
    last = [0]

    def progress(done: int, total: int) -> None:
        last[0] = done
        if done >= 32 * 1024:
            reached.set()

    task = asyncio.create_task(sha256_file(path, chunk_bytes=4096, progress=progress))
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped_at = last[0]
    await asyncio.sleep(0.1)
    assert stopped_at < 8 << 20
    assert last[0] == stopped_at  # the worker is no longer reading


async def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot hash"):
        await sha256_file(tmp_path / "missing.bin")
    with pytest.raises(InputError, match="not a regular file"):
        await sha256_file(tmp_path)
