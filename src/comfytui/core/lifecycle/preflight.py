"""Checks run before a start, each a ``PreflightCheck(name, ok, message, fix)``.

Container: the podman socket answers, the image is present (else a pull is offered), the port is
free (by binding it), a CDI spec lists ``nvidia.com/gpu`` when the GPU is wanted, the mount
folders exist and are writable, and an SELinux hint when it enforces. Process: main.py, the
Python, the port, the base directory.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path

from comfytui.core.errors import LifecycleError
from comfytui.core.lifecycle.types import MountInfo, PreflightCheck

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
