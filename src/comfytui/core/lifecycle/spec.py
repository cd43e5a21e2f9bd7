"""The container we want: built from ``ContainerSettings``, compared with the one that exists.

``ContainerSpec.from_settings`` decides everything that ends up in ``podman create``: the image
reference, the published port (127.0.0.1 unless the user opts out, with a warning when not),
the data folders at the yanwk/comfyui-boot paths, CLI_ARGS, GPU through CDI or CPU mode, labels
and the restart policy. ``create_kwargs()`` is the exact request handed to podman-py, so tests
can assert on it. The spec's material fields are stored as JSON in a label on the container;
``diff`` compares against it (falling back to ``podman inspect`` fields for containers made by
hand) and returns human-readable changes shown before a recreate.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfytui.core.config import ContainerSettings
from comfytui.core.errors import ConfigError
from comfytui.core.lifecycle.types import (
    MANAGED_LABEL,
    SPEC_HASH_LABEL,
    Change,
    MountInfo,
    Notice,
    PortBinding,
)

SPEC_LABEL = "io.comfytui.spec"
"""Label holding the spec's material fields as JSON, for an exact diff on the next ``up``."""

GPU_DEVICE = "nvidia.com/gpu=all"
CUDA_ORDER_ENV = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
"""CUDA's default order is "fastest first"; NVML's (and nvidia-smi's) is by PCI bus: make index N the same GPU."""
# The image sets PIP_USER=true: packages custom nodes install land in /root/.local, downloads in
# /root/.cache. Named volumes keep both across a recreate (a new image would otherwise lose them).
USER_VOLUMES = {"local": "/root/.local", "cache": "/root/.cache"}
COMFY_ROOT = "/root/ComfyUI"
# Data folders at the yanwk/comfyui-boot v2 paths, and where they live under ``storage``
# (the layout of its docker-compose.yml).
DATA_FOLDERS: dict[str, tuple[str, str]] = {
    "models": (f"{COMFY_ROOT}/models", "storage-models/models"),
    "input": (f"{COMFY_ROOT}/input", "storage-user/input"),
    "output": (f"{COMFY_ROOT}/output", "storage-user/output"),
    "user": (f"{COMFY_ROOT}/user", "storage-user/user-profile"),
    "custom_nodes": (f"{COMFY_ROOT}/custom_nodes", "storage-nodes/custom_nodes"),
}
_SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "AUTH")
_NAMED_VOLUME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def _listen_on_loopback(cli_args: str, notices: list[Notice]) -> str:
    """With host networking nothing stands between ComfyUI and the host's interfaces (the image
    starts it with a bare ``--listen``, i.e. every address): add ``--listen 127.0.0.1`` unless the
    user chose an address, and warn loudly when that address is not loopback."""
    tokens = shlex.split(cli_args)
    chosen = [tokens[i + 1] for i, tok in enumerate(tokens[:-1]) if tok == "--listen"]
    chosen += [tok.split("=", 1)[1] for tok in tokens if tok.startswith("--listen=")]
    if not chosen:
        return f"{cli_args} --listen 127.0.0.1".strip()
    exposed = [a for a in ",".join(chosen).split(",") if a and not is_loopback(a)]
    if exposed:
        notices.append(
            Notice(
                "warning",
                f"host networking and CLI_ARGS --listen {','.join(chosen)}: ComfyUI answers on {', '.join(exposed)} "
                "of this host with no authentication; anyone who reaches it can run workflows and read "
                "outputs. Remove --listen (comfytui then binds 127.0.0.1) unless you mean it.",
            )
        )
    return cli_args


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def detect_gpu() -> bool:
    """A cheap guess whether an NVIDIA GPU is on this host (driver loaded); NVML is not needed."""
    gpus = Path("/proc/driver/nvidia/gpus")
    try:
        if gpus.is_dir() and any(gpus.iterdir()):
            return True
    except OSError:
        pass
    return Path("/dev/nvidia0").exists()


def split_image_ref(ref: str) -> tuple[str, str]:
    """``registry/repo:tag`` → (``registry/repo``, ``tag``); digests stay in the name, tag ''."""
    if "@" in ref:
        return ref, ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
        return name, tag
    return ref, "latest"


