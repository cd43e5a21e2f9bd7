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
from collections.abc import Iterable, Iterator, Sequence
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


def cdi_spec_texts(dirs: Sequence[str | os.PathLike[str]] = CDI_DIRS) -> Iterator[tuple[Path, str]]:
    """(path, text) of every CDI spec file (YAML or JSON) in ``dirs`` that can be read."""
    for folder in dirs:
        root = Path(folder)
        if not root.is_dir():
            continue
        for path in sorted(root.iterdir()):
            if path.suffix not in (".yaml", ".yml", ".json"):
                continue
            try:
                yield path, path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue


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


def cdi_gpu_names(dirs: Sequence[str | os.PathLike[str]] = CDI_DIRS) -> list[str]:
    """The GPU indices the nvidia.com/gpu CDI specs in ``dirs`` declare (``["0", "1"]``; names such
    as ``all`` or UUIDs left out), sorted by number: the GPU list when NVML is absent."""
    names: set[str] = set()
    for path, text in cdi_spec_texts(dirs):
        if path.suffix == ".json":
            try:
                data = json.loads(text)
                if data.get("kind") != "nvidia.com/gpu":
                    continue
                names.update(str(d.get("name", "")) for d in data.get("devices") or [] if isinstance(d, dict))
            except (ValueError, AttributeError):
                continue
        elif re.search(r"""^\s*["']?kind["']?\s*:\s*["']?nvidia\.com/gpu["']?\s*$""", text, re.M):
            names.update(re.findall(r"""^\s*-?\s*["']?name["']?\s*:\s*["']?([^"'\s#]+)""", text, re.M))
    return sorted((n for n in names if n.isdigit()), key=int)


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


# ---------------------------------------------------------------------------------------------
# GPU container checks: CDI host paths, the driver's CUDA against the image tag, catatonit

NVIDIA_VERSION_FILE = "/proc/driver/nvidia/version"
# The oldest Linux driver for each CUDA release (NVIDIA's CUDA release notes, table 3).
CUDA_MIN_DRIVER: dict[tuple[int, int], tuple[int, ...]] = {
    (13, 0): (580, 65, 6), (12, 9): (575, 51, 3), (12, 8): (570, 26), (12, 6): (560, 28, 3),
    (12, 5): (555, 42, 2), (12, 4): (550, 54, 14), (12, 3): (545, 23, 6), (12, 2): (535, 54, 3),
    (12, 1): (530, 30, 2), (12, 0): (525, 60, 13), (11, 8): (520, 61, 5),
}
CATATONIT_PATHS = ("/usr/libexec/podman/catatonit", "/usr/libexec/catatonit/catatonit", "/usr/bin/catatonit")


def cuda_of_tag(image: str) -> tuple[int, int] | None:
    """The CUDA an image tag is built for: ``…:cu130-slim-v2`` → (13, 0), ``cu126`` → (12, 6)."""
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    found = re.match(r"cu(\d{2,3})(?!\d)", tag)
    if not found:
        return None
    digits = found.group(1)
    return int(digits[:-1]), int(digits[-1])


