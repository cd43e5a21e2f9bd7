"""Which container a host PID runs in, and that container's name.

NVML reports host PIDs. ``/proc/<pid>/cgroup`` gives the container id (podman, docker, CRI-O,
containerd; cgroup v1 and v2); ``PodmanNames`` turns ids into names through the podman API
socket (podman-py, the socket comfytui already manages containers through), never by running
``podman ps``. ``feed.name_containers`` fills names into a snapshot already taken, so naming a
container never costs a second NVML sample.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_HEX = r"[0-9a-f]"
_CGROUP_PATTERNS = [
    # systemd cgroup manager: libpod-<64hex>.scope (podman), docker-<id>.scope, crio-, cri-containerd-
    re.compile(rf"(?:^|/)(?:libpod|docker|crio|cri-containerd)-(?!conmon-)({_HEX}{{12,64}})(?:\.scope)?(?=/|$)"),
    # cgroupfs manager: /libpod_parent/libpod-<id>, /docker/<id>, .../containers/<id>, kubepods/.../<id>
    re.compile(rf"(?:^|/)(?:libpod_parent/libpod-|docker/|containers/|kubepods[^\n]*/)({_HEX}{{64}})(?=/|$)"),
    # any bare 64-hex path component
    re.compile(rf"(?:^|/)({_HEX}{{64}})(?=/|$)"),
]


def container_id_from_cgroup(text: str) -> str | None:
    """The container id in the contents of a ``/proc/<pid>/cgroup`` file, or None (host process).

    Accepts cgroup v2 (``0::/path``) and v1 (``N:controllers:/path``) lines. The unified (v2)
    line wins; otherwise the first v1 line naming a container. Within a path the deepest
    container-looking component wins; ``libpod-conmon-<id>`` (podman's monitor) is not a container.
    """
    v2: list[str] = []
    v1: list[str] = []
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, _controllers, path = parts
        (v2 if hierarchy == "0" else v1).append(path.strip().lower())
    for path in [*v2, *v1]:
        found = _id_in_path(path)
        if found:
            return found
    return None


def _id_in_path(path: str) -> str | None:
    for pattern in _CGROUP_PATTERNS:
        matches = list(pattern.finditer(path))
        if matches:
            return max(matches, key=lambda m: m.start(1)).group(1)
    return None


def match_container(container_id: str, names: Mapping[str, str]) -> str | None:
    """The name for ``container_id`` in ``names`` (keys may be full or short ids)."""
    if container_id in names:
        return names[container_id]
    for key, name in names.items():
        k = key.lower()
        if len(k) >= 12 and (container_id.startswith(k) or k.startswith(container_id)):
            return name
    return None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def process_name(pid: int, proc_root: Path = Path("/proc")) -> str | None:
    comm = read_text(proc_root / str(pid) / "comm")
    return comm.strip() if comm else None


def parent_pid(pid: int, proc_root: Path = Path("/proc")) -> int | None:
    stat = read_text(proc_root / str(pid) / "stat")
    if not stat:
        return None
    # "pid (comm with spaces) state ppid ..." -- comm may contain ')' so split at the last one
    rest = stat.rsplit(")", 1)[-1].split()
    try:
        return int(rest[1])
    except (IndexError, ValueError):
        return None


def _unix_answers(path: str, timeout: float) -> bool:
    # a cheap connect first: podman-py on a dead socket can hang for its whole HTTP timeout
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(path)
        return True
    except OSError:
        return False


class PodmanNames:
    """``await names()`` → {container id: name} of every podman container, through the API socket.

    ``sockets`` are the candidate URIs in order (``unix:///run/user/1000/podman/podman.sock``...;
    the lifecycle room's ``socket_candidates`` computes them from the config). Returns {} when no
    socket answers, podman-py is missing, or the call takes over ``timeout_s``: naming is a nicety,
    never a reason for a GPU sample to fail. The blocking podman-py calls run in a thread.
    """

    def __init__(self, sockets: Sequence[str], timeout_s: float = 5.0) -> None:
        self.sockets = list(sockets)
        self.timeout_s = timeout_s
        self.last_error: str | None = None
        self._client: Any = None

    def _list_sync(self) -> dict[str, str]:
        try:
            import podman  # late: podman-py pulls in requests
        except ImportError as exc:
            self.last_error = f"podman-py is not installed ({exc})"
            return {}
        candidates = [self._client] if self._client is not None else []
        for uri in self.sockets if not candidates else []:
            if uri.startswith("unix://") and not _unix_answers(uri.removeprefix("unix://"), 1.0):
                continue
            candidates.append(podman.PodmanClient(base_url=uri))
        for client in candidates:
            try:
                containers = client.containers.list(all=True)
            except Exception as exc:  # noqa: BLE001 - any API failure: try the next socket
                self.last_error = f"podman API: {exc}"
                if client is self._client:
                    self._client = None
                client.close()
                continue
            self._client = client
            self.last_error = None
            return {str(c.id): str(c.name) for c in containers if getattr(c, "id", None)}
        if not candidates:
            self.last_error = f"no podman API socket answers (tried {', '.join(self.sockets) or 'none'})"
        return {}

    async def __call__(self) -> dict[str, str]:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._list_sync), self.timeout_s)
        except TimeoutError:
            self.last_error = f"the podman API did not answer in {self.timeout_s:g} s"
            return {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