def _image_ref(image: str, tag: str) -> str:
    if "@" in image or ":" in image.rsplit("/", 1)[-1] or not tag:
        return image
    return f"{image}:{tag}"


def gpu_devices(gpus: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """CDI device names: ``[]`` → all GPUs; ``["1"]`` → ``nvidia.com/gpu=1``; UUIDs and MIG ``0:1`` alike."""
    wanted = [str(g).strip() for g in gpus if str(g).strip()]
    if not wanted or "all" in wanted:
        return (GPU_DEVICE,)
    for g in wanted:
        if not re.fullmatch(r"\d+(:\d+)?|(GPU|MIG)-[0-9A-Za-z-]+", g):
            raise ConfigError(f"container.gpus: {g!r} is not a GPU index, UUID (GPU-…) or MIG device (0:1)")
    return tuple(f"nvidia.com/gpu={g}" for g in dict.fromkeys(wanted))


def parse_mount(text: str) -> MountInfo:
    """``HOST:CONTAINER[:ro|rw]`` → MountInfo; a HOST without a slash is a named volume."""
    parts = text.split(":")
    read_only = False
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        read_only = parts[2] == "ro"
        parts = parts[:2]
    if len(parts) != 2 or not parts[0] or not parts[1].startswith("/"):
        raise ConfigError(
            f"container.extra_mounts: {text!r} is not HOST:CONTAINER[:ro] with an absolute CONTAINER path"
        )
    kind = "bind" if parts[0].startswith(("/", "~", ".")) else "volume"
    source = str(Path(parts[0]).expanduser()) if kind == "bind" else parts[0]
    return MountInfo(source=source, destination=parts[1], read_only=read_only, kind=kind)


def _mask(key: str, value: str) -> str:
    return "****" if value and any(word in key.upper() for word in _SECRET_WORDS) else value


@dataclass(frozen=True)
class ContainerSpec:
    """Everything ``podman create`` gets. Build it with ``from_settings``."""

    image: str
    name: str
    ports: tuple[PortBinding, ...] = ()
    mounts: tuple[MountInfo, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    gpu: bool = False
    devices: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    restart_policy: str = "no"
    network: str = ""
    init: bool = True
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    notices: tuple[Notice, ...] = ()
    host_dirs: tuple[str, ...] = ()
    """Host folders for the data mounts that comfytui creates before ``podman create``."""

    # ------------------------------------------------------------------ building
    @classmethod
    def from_settings(
        cls, settings: ContainerSettings, gpu_present: bool, read_only: Collection[str] = ()
    ) -> ContainerSpec:
        """``read_only``: data folders mounted read-only (``models``, shared by one container per GPU)."""
        notices: list[Notice] = []
        if not settings.name or not _NAMED_VOLUME.match(settings.name):
            raise ConfigError(f"container.name: {settings.name!r} is not a valid container name")
        host = settings.host or "127.0.0.1"
        if not is_loopback(host):
            notices.append(
                Notice(
                    "warning",
                    f"ComfyUI's port is published on {host}:{settings.port}, not on loopback: ComfyUI has no "
                    "authentication, so anyone who can reach this address can run workflows and read outputs. "
                    'Keep container.host = "127.0.0.1" and use an SSH tunnel unless you mean it.',
                )
            )
        ports = (PortBinding(settings.container_port, settings.port, host, "tcp"),)
        if settings.network == "host":
            notices.append(
                Notice(
                    "info",
                    f"network mode is host: podman does not publish ports, ComfyUI listens on "
                    f"port {settings.container_port} of this host itself",
                )
            )

        mounts: list[MountInfo] = []
        host_dirs: list[str] = []
        for folder, (target, under_storage) in DATA_FOLDERS.items():
            if folder == "custom_nodes" and not settings.mount_custom_nodes:
                continue
            source = settings.volumes.get(folder)
            if source:
                mount = parse_mount(f"{source}:{target}")
            elif settings.storage:
                mount = MountInfo(
                    str(Path(settings.storage).expanduser() / under_storage), target, False, "bind"
                )
            else:
                mount = MountInfo(f"{settings.name}-{folder.replace('_', '-')}", target, False, "volume")
            if folder in read_only:
                mount = MountInfo(mount.source, mount.destination, True, mount.kind)
            mounts.append(mount)
            if mount.kind == "bind":
                host_dirs.append(mount.source)
        unknown = set(settings.volumes) - set(DATA_FOLDERS)
        if unknown:
            raise ConfigError(
                f"container.volumes: unknown folder(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(DATA_FOLDERS)}; use extra_mounts for anything else)"
            )
        mounts += [parse_mount(text) for text in settings.extra_mounts]
        taken = {m.destination for m in mounts}
        for suffix, target in USER_VOLUMES.items():
            if target not in taken:
                mounts.append(MountInfo(f"{settings.name}-{suffix}", target, False, "volume"))
        targets = [m.destination for m in mounts]
        dupes = {t for t in targets if targets.count(t) > 1}
        if dupes:
            raise ConfigError(f"container: more than one mount at {', '.join(sorted(dupes))}")

        gpu = settings.gpu == "nvidia" or (settings.gpu == "auto" and gpu_present)
        cli_args = settings.cli_args.strip()
        # label=disable in both modes, as the image's own podman instructions do: the data folders
        # are bind mounts that SELinux would otherwise hide from the container
        security_opt: tuple[str, ...] = ("label=disable",)
        if gpu:
            devices: tuple[str, ...] = gpu_devices(settings.gpus)
        else:
            devices = ()
            if "--cpu" not in shlex.split(cli_args):
                cli_args = f"{cli_args} --cpu".strip()
            why = (
                'container.gpu = "none"' if settings.gpu == "none" else "no NVIDIA GPU was found on this host"
            )
            notices.append(
                Notice(
                    "warning",
                    f"CPU mode: {why}, so ComfyUI runs on the CPU ('--cpu' added to CLI_ARGS); "
                    'set container.gpu = "nvidia" to ask for the GPU through CDI',
                )
            )
        if settings.network == "host":
            cli_args = _listen_on_loopback(cli_args, notices)
        env = {"CLI_ARGS": cli_args, **(CUDA_ORDER_ENV if gpu else {}),
               **{k: v for k, v in settings.env.items() if k != "CLI_ARGS"}}
        if "CLI_ARGS" in settings.env:
            raise ConfigError("container.env: set CLI_ARGS through container.cli_args")
        return cls(
            image=_image_ref(settings.image, settings.tag),
            name=settings.name,
            ports=ports,
            mounts=tuple(mounts),
            env=env,
            command=tuple(settings.command),
            gpu=gpu,
            devices=devices,
            security_opt=security_opt,
            restart_policy=settings.restart_policy,
            network=settings.network,
            init=settings.init,
            notices=tuple(notices),
            host_dirs=tuple(host_dirs),
        )

    # ------------------------------------------------------------------ identity
    def material(self) -> dict[str, Any]:
        """The fields that make two containers different; stored as a label, hashed."""
        return {
            "image": self.image,
            "command": list(self.command),
            "env": dict(sorted(self.env.items())),
            "ports": [[p.host_ip, p.host_port, p.container_port, p.protocol] for p in self.ports],
            "mounts": [[m.source, m.destination, m.read_only, m.kind] for m in self.mounts],
            "devices": list(self.devices),
            "security_opt": list(self.security_opt),
            "restart_policy": self.restart_policy,
            "network": self.network,
            "init": self.init,
        }

    @property
    def spec_hash(self) -> str:
        blob = json.dumps(self.material(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def labels(self) -> dict[str, str]:
        return {
            **self.extra_labels,
            MANAGED_LABEL: "true",
            SPEC_HASH_LABEL: self.spec_hash,
            SPEC_LABEL: json.dumps(self.material(), sort_keys=True, separators=(",", ":")),
        }

    @property
    def cli_args(self) -> str:
        return self.env.get("CLI_ARGS", "")

    @property
    def listen_port(self) -> int:
        """The host port ComfyUI answers on (with host networking: the container port itself)."""
        port = self.ports[0]
        return port.container_port if self.network == "host" else port.host_port

    @property
    def url(self) -> str:
        host = self.ports[0].host_ip if self.ports else "127.0.0.1"
        if self.network == "host" or host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.listen_port}"

    # ------------------------------------------------------------------ the request
    def create_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for podman-py's ``containers.create`` (image included)."""
        kwargs: dict[str, Any] = {
            "image": self.image,
            "name": self.name,
            "environment": dict(self.env),
            "labels": self.labels,
            "ports": {f"{p.container_port}/{p.protocol}": (p.host_ip, p.host_port) for p in self.ports},
            "mounts": [
                {"type": "bind", "source": m.source, "target": m.destination, "read_only": m.read_only}
                for m in self.mounts
                if m.kind == "bind"
            ],
            "volumes": {
                m.source: {"bind": m.destination, "mode": "ro" if m.read_only else "rw"}
                for m in self.mounts
                if m.kind == "volume"
            },
            "restart_policy": {"Name": self.restart_policy},
            "init": self.init,
        }
        if self.command:
            kwargs["command"] = list(self.command)
        if self.devices:
            kwargs["devices"] = list(self.devices)
        if self.security_opt:
            # libpod's SpecGenerator takes SELinux options without the docker-style "label=" prefix.
            kwargs["security_opt"] = [o.removeprefix("label=") for o in self.security_opt]
        if self.network:
            kwargs["network_mode"] = self.network
        return kwargs

    # ------------------------------------------------------------------ comparing
    def diff(self, existing_inspect: Mapping[str, Any], image_id: str | None = None) -> list[Change]:
        """What would change if the existing container were recreated from this spec ([] if nothing).

        ``image_id``: the id the local image ``self.image`` has now. After a pull brought a new one,
        the container still runs the old id: that is a change too, so recreate is offered.
        """
        config = existing_inspect.get("Config") or {}
        labels = config.get("Labels") or {}
        image_changes = _image_id_change(self.image, existing_inspect.get("Image"), image_id)
        if labels.get(SPEC_HASH_LABEL) == self.spec_hash:
            return image_changes
        try:
            old = json.loads(labels[SPEC_LABEL])
        except (KeyError, TypeError, ValueError):
            old = _material_from_inspect(existing_inspect)
        return image_changes + _diff_material(old, self.material())


def _image_id_change(ref: str, running: Any, local: str | None) -> list[Change]:
    if not local or not isinstance(running, str) or not running:
        return []
    strip = lambda v: v.removeprefix("sha256:")  # noqa: E731 - podman reports both forms
    if strip(running) == strip(local) or strip(local).startswith(strip(running)) or strip(running).startswith(strip(local)):
        return []
    return [Change("image_id", strip(running)[:12], strip(local)[:12],
                   f"image {ref} was updated ({strip(running)[:12]} → {strip(local)[:12]}): recreate to use it")]


def _material_from_inspect(data: Mapping[str, Any]) -> dict[str, Any]:
    """Best effort for a container comfytui did not create (no spec label)."""
    config = data.get("Config") or {}
    host = data.get("HostConfig") or {}
    env = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        if key in ("PATH", "TERM", "container", "HOME", "HOSTNAME"):
            continue
        env[key] = value
    ports = []
    for key, bindings in sorted((host.get("PortBindings") or {}).items()):
        number, _, proto = key.partition("/")
        for b in bindings or []:
            ports.append([b.get("HostIp") or "", int(b.get("HostPort") or 0), int(number), proto or "tcp"])
    mounts = [
        [
            m.get("Name") if m.get("Type") == "volume" else m.get("Source"),
            m.get("Destination"),
            not m.get("RW", True),
            m.get("Type") or "bind",
        ]
        for m in data.get("Mounts") or []
    ]
    devices = [d.get("PathOnHost", "") for d in host.get("Devices") or []]
    return {
        "image": config.get("Image") or data.get("ImageName") or "",
        "command": list(config.get("Cmd") or []),
        "env": env,
        "ports": ports,
        "mounts": mounts,
        "devices": devices,
        "security_opt": list(host.get("SecurityOpt") or []),
        "restart_policy": (host.get("RestartPolicy") or {}).get("Name") or "no",
        "network": host.get("NetworkMode") or "",
        "init": bool(host.get("Init")),
    }


def _diff_material(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []

    def add(name: str, before: Any, after: Any, text: str) -> None:
        changes.append(Change(name, str(before), str(after), text))

    if old.get("image") != new["image"]:
        add("image", old.get("image"), new["image"], f"image {old.get('image')} → {new['image']}")
    old_ports = {(p[2], p[3]): (p[0], p[1]) for p in old.get("ports") or []}
    new_ports = {(p[2], p[3]): (p[0], p[1]) for p in new["ports"]}
    for key in sorted(set(old_ports) | set(new_ports)):
        before, after = old_ports.get(key), new_ports.get(key)
        if before == after:
            continue
        if before and after and before[0] == after[0]:
            add("port", before[1], after[1], f"port {before[1]}→{after[1]}")
        elif before and after:
            add(
                "port",
                f"{before[0]}:{before[1]}",
                f"{after[0]}:{after[1]}",
                f"port {before[0]}:{before[1]}→{after[0]}:{after[1]}",
            )
        elif after:
            add("port", "", f"{after[0]}:{after[1]}", f"port + {after[0]}:{after[1]}→{key[0]}/{key[1]}")
        elif before:
            add("port", f"{before[0]}:{before[1]}", "", f"port - {before[0]}:{before[1]}")
    old_env, new_env = dict(old.get("env") or {}), dict(new["env"])
    for key in sorted(set(old_env) | set(new_env)):
        before, after = old_env.get(key), new_env.get(key)
        if before == after:
            continue
        shown_before = "(unset)" if before is None else repr(_mask(key, before))
        shown_after = "(unset)" if after is None else repr(_mask(key, after))
        add(
            key if key == "CLI_ARGS" else f"env {key}",
            shown_before,
            shown_after,
            f"{key if key == 'CLI_ARGS' else 'env ' + key} {shown_before} → {shown_after}",
        )
    old_mounts = {m[1]: m for m in old.get("mounts") or []}
    new_mounts = {m[1]: m for m in new["mounts"]}
    for target in sorted(set(old_mounts) | set(new_mounts)):
        before, after = old_mounts.get(target), new_mounts.get(target)
        if before is not None and after is not None and list(before) == list(after):
            continue
        if before and after:
            b = f"{before[0]}{' (ro)' if before[2] else ''}"
            a = f"{after[0]}{' (ro)' if after[2] else ''}"
            add("mount", b, a, f"mount {target}: {b} → {a}")
        elif after:
            add("mount", "", after[0], f"mount + {after[0]} at {target}{' (ro)' if after[2] else ''}")
        elif before:
            add("mount", before[0], "", f"mount - {before[0]} at {target}")
    if (
        list(old.get("devices") or []) != new["devices"]
        or list(old.get("security_opt") or []) != new["security_opt"]
    ):
        b = "GPU (" + ", ".join(old.get("devices") or []) + ")" if old.get("devices") else "CPU"
        a = "GPU (" + ", ".join(new["devices"]) + ")" if new["devices"] else "CPU"
        if b != a:
            add("gpu", b, a, f"devices {b} → {a}")
        if list(old.get("security_opt") or []) != new["security_opt"]:
            add(
                "security_opt",
                old.get("security_opt") or [],
                new["security_opt"],
                f"security_opt {old.get('security_opt') or []} → {new['security_opt']}",
            )
    if list(old.get("command") or []) != new["command"]:
        b = shlex.join(old.get("command") or []) or "(image default)"
        a = shlex.join(new["command"]) or "(image default)"
        add("command", b, a, f"command {b} → {a}")
    for key, label in (("restart_policy", "restart policy"), ("network", "network"), ("init", "init")):
        if old.get(key) != new[key]:
            add(key, old.get(key), new[key], f"{label} {old.get(key)!r} → {new[key]!r}")
    return changes
