"""Checks run before a start, each a ``PreflightCheck(name, ok, message, fix)``.

Container: the podman socket answers, the image is present (else a pull is offered), the port is
free (by binding it), a CDI spec lists ``nvidia.com/gpu`` when the GPU is wanted, the mount
folders exist and are writable, and an SELinux hint when it enforces. Process: main.py, the
Python, the port, the base directory.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from comfytui.core.errors import LifecycleError
from comfytui.core.lifecycle.models import MountInfo, PreflightCheck, ServiceState
from comfytui.core.lifecycle.spec import is_loopback

if TYPE_CHECKING:
    from comfytui.core.lifecycle.podman_backend import PodmanBackend
    from comfytui.core.lifecycle.process import ProcessBackend

CDI_DIRS = ("/etc/cdi", "/var/run/cdi")
CDI_FIX = "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"


def blocking_failures(checks: Iterable[PreflightCheck]) -> list[PreflightCheck]:
    return [c for c in checks if not c.ok and c.blocking]


def check_port(host: str, port: int, name: str = "port") -> PreflightCheck:
    """Try to bind host:port (what ComfyUI or podman will do); TIME_WAIT leftovers do not count."""
    bind_host = host or "0.0.0.0"
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((bind_host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return PreflightCheck(
                name,
                False,
                f"{bind_host}:{port} is already in use by another program",
                f"stop what listens there (`ss -ltnp 'sport = :{port}'` shows it) or set another port in the config",
            )
        return PreflightCheck(
            name,
            False,
            f"cannot bind {bind_host}:{port}: {exc.strerror}",
            "check the host address in the config",
        )
    return PreflightCheck(name, True, f"{bind_host}:{port} is free")


def cdi_lists_gpu(dirs: Sequence[str | os.PathLike[str]] = CDI_DIRS) -> tuple[bool, list[str]]:
    """Whether a CDI spec (*.yaml, *.yml, *.json) in ``dirs`` declares kind nvidia.com/gpu; the files read."""
    seen: list[str] = []
    for folder in dirs:
        root = Path(folder)
        if not root.is_dir():
            continue
        for path in sorted(root.iterdir()):
            if path.suffix not in (".yaml", ".yml", ".json"):
                continue
            seen.append(str(path))
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if path.suffix == ".json":
                try:
                    if json.loads(text).get("kind") == "nvidia.com/gpu":
                        return True, seen
                except (ValueError, AttributeError):
                    continue
            elif re.search(r"""^\s*["']?kind["']?\s*:\s*["']?nvidia\.com/gpu["']?\s*$""", text, re.M):
                return True, seen
    return False, seen


def check_cdi(dirs: Sequence[str | os.PathLike[str]] = CDI_DIRS) -> PreflightCheck:
    found, seen = cdi_lists_gpu(dirs)
    if found:
        return PreflightCheck("cdi", True, "a CDI spec lists the nvidia.com/gpu devices")
    where = ", ".join(str(d) for d in dirs)
    read = f" (read: {', '.join(seen)})" if seen else ""
    return PreflightCheck(
        "cdi",
        False,
        f"the GPU is wanted but no CDI spec in {where} lists nvidia.com/gpu{read}: podman cannot pass "
        "the GPU in (`--device nvidia.com/gpu=all` fails) and ComfyUI would not see it",
        f'`{CDI_FIX}` (again after every driver update), or set container.gpu = "none" for CPU mode',
    )


def check_mounts(mounts: Iterable[MountInfo], created_by_us: Iterable[str] = ()) -> list[PreflightCheck]:
    """Host folders of bind mounts exist (ours may be missing: comfytui creates them) and rw ones are writable."""
    ours = set(created_by_us)
    checks: list[PreflightCheck] = []
    for mount in mounts:
        if mount.kind != "bind":
            continue
        path = Path(mount.source)
        name = f"mount {mount.destination}"
        if not path.exists():
            if mount.source in ours:
                parent = next((p for p in path.parents if p.exists()), Path("/"))
                if os.access(parent, os.W_OK):
                    checks.append(
                        PreflightCheck(name, True, f"{path} does not exist yet: comfytui creates it")
                    )
                else:
                    checks.append(
                        PreflightCheck(
                            name,
                            False,
                            f"{path} does not exist and {parent} is not writable",
                            f"mkdir -p {path} as a user who may, or change container.storage",
                        )
                    )
            else:
                checks.append(
                    PreflightCheck(
                        name, False, f"{path} does not exist", f"mkdir -p {path}, or fix the mount"
                    )
                )
            continue
        if not mount.read_only and not os.access(path, os.W_OK):
            checks.append(
                PreflightCheck(
                    name,
                    False,
                    f"{path} is not writable by this user",
                    f"chown or chmod {path} (the container writes there as root)",
                )
            )
            continue
        checks.append(
            PreflightCheck(name, True, f"{path} exists{'' if mount.read_only else ' and is writable'}")
        )
    return checks


