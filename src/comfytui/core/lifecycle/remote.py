"""The podman API of another host: ``ssh://USER@HOST[:PORT]/PATH`` sockets and named connections.

comfytui holds its own SSH tunnel per backend: one ``ssh -N -L LOCAL.sock:REMOTE_PATH`` process
(an argument list, never a shell) forwarding a unix socket in a private temp dir to the remote
podman socket. podman-py then talks plain HTTP over that local socket, so everything (inspect,
create, streamed logs, pulls) works exactly as with a local socket. ssh runs with
``BatchMode=yes`` (a missing key fails at once instead of prompting) and
``StrictHostKeyChecking=accept-new`` (a changed host key is refused); ``[container] ssh_options``
come first, so they win (``UserKnownHostsFile=...``).

A socket setting without a scheme and without a slash (``socket = "gpu-box"``) names a podman
connection: ``podman system connection list --format json`` gives its URI and identity.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from comfytui.core.errors import LifecycleError

ROOT_SOCKET = "/run/podman/podman.sock"
TUNNEL_TIMEOUT_S = 20.0


def is_connection_name(text: str) -> bool:
    """``gpu-box`` (a podman connection name), not a path or a URI."""
    text = text.strip()
    return bool(text) and "/" not in text and ":" not in text


def is_remote(uri: str) -> bool:
    return uri.startswith(("ssh://", "tcp://", "http://", "https://"))


@dataclass(frozen=True)
class Connection:
    name: str
    uri: str
    identity: str = ""


def podman_connections(env: dict[str, str] | None = None, timeout: float = 10.0) -> list[Connection]:
    """The connections ``podman system connection list`` knows (``[]`` when podman is missing)."""
    if shutil.which("podman") is None:
        return []
    try:
        out = subprocess.run(
            ["podman", "system", "connection", "list", "--format", "json"],
            capture_output=True, text=True, timeout=timeout, check=False, env=env, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    try:
        data = json.loads(out.stdout or "[]")
    except ValueError:
        return []
    return [
        Connection(str(c.get("Name", "")), str(c.get("URI", "")), str(c.get("Identity") or ""))
        for c in data or []
        if isinstance(c, dict)
    ]


def resolve_connection(name: str, connections: list[Connection] | None = None) -> Connection:
    """The podman connection called ``name``; a ``LifecycleError`` naming the known ones otherwise."""
    known = podman_connections() if connections is None else connections
    for conn in known:
        if conn.name == name:
            return conn
    names = ", ".join(c.name for c in known) or "none"
    raise LifecycleError(
        f"container.socket {name!r} is not a podman connection (known: {names}); add it with "
        f"`podman system connection add {name} ssh://USER@HOST/run/podman/podman.sock` or give the ssh:// URL"
    )


@dataclass(frozen=True)
class SshTarget:
    user: str
    host: str
    port: int | None
    path: str

    @classmethod
    def parse(cls, uri: str) -> SshTarget:
        parts = urlsplit(uri)
        if parts.scheme != "ssh" or not parts.hostname:
            raise LifecycleError(f"container.socket {uri!r} is not ssh://USER@HOST[:PORT]/PATH")
        user = unquote(parts.username or "")
        path = unquote(parts.path or "")
        if not path or path == "/":
            if user in ("", "root"):
                path = ROOT_SOCKET
            else:
                raise LifecycleError(
                    f"container.socket {uri!r} names no socket path: add it, e.g. "
                    f"ssh://{user}@{parts.hostname}/run/user/UID/podman/podman.sock"
                )
        try:
            port = parts.port
        except ValueError:
            raise LifecycleError(f"container.socket {uri!r}: bad port") from None
        return cls(user, parts.hostname, port, path)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


class SshTunnel:
    """``ssh -N -L`` from a private local unix socket to the remote podman socket."""

    def __init__(self, uri: str, identity: str = "", options: list[str] | tuple[str, ...] = ()) -> None:
        self.uri = uri
        self.target = SshTarget.parse(uri)
        self.identity = identity
        self.options = tuple(options)
        self._dir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def local_socket(self) -> str:
        assert self._dir is not None
        return os.path.join(self._dir, "podman.sock")

    def command(self, local: str) -> list[str]:
        cmd = ["ssh", "-N", "-T"]
        for option in self.options:  # first given wins in ssh: the user's options before ours
            cmd += ["-o", option]
        cmd += [
            "-o", "BatchMode=yes",
            "-o", "ExitOnForwardFailure=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", "ServerAliveInterval=15",
            "-o", "ConnectTimeout=10",
        ]
        if self.identity:
            cmd += ["-i", str(Path(self.identity).expanduser()), "-o", "IdentitiesOnly=yes"]
        if self.target.port:
            cmd += ["-p", str(self.target.port)]
        cmd += ["-L", f"{local}:{self.target.path}", "--", self.target.destination]
        return cmd

    def open(self, timeout: float = TUNNEL_TIMEOUT_S) -> str:
        """Start ssh and wait for the local socket; its path. Blocking: call it in a thread."""
        if self._proc is not None and self._proc.poll() is None:
            return self.local_socket
        if shutil.which("ssh") is None:
            raise LifecycleError(
                f"the podman socket {self.uri} needs the ssh client: install openssh-client"
            )
        self._dir = tempfile.mkdtemp(prefix="comfytui-ssh-")
        local = self.local_socket
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        try:
            self._proc = subprocess.Popen(
                self.command(local), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if os.path.exists(local):
                    return local
                if self._proc.poll() is not None:
                    errors.seek(0)
                    why = errors.read().decode("utf-8", "replace").strip().splitlines()
                    self.close()
                    detail = "; ".join(line for line in why if line)[-400:] or f"exit code {self._exit}"
                    raise LifecycleError(f"ssh to {self.target.destination} failed: {detail}")
                time.sleep(0.05)
            self.close()
            raise LifecycleError(f"ssh to {self.target.destination} did not open the tunnel within {timeout:g}s")
        finally:
            errors.close()

    _exit: int | None = None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            self._exit = proc.returncode
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __del__(self) -> None:  # a backend dropped without close(): do not leave ssh running
        with contextlib.suppress(Exception):
            self.close()
