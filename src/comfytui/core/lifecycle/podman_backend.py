"""``PodmanBackend``: the ComfyUI container through the podman API socket (podman-py).

podman-py blocks, so every call runs in a worker thread (``asyncio.to_thread``); endless streams
(logs that follow, pulls) run in daemon threads that closing the iterator shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import struct
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from comfytui.core.config import Config, ContainerSettings
from comfytui.core.errors import LifecycleError
from comfytui.core.lifecycle._threads import iterate_in_thread, shutdown_response
from comfytui.core.lifecycle.linebuf import LineSplitter
from comfytui.core.lifecycle.preflight import (
    check_mounts,
    check_port,
    check_selinux,
    check_socket_error,
    container_gpu_checks,
)
from comfytui.core.lifecycle.remote import SshTunnel, is_connection_name, is_remote, resolve_connection
from comfytui.core.lifecycle.spec import ContainerSpec, detect_gpu, split_image_ref
from comfytui.core.lifecycle.types import (
    MANAGED_LABEL,
    SPEC_HASH_LABEL,
    Change,
    LogLine,
    MountInfo,
    PortBinding,
    PreflightCheck,
    PullProgress,
    ServiceState,
    ServiceStatus,
)

T = TypeVar("T")

SOCKET_HELP = (
    "enable the podman API socket: `systemctl --user enable --now podman.socket` (rootless), "
    "`sudo systemctl enable --now podman.socket` (root), or run `podman system service --time=0 &`; "
    'or point comfytui at a socket with [container] socket = "unix:///PATH" or $COMFYTUI_PODMAN_SOCKET'
)
log = logging.getLogger(__name__)

_STATES = {
    "created": ServiceState.CREATED,
    "configured": ServiceState.CREATED,
    "initialized": ServiceState.CREATED,
    "running": ServiceState.RUNNING,
    "stopping": ServiceState.RUNNING,
    "exited": ServiceState.EXITED,
    "stopped": ServiceState.EXITED,
    "dead": ServiceState.EXITED,
    "paused": ServiceState.PAUSED,
}
_DONE_STATUSES = ("Download complete", "Pull complete", "Already exists", "Verifying Checksum")


def normalize_socket(uri: str) -> str:
    """``/run/x.sock`` → ``unix:///run/x.sock``; ssh://, tcp:// and unix:// pass through."""
    uri = uri.strip()
    if uri.startswith("/"):
        return f"unix://{uri}"
    if uri.startswith("unix:") and not uri.startswith("unix://"):
        return "unix://" + uri.removeprefix("unix:")
    return uri


def socket_candidates(configured: str = "", environ: Mapping[str, str] | None = None) -> list[str]:
    """Where to look for the podman API: the config, else $CONTAINER_HOST, the user's, the system's."""
    environ = os.environ if environ is None else environ
    if configured:
        return [normalize_socket(configured)]
    found: list[str] = []
    if environ.get("CONTAINER_HOST"):
        found.append(normalize_socket(environ["CONTAINER_HOST"]))
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found.append(f"unix://{runtime}/podman/podman.sock")
    found.append("unix:///run/podman/podman.sock")
    return list(dict.fromkeys(found))


def _unix_ping(path: str, timeout: float) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
            return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]
    except OSError:
        return False