def check_selinux(
    enforce_file: str | os.PathLike[str] = SELINUX_ENFORCE, label_disabled: bool = False
) -> PreflightCheck | None:
    """A hint when SELinux enforces; None when it does not (or is absent)."""
    try:
        enforcing = Path(enforce_file).read_text().strip() == "1"
    except OSError:
        return None
    if not enforcing:
        return None
    if label_disabled:
        return PreflightCheck(
            "selinux", True, "SELinux enforces; the container runs with security_opt label=disable"
        )
    return PreflightCheck(
        "selinux",
        False,
        "SELinux enforces: bind-mounted folders are unreadable inside the container unless relabelled",
        "relabel the folders (`chcon -Rt container_file_t DIR`), or run with `--security-opt label=disable` "
        "(comfytui does this in GPU mode)",
        blocking=False,
    )


def check_socket_error(exc: LifecycleError) -> PreflightCheck:
    message, _, fix = str(exc).partition(": enable")
    return PreflightCheck("podman", False, message, ("enable" + fix) if fix else "")


async def container_preflight(backend: PodmanBackend) -> list[PreflightCheck]:
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
    else:
        host = "127.0.0.1" if spec.network == "host" else spec.ports[0].host_ip
        checks.append(await asyncio.to_thread(check_port, host, spec.listen_port))
    if spec.gpu:
        checks.append(await asyncio.to_thread(check_cdi))
    else:
        notes = [n.text for n in spec.notices if n.text.startswith("CPU mode")]
        checks.append(PreflightCheck("gpu", True, notes[0] if notes else "CPU mode"))
    for notice in spec.notices:
        if notice.level == "warning" and not notice.text.startswith("CPU mode"):
            checks.append(
                PreflightCheck(
                    "exposure", False, notice.text, 'set container.host = "127.0.0.1"', blocking=False
                )
            )
    checks += check_mounts(spec.mounts, spec.host_dirs)
    selinux = check_selinux(label_disabled="label=disable" in spec.security_opt)
    if selinux is not None:
        checks.append(selinux)
    return checks


async def process_preflight(backend: ProcessBackend) -> list[PreflightCheck]:
    checks: list[PreflightCheck] = []
    main = backend.main_py
    if await asyncio.to_thread(main.is_file):
        checks.append(PreflightCheck("comfyui", True, f"{main} exists"))
    else:
        checks.append(
            PreflightCheck(
                "comfyui",
                False,
                f"{main} does not exist",
                "set [process] comfyui_dir to a ComfyUI checkout (the folder holding main.py)",
            )
        )
    python = backend.python
    resolved = python if os.path.sep in python else shutil.which(python)
    if resolved and os.access(resolved, os.X_OK):
        checks.append(PreflightCheck("python", True, f"{resolved} is executable"))
    else:
        checks.append(
            PreflightCheck(
                "python",
                False,
                f"{python} is not an executable Python",
                "set [process] python to the interpreter of ComfyUI's venv",
            )
        )
    if backend.host and not is_loopback(backend.host):
        checks.append(
            PreflightCheck(
                "exposure",
                False,
                f"ComfyUI listens on {backend.host}:{backend.port}: ComfyUI has no authentication, so anyone "
                "who can reach this address can run workflows and read outputs",
                'set [process] host = "127.0.0.1" and use an SSH tunnel',
                blocking=False,
            )
        )
    status = await backend.status()
    if status.state is ServiceState.RUNNING:
        checks.append(
            PreflightCheck(
                "port", True, f"ComfyUI (pid {status.pid}) is running and holds port {backend.port}"
            )
        )
    else:
        checks.append(await asyncio.to_thread(check_port, backend.host, backend.port))
    base = backend.base_directory
    if base is not None:
        checks += await asyncio.to_thread(check_mounts, [MountInfo(str(base), "base_directory")], [str(base)])
    return checks