def read_driver_version(path: str | os.PathLike[str] = NVIDIA_VERSION_FILE) -> str | None:
    """The loaded kernel module's version (``580.65.06``), without NVML; None without a driver."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(r"\b(\d{3}\.\d+(?:\.\d+)?)\b", text)
    return found.group(1) if found else None


def cuda_of_driver(driver: str) -> tuple[int, int] | None:
    """The newest CUDA a driver version supports, from ``CUDA_MIN_DRIVER``."""
    try:
        have = tuple(int(x) for x in driver.split("."))
    except ValueError:
        return None
    fits = [cuda for cuda, need in CUDA_MIN_DRIVER.items() if have >= need]
    return max(fits) if fits else None


def check_cuda_driver(image: str, cuda_driver: tuple[int, int] | None = None,
                      driver_version: str | None = None) -> PreflightCheck | None:
    """Is the driver new enough for the image tag's CUDA? ``cuda_driver`` from NVML
    (``nvmlSystemGetCudaDriverVersion``) when the caller has it, else derived from ``driver_version``
    (read from /proc when not given). None when the tag names no CUDA or no driver is known."""
    wanted = cuda_of_tag(image)
    if wanted is None:
        return None
    driver_version = driver_version or read_driver_version()
    have = cuda_driver or (cuda_of_driver(driver_version) if driver_version else None)
    if have is None:
        return None
    need_driver = ".".join(map(str, CUDA_MIN_DRIVER.get(wanted, ())))
    label = f"driver {driver_version}" if driver_version else "the driver"
    if have >= wanted:
        return PreflightCheck("cuda", True, f"{label} supports CUDA {have[0]}.{have[1]}; the image needs {wanted[0]}.{wanted[1]}")
    fitting = sorted(c for c in CUDA_MIN_DRIVER if c <= have and c >= (12, 6))
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    suggestion = (re.sub(r"^cu\d{2,3}", f"cu{fitting[-1][0]}{fitting[-1][1]}", tag) if fitting else "")
    return PreflightCheck(
        "cuda", False,
        f"{label} supports CUDA up to {have[0]}.{have[1]}, but {image} is built for CUDA {wanted[0]}.{wanted[1]}"
        + (f" (needs driver ≥ {need_driver})" if need_driver else "") + ": ComfyUI would fail to start on the GPU",
        (f'set container.tag = "{suggestion}" (check that the image publishes it), or ' if suggestion else "")
        + "update the NVIDIA driver",
    )


def cdi_host_paths(dirs: Sequence[str | os.PathLike[str]] = CDI_DIRS) -> dict[str, list[str]]:
    """{CDI spec file: the ``hostPath``s it names} for the nvidia.com/gpu specs in ``dirs``."""
    out: dict[str, list[str]] = {}
    for path, text in cdi_spec_texts(dirs):
        if "nvidia.com/gpu" not in text:
            continue
        out[str(path)] = re.findall(r"""["']?hostPath["']?\s*:\s*["']?([^"',\s}]+)""", text)
    return out


def check_cdi_host_paths(dirs: Sequence[str | os.PathLike[str]] = CDI_DIRS) -> PreflightCheck | None:
    """A CDI spec written for an older driver names libraries that are gone: podman fails on them."""
    missing = [(spec, p) for spec, paths in cdi_host_paths(dirs).items() for p in paths if not os.path.exists(p)]
    if not missing:
        return None
    shown = ", ".join(p for _, p in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return PreflightCheck(
        "cdi", False,
        f"the CDI spec {missing[0][0]} names host paths that do not exist: {shown} "
        "(usually: the driver was updated after the spec was generated)",
        f"regenerate it: `{CDI_FIX}`",
    )


def check_catatonit(paths: Sequence[str] = CATATONIT_PATHS) -> PreflightCheck:
    import shutil

    found = shutil.which("catatonit") or next((p for p in paths if os.access(p, os.X_OK)), None)
    if found:
        return PreflightCheck("init", True, f"container.init: podman's init is {found}")
    return PreflightCheck(
        "init", False, "container.init = true but catatonit (podman's init) is not installed",
        "install it (`apt-get install catatonit` / `dnf install catatonit`), or set container.init = false",
    )


def container_gpu_checks(image: str, gpu: bool, init: bool, socket_uri: str = "",
                         cdi_dirs: Sequence[str | os.PathLike[str]] = CDI_DIRS,
                         cuda_driver: tuple[int, int] | None = None) -> list[PreflightCheck]:
    """The host-side checks for a container start: CDI (spec and host paths), CUDA vs tag, catatonit.

    A remote podman socket (ssh://, tcp://) means those files are on another machine: say so
    instead of checking this one.
    """
    if socket_uri and not socket_uri.startswith("unix://"):
        return [PreflightCheck("cdi", True, f"the podman socket is remote ({socket_uri}): CDI specs, the driver "
                                            "and catatonit on that host cannot be checked from here", blocking=False)]
    checks: list[PreflightCheck] = []
    if gpu:
        checks.append(check_cdi(cdi_dirs))
        paths = check_cdi_host_paths(cdi_dirs)
        if paths is not None:
            checks.append(paths)
        cuda = check_cuda_driver(image, cuda_driver)
        if cuda is not None:
            checks.append(cuda)
    if init:
        checks.append(check_catatonit())
    return checks