def parse_time(text: str | None) -> datetime | None:
    """podman's RFC 3339 times (nanoseconds, Z or an offset); the zero time is None."""
    if not text or text.startswith("0001-01-01"):
        return None
    text = text.strip().replace("Z", "+00:00")
    fraction = re.match(r"^([^.]+)\.(\d+)(.*)$", text)
    if fraction:
        head, digits, offset = fraction.groups()
        text = f"{head}.{digits[:6].ljust(6, '0')}{offset}"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def status_from_inspect(data: Mapping[str, Any], name: str, url: str = "") -> ServiceStatus:
    state_info = data.get("State") or {}
    config = data.get("Config") or {}
    host = data.get("HostConfig") or {}
    labels = config.get("Labels") or {}
    state = _STATES.get(str(state_info.get("Status", "")).lower(), ServiceState.UNKNOWN)
    started = parse_time(state_info.get("StartedAt"))
    uptime = (
        (datetime.now(UTC) - started).total_seconds() if started and state is ServiceState.RUNNING else None
    )
    ports: list[PortBinding] = []
    bindings = host.get("PortBindings") or ((data.get("NetworkSettings") or {}).get("Ports") or {})
    for key, entries in sorted(bindings.items()):
        number, _, proto = key.partition("/")
        for entry in entries or []:
            ports.append(
                PortBinding(
                    int(number),
                    int(entry.get("HostPort") or 0),
                    entry.get("HostIp") or "0.0.0.0",
                    proto or "tcp",
                )
            )
    mounts = tuple(
        MountInfo(
            source=(m.get("Name") if m.get("Type") == "volume" else m.get("Source")) or "",
            destination=m.get("Destination") or "",
            read_only=not m.get("RW", True),
            kind=m.get("Type") or "bind",
        )
        for m in data.get("Mounts") or []
    )
    devices = [d.get("PathOnHost", "") for d in host.get("Devices") or [] if d.get("PathOnHost")]
    try:  # CDI devices do not show in HostConfig.Devices: take them from our own spec label
        devices += [
            d for d in json.loads(labels.get("io.comfytui.spec", "{}")).get("devices", []) if d not in devices
        ]
    except (TypeError, ValueError, AttributeError):
        pass
    exit_code = state_info.get("ExitCode")
    return ServiceStatus(
        backend="container",
        name=data.get("Name", "").lstrip("/") or name,
        state=state,
        exit_code=int(exit_code) if exit_code is not None and state is ServiceState.EXITED else None,
        started_at=started,
        uptime_s=uptime,
        image=config.get("Image") or data.get("ImageName") or "",
        image_id=data.get("Image") or "",
        ports=tuple(ports),
        mounts=mounts,
        gpu_devices=tuple(devices),
        pid=int(state_info.get("Pid") or 0) or None,
        managed=labels.get(MANAGED_LABEL) == "true",
        id=data.get("Id", ""),
        url=url,
        network_mode=host.get("NetworkMode") or "",
        spec_hash=labels.get(SPEC_HASH_LABEL, ""),
        detail=state_info.get("Error") or "",
    )


