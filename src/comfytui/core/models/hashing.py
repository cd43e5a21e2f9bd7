"""sha256 of model files on demand: chunked in a thread, with progress, cancellable, cached.

The digest is the same lowercase hex ``sha256sum`` prints. Results are cached in a JSON file
under ``paths.cache_dir()`` keyed by (absolute path, size, mtime_ns): a file that changes in
any of these is hashed again. The cache is written atomically (temp file + rename) and merged
with what is on disk, so two comfytui processes do not lose each other's entries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfytui.core import paths
from comfytui.core.errors import InputError

CHUNK_BYTES = 4 * 1024 * 1024
CACHE_FILE_NAME = "model-hashes.json"
_CACHE_VERSION = 1

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes total); from the event loop's thread in ``sha256_file``."""


class HashCancelled(Exception):
    """Hashing was cancelled through its ``cancel`` event (the asyncio task sees CancelledError)."""


@dataclass(frozen=True)
class HashResult:
    path: str
    """Absolute path of the file."""
    size: int
    mtime_ns: int
    sha256: str
    cached: bool
    """True when the digest came from the cache and the file was not read."""
    seconds: float = 0.0


def _key(path: Path) -> str:
    return str(path.absolute())


class HashCache:
    """The JSON cache of digests; ``path`` defaults to ``cache_dir()/model-hashes.json``."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else paths.cache_dir() / CACHE_FILE_NAME
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] | None = None

    def _read_disk(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
            return {}
        entries = data.get("entries")
        return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}

    def _loaded(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = self._read_disk()
        return self._entries

    def lookup(self, path: str | os.PathLike[str], size: int, mtime_ns: int) -> str | None:
        with self._lock:
            entry = self._loaded().get(_key(Path(path)))
        if entry and entry.get("size") == size and entry.get("mtime_ns") == mtime_ns:
            digest = entry.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                return digest
        return None

    def get(self, path: str | os.PathLike[str]) -> str | None:
        """The cached digest of the file as it is now (stat decides), or None."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return self.lookup(path, st.st_size, st.st_mtime_ns)

    def put(self, path: str | os.PathLike[str], size: int, mtime_ns: int, sha256: str, *, save: bool = True) -> None:
        entry = {"size": size, "mtime_ns": mtime_ns, "sha256": sha256, "hashed_at": time.time()}
        with self._lock:
            self._loaded()[_key(Path(path))] = entry
            if save:
                self._save_locked({_key(Path(path)): entry})

    def save(self) -> None:
        with self._lock:
            self._save_locked({})

    def _save_locked(self, fresh: dict[str, dict[str, Any]]) -> None:
        merged = self._read_disk()
        merged.update(self._loaded())
        merged.update(fresh)
        self._entries = merged
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".model-hashes-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": _CACHE_VERSION, "entries": merged}, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def sha256_file_sync(path: str | os.PathLike[str], *, chunk_bytes: int = CHUNK_BYTES,
                     progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
                     cache: HashCache | None = None) -> HashResult:
    """Hash one file in the calling thread. Raises ``HashCancelled`` when ``cancel`` is set,
    ``InputError`` when the file cannot be read."""
    p = Path(path).absolute()
    try:
        st = os.stat(p)
    except OSError as exc:
        raise InputError(f"{p}: cannot hash: {exc.strerror or exc}") from None
    if not p.is_file():
        raise InputError(f"{p}: cannot hash: not a regular file")
    if cache is not None:
        digest = cache.lookup(p, st.st_size, st.st_mtime_ns)
        if digest:
            if progress:
                progress(st.st_size, st.st_size)
            return HashResult(str(p), st.st_size, st.st_mtime_ns, digest, cached=True)
    started = time.monotonic()
    h = hashlib.sha256()
    done = 0
    buf = bytearray(max(1, chunk_bytes))
    view = memoryview(buf)
    try:
        with open(p, "rb", buffering=0) as f:
            if progress:
                progress(0, st.st_size)
            while True:
                if cancel is not None and cancel.is_set():
                    raise HashCancelled(f"{p}: hashing cancelled after {done} of {st.st_size} bytes")
                n = f.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
                done += n
                if progress:
                    progress(done, max(st.st_size, done))
    except OSError as exc:
        raise InputError(f"{p}: cannot hash: {exc.strerror or exc}") from None
    digest = h.hexdigest()
    after = os.stat(p)
    unchanged = (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns) and done == st.st_size
    if cache is not None and unchanged:  # a file written while we read it is not cached
        cache.put(p, st.st_size, st.st_mtime_ns, digest)
    return HashResult(str(p), done, st.st_mtime_ns, digest, cached=False, seconds=time.monotonic() - started)


async def sha256_file(path: str | os.PathLike[str], *, chunk_bytes: int = CHUNK_BYTES,
                      progress: ProgressCallback | None = None, cache: HashCache | None = None,
                      cancel: threading.Event | None = None) -> HashResult:
    """Hash one file in a worker thread.

    ``progress(done, total)`` runs on the event loop's thread (safe for a UI). Cancelling the
    awaiting task stops the worker at its next chunk; setting ``cancel`` does the same and makes
    this raise ``HashCancelled``. A file unchanged since it was last hashed (same path, size and
    mtime_ns) comes from ``cache`` without being read (``HashResult.cached``).
    """
    loop = asyncio.get_running_loop()
    stop = cancel or threading.Event()
    relay: ProgressCallback | None = None
    if progress is not None:
        callback = progress

        def relay(done: int, total: int) -> None:
            try:
                loop.call_soon_threadsafe(callback, done, total)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                pass

    future = asyncio.ensure_future(asyncio.to_thread(
        sha256_file_sync, path, chunk_bytes=chunk_bytes, progress=relay, cancel=stop, cache=cache
    ))
    try:
        result = await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        try:
            await future
        except (HashCancelled, Exception):
            pass
        raise
    await asyncio.sleep(0)  # let the last progress callback run before the caller sees the result
    return result