def _api_message(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return str(explanation).strip()
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            body = response.json()
            return str(body.get("message") or body.get("cause") or body)
        except Exception:  # noqa: BLE001
            pass
    return str(exc)


class PodmanBackend:
    """The managed container. Build with ``from_config``, or from a ``ContainerSpec`` directly."""

    kind: Literal["container"] = "container"

    def __init__(
        self,
        spec: ContainerSpec,
        *,
        socket_uri: str = "",
        settings: ContainerSettings | None = None,
        environ: Mapping[str, str] | None = None,
        connect_timeout_s: float = 3.0,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.settings = settings or ContainerSettings(name=spec.name)
        self._candidates = socket_candidates(socket_uri, environ)
        self._connect_timeout = connect_timeout_s
        self._client: Any = None
        self._tunnel: SshTunnel | None = None
        self._connecting = asyncio.Lock()
        """One connection attempt at a time: the status watch and the log follower both connect at
        start, and two attempts each opened an ssh tunnel; the client of one was kept while the
        other's tunnel was what stayed open (every call then failed)."""
        self.socket_uri = ""

    @property
    def remote(self) -> bool:
        """Whether the podman socket is on another host (ssh://, tcp://, a podman connection name)."""
        uri = self.socket_uri or (self._candidates[0] if self._candidates else "")
        return is_remote(uri) or is_connection_name(uri)

    @classmethod
    def from_config(cls, config: Config, gpu_present: bool | None = None) -> PodmanBackend:
        settings = config.container
        gpu = detect_gpu() if gpu_present is None else gpu_present
        return cls(ContainerSpec.from_settings(settings, gpu), socket_uri=settings.socket, settings=settings)

    # ------------------------------------------------------------------ plumbing
    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def image(self) -> str:
        return self.spec.image

    @property
    def stop_timeout_s(self) -> float:
        return float(self.settings.stop_timeout_s)

    async def connect(self) -> Any:
        """The podman-py client, after a ping; a ``LifecycleError`` with the fix when none answers."""
        if self._client is not None:
            return self._client
        async with self._connecting:
            if self._client is not None:
                return self._client  # another caller connected while this one waited
            return await self._connect()

    async def _connect(self) -> Any:
        import podman  # imported late: podman-py pulls in requests

        tried: list[str] = []
        reasons: list[str] = []
        for uri in self._candidates:
            tried.append(uri)
            identity = self.settings.identity
            if is_connection_name(uri):  # a `podman system connection` name
                conn = await asyncio.to_thread(resolve_connection, uri)
                identity = identity or conn.identity
                uri = normalize_socket(conn.uri)
                tried[-1] = f"{tried[-1]} ({uri})"
            base_url = uri
            if uri.startswith("ssh://"):
                tunnel = SshTunnel(uri, identity, self.settings.ssh_options)
                try:
                    local = await asyncio.to_thread(tunnel.open)
                except LifecycleError as exc:
                    reasons.append(str(exc))
                    continue
                base_url = f"unix://{local}"
                if not await asyncio.to_thread(_unix_ping, local, self._connect_timeout * 3):
                    tunnel.close()
                    reasons.append(f"no podman API answers at {uri} (is the podman socket enabled there?)")
                    continue
                self._tunnel = tunnel
            elif uri.startswith("unix://"):
                if not await asyncio.to_thread(
                    _unix_ping, uri.removeprefix("unix://"), self._connect_timeout
                ):
                    continue
            client = podman.PodmanClient(base_url=base_url)
            try:
                ok = await asyncio.wait_for(asyncio.to_thread(client.ping), self._connect_timeout * 3)
            except Exception:  # noqa: BLE001 - any failure means "not this one"
                ok = False
            if ok:
                self._client, self.socket_uri = client, uri
                return client
            client.close()
            if self._tunnel is not None:
                self._tunnel.close()
                self._tunnel = None
        why = f" ({'; '.join(reasons)})" if reasons else ""
        raise LifecycleError(f"cannot reach the podman API (tried {', '.join(tried)}){why}: {SOCKET_HELP}")

    async def _call(self, fn: Callable[..., T], *args: Any, what: str = "", **kwargs: Any) -> T:
        client = await self.connect()
        import requests
        from podman import errors

        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except errors.APIError as exc:
            if isinstance(exc.__cause__, OSError):
                # podman-py's "GET operation failed": the socket or the ssh tunnel behind it is
                # gone (podman restarted, the link dropped). Connect again on the next call.
                log.debug("podman at %s: %s (%r); connecting again on the next call", self.socket_uri, what, exc.__cause__)
                await self._disconnect(client)
            raise LifecycleError(f"podman: {what + ': ' if what else ''}{_api_message(exc)}") from None
        except requests.RequestException as exc:
            if isinstance(exc, requests.ConnectionError):
                await self._disconnect(client)
            raise LifecycleError(
                f"podman API at {self.socket_uri} failed{' (' + what + ')' if what else ''}: {exc}"
            ) from None

    async def inspect(self) -> dict[str, Any] | None:
        """``podman inspect`` of the named container, or None when it does not exist."""
        client = await self.connect()
        from podman import errors

        def run() -> dict[str, Any] | None:
            try:
                return client.containers.get(self.name).attrs
            except errors.NotFound:
                return None

        return await self._call(run, what=f"inspect {self.name}")

    async def _container(self) -> Any:
        client = await self.connect()
        from podman import errors

        def run() -> Any:
            try:
                return client.containers.get(self.name)
            except errors.NotFound:
                return None

        return await self._call(run, what=f"inspect {self.name}")

    async def close(self) -> None:
        await self._disconnect()

    async def _disconnect(self, only: Any = None) -> None:
        """Drop the client and its tunnel (``only``: if that client is still the one in use, not a
        newer one another caller has connected since)."""
        if only is not None and self._client is not only:
            return
        client, self._client = self._client, None
        tunnel, self._tunnel = self._tunnel, None
        if client is not None:
            client.close()
        if tunnel is not None:
            await asyncio.to_thread(tunnel.close)

    # ------------------------------------------------------------------ reading
    async def status(self) -> ServiceStatus:
        data = await self.inspect()
        if data is None:
            return ServiceStatus(
                backend="container", name=self.name, state=ServiceState.ABSENT, image=self.image, url=self.url
            )
        return status_from_inspect(data, self.name, self.url)

    async def image_present(self, ref: str | None = None) -> bool:
        client = await self.connect()
        return await self._call(client.images.exists, ref or self.image, what="image exists")

    async def diff(self) -> list[Change]:
        """How the existing container differs from the wanted spec ([] when absent or identical)."""
        data = await self.inspect()
        if data is None:
            return []
        client = await self.connect()  # the local image's id: a pulled new id offers a recreate
        image = await self._call(lambda: client.images.get(self.image).id if client.images.exists(self.image) else None,
                                 what="image id")
        return self.spec.diff(data, image_id=image)

    # ------------------------------------------------------------------ pulling
    async def pull(self, ref: str | None = None) -> AsyncIterator[PullProgress]:
        """Pull through the Docker-compat endpoint, which reports bytes per layer.

        Closing the iterator (or cancelling its consumer) drops the request; nothing is created
        from a pull, so no half-made container can be left behind. A failed pull raises
        ``LifecycleError`` with the registry's message.
        """
        client = await self.connect()
        ref = ref or self.image
        name, tag = split_image_ref(ref)
        params = {"fromImage": name, **({"tag": tag} if tag else {})}
        holder: dict[str, Any] = {}

        def events() -> Any:
            response = client.api.post("/images/create", params=params, compatible=True, stream=True)
            holder["response"] = response
            if response.status_code >= 400:
                raise LifecycleError(
                    f"pulling {ref} failed: HTTP {response.status_code}: {response.text.strip()}"
                )
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)

        layers: dict[str, tuple[str, int | None, int | None]] = {}
        stream = iterate_in_thread(events, lambda: shutdown_response(holder.get("response")), "comfytui-pull")
        async with contextlib.aclosing(stream):
            async for event in stream:
                if event.get("error") or event.get("errorDetail"):
                    detail = (event.get("errorDetail") or {}).get("message") or event.get("error")
                    raise LifecycleError(f"pulling {ref} failed: {detail}")
                layer = str(event.get("id") or "")
                status = str(event.get("status") or "")
                detail = event.get("progressDetail") or {}
                current, total = detail.get("current"), detail.get("total")
                if layer and (
                    status.startswith(("Pulling fs layer", "Waiting", "Downloading", "Extracting"))
                    or status in _DONE_STATUSES
                ):
                    _, old_current, old_total = layers.get(layer, ("", None, None))
                    if status in _DONE_STATUSES:
                        total = total or old_total
                        current = total if total else old_current
                    layers[layer] = (
                        status,
                        current if current is not None else old_current,
                        total or old_total,
                    )
                yield _progress(layer, status, current, total, layers)
        if not await self.image_present(ref):
            raise LifecycleError(f"pulling {ref} ended without an image (the registry gave no error)")

    # ------------------------------------------------------------------ changing
    async def create(self) -> None:
        """Create the container from the spec (its data folders too); an existing one is kept."""
        if await self.inspect() is not None:
            return
        client = await self.connect()
        if not await self.image_present():
            raise LifecycleError(
                f"image {self.image} is not present: pull it first (`comfytui pull` or `comfytui up --pull`)"
            )
        if not self.remote:  # the folders of a remote container are on that host
            await asyncio.to_thread(_make_dirs, self.spec.host_dirs)
        kwargs = self.spec.create_kwargs()
        image = kwargs.pop("image")
        await self._call(client.containers.create, image, what=f"create {self.name}", **kwargs)

    async def start(self) -> None:
        container = await self._container()
        if container is None:
            await self.create()
            container = await self._container()
        status = str(container.attrs.get("State", {}).get("Status", "")).lower()
        if status == "running":
            return
        if status == "paused":
            await self._call(container.unpause, what=f"unpause {self.name}")
            return
        await self._call(container.start, what=f"start {self.name}")

    async def stop(self, timeout: float | None = None) -> None:
        container = await self._container()
        if container is None:
            return
        if str(container.attrs.get("State", {}).get("Status", "")).lower() not in (
            "running",
            "paused",
            "stopping",
        ):
            return
        seconds = int(round(self.stop_timeout_s if timeout is None else timeout))
        await self._call(container.stop, timeout=seconds, what=f"stop {self.name}")

    async def restart(self, timeout: float | None = None) -> None:
        container = await self._container()
        if container is None or str(container.attrs.get("State", {}).get("Status", "")).lower() != "running":
            await self.start()
            return
        seconds = int(round(self.stop_timeout_s if timeout is None else timeout))
        await self._call(container.restart, timeout=seconds, what=f"restart {self.name}")

    async def remove(self, force: bool = False) -> None:
        """Stop and remove the container. One comfytui did not create is refused unless ``force``."""
        container = await self._container()
        if container is None:
            return
        labels = (container.attrs.get("Config") or {}).get("Labels") or {}
        if labels.get(MANAGED_LABEL) != "true" and not force:
            raise LifecycleError(
                f"container {self.name!r} was not created by comfytui (no {MANAGED_LABEL} label); "
                f"remove it yourself with `podman rm {self.name}` or choose another container.name"
            )
        await self.stop()
        await self._call(container.remove, force=True, what=f"remove {self.name}")

    async def recreate(self, start: bool = True) -> list[Change]:
        """Replace the container with one built from the current spec; returns what changed."""
        changes = await self.diff()
        await self.remove()
        await self.create()
        if start:
            await self.start()
        return changes

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit code once the container stops, or None after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            status = await self.status()
            if status.state in (ServiceState.EXITED, ServiceState.ABSENT):
                return status.exit_code
            await asyncio.sleep(0.1)
        return None

    # ------------------------------------------------------------------ logs
    async def logs(
        self, follow: bool = False, since: datetime | None = None, tail: int | None = None
    ) -> AsyncIterator[LogLine]:
        container = await self._container()
        if container is None:
            raise LifecycleError(f"container {self.name!r} does not exist (nothing to show)")
        client = await self.connect()
        params: dict[str, Any] = {"follow": follow, "stdout": True, "stderr": True, "timestamps": True}
        if since is not None:
            params["since"] = int(since.timestamp())
        if tail is not None:
            params["tail"] = max(0, int(tail))
        holder: dict[str, Any] = {}

        def frames() -> Any:
            response = client.api.get(f"/containers/{container.id}/logs", params=params, stream=True)
            holder["response"] = response
            response.raise_for_status()
            # Bounded per stream: a container printing without newlines cannot grow memory.
            pending = {1: LineSplitter(), 2: LineSplitter()}
            while True:
                header = response.raw.read(8)
                if len(header) < 8:
                    break
                kind, length = struct.unpack(">BxxxL", header)
                if kind not in pending:
                    kind = 1
                while length > 0:  # a huge frame is read in pieces, never whole
                    data = response.raw.read(min(length, 1 << 16))
                    if not data:
                        break
                    length -= len(data)
                    for line in pending[kind].feed(data):
                        yield kind, line
            for kind, splitter in pending.items():
                rest = splitter.flush()
                if rest:
                    yield kind, rest

        stream = iterate_in_thread(frames, lambda: shutdown_response(holder.get("response")), "comfytui-logs")
        async with contextlib.aclosing(stream):
            async for kind, raw in stream:
                yield _log_line(kind, raw)

    async def preflight(self) -> list[PreflightCheck]:
        backend = self
        spec = backend.spec
        checks: list[PreflightCheck] = []
        try:
            await backend.connect()
        except LifecycleError as exc:
            return [check_socket_error(exc)]
        checks.append(PreflightCheck("podman", True, f"the podman API answers at {backend.socket_uri}"))
        if await backend.image_present():
            checks.append(PreflightCheck("image", True, f"{spec.image} is present"))
        else:
            checks.append(
                PreflightCheck(
                    "image",
                    False,
                    f"{spec.image} is not present locally",
                    "pull it: `comfytui pull` (or `comfytui up` pulls it)",
                    blocking=False,
                )
            )
        status = await backend.status()
        if status.state is ServiceState.RUNNING:
            checks.append(
                PreflightCheck("port", True, f"the container is running and holds port {spec.listen_port}")
            )
        elif backend.remote:
            checks.append(PreflightCheck("port", True, f"port {spec.listen_port} is on the remote host "
                                                       f"({backend.socket_uri}): not checked from here"))
        else:
            host = "127.0.0.1" if spec.network == "host" else spec.ports[0].host_ip
            checks.append(await asyncio.to_thread(check_port, host, spec.listen_port))
        # catatonit (for init) is checked in CPU mode too: it is a podman need, not a GPU one
        checks += await asyncio.to_thread(container_gpu_checks, spec.image, spec.gpu, spec.init, backend.socket_uri)
        if not spec.gpu:
            notes = [n.text for n in spec.notices if n.text.startswith("CPU mode")]
            checks.append(PreflightCheck("gpu", True, notes[0] if notes else "CPU mode"))
        for notice in spec.notices:
            if notice.level == "warning" and not notice.text.startswith("CPU mode"):
                checks.append(
                    PreflightCheck(
                        "exposure", False, notice.text, 'set container.host = "127.0.0.1"', blocking=False
                    )
                )
        if not backend.remote:  # host folders of a remote container live on that host
            checks += check_mounts(spec.mounts, spec.host_dirs)
        selinux = check_selinux(label_disabled="label=disable" in spec.security_opt)
        if selinux is not None:
            checks.append(selinux)
        return checks


def _make_dirs(folders: Iterable[str]) -> None:
    for folder in folders:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LifecycleError(f"cannot create the mount folder {folder}: {exc.strerror}") from None


def _log_line(kind: int, raw: bytes) -> LogLine:
    text = raw.decode("utf-8", "replace").rstrip("\r")
    stamp, sep, rest = text.partition(" ")
    when = parse_time(stamp) if sep and stamp[:4].isdigit() and "T" in stamp else None
    if when is not None:
        text = rest
    return LogLine(time=when, stream="stderr" if kind == 2 else "stdout", text=text)


def _progress(
    layer: str,
    status: str,
    current: int | None,
    total: int | None,
    layers: Mapping[str, tuple[str, int | None, int | None]],
) -> PullProgress:
    done = sum(1 for s, _, _ in layers.values() if s in _DONE_STATUSES)
    sized = [(c or 0, t) for _, c, t in layers.values() if t]
    if layers and done == len(layers):
        percent = 100.0
    elif sized:  # bytes over the layers whose size is known (the big ones)
        percent = 100.0 * sum(min(c, t) for c, t in sized) / sum(t for _, t in sized)
    elif layers:
        percent = 100.0 * done / len(layers)
    else:
        percent = None
    return PullProgress(layer, status, current, total, percent, done, len(layers))
