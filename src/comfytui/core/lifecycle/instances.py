"""One ComfyUI container per GPU (``comfytui up --all``).

From the ``[container]`` settings and a list of GPUs (NVML indices, or the CDI spec's device names
when NVML is absent — the caller passes it in: this room does not import the GPU room),
``gpu_instances`` plans one container per GPU:

- name ``{container.name}-gpu{N}`` and CDI device ``nvidia.com/gpu=N``;
- consecutive ports: ``container.port`` + i (with host networking the container port too, and
  ``--port`` added to CLI_ARGS, since ComfyUI then listens on it itself);
- the models folder shared by all of them and mounted read-only; input, user and custom_nodes
  shared; each its own output folder (``…/output-gpuN``, or the volume ``{name}-output``);
- labels ``io.comfytui.group`` (the base name) and ``io.comfytui.gpu`` so ``down --all`` and
  ``status --all`` find every instance even after the GPU list changed.

Each instance gets its own ``LifecycleManager`` (own phases, own log).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from comfytui.core.config import Config, ContainerSettings
from comfytui.core.errors import ConfigError
from comfytui.core.lifecycle.podman_backend import PodmanBackend
from comfytui.core.lifecycle.spec import DATA_FOLDERS, ContainerSpec

GROUP_LABEL = "io.comfytui.group"
GPU_LABEL = "io.comfytui.gpu"
SHARED_READ_ONLY = ("models",)


@dataclass(frozen=True)
class GpuInstance:
    gpu: str
    """The GPU as CDI names it (``"0"``)."""
    settings: ContainerSettings
    spec: ContainerSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def config(self, config: Config) -> Config:
        """``config`` aimed at this instance: its container settings, the server at its URL."""
        return config.replace(container=self.settings).with_server(url=self.spec.url)

    def backend(self) -> PodmanBackend:
        return PodmanBackend(self.spec, socket_uri=self.settings.socket, settings=self.settings)


def _suffix(gpu: str, position: int) -> str:
    return f"gpu{gpu}" if gpu.isdigit() else f"gpu{position}"


def _output_source(base: ContainerSettings, suffix: str, name: str) -> str | None:
    """Where this instance's outputs go (None: the per-name named volume ``{name}-output``)."""
    configured = base.volumes.get("output")
    if configured:
        if configured.startswith(("/", "~", ".")):
            return str(Path(configured).expanduser() / suffix)
        return f"{configured}-{suffix}"
    if base.storage:
        target = DATA_FOLDERS["output"][1]
        return str(Path(base.storage).expanduser() / f"{target}-{suffix}")
    return None


def _shared_source(base: ContainerSettings, folder: str) -> str:
    configured = base.volumes.get(folder)
    if configured:
        return configured
    if base.storage:
        return str(Path(base.storage).expanduser() / DATA_FOLDERS[folder][1])
    return f"{base.name}-{folder.replace('_', '-')}"


def gpu_instances(base: ContainerSettings, gpus: Sequence[str]) -> list[GpuInstance]:
    """One planned container per GPU in ``gpus`` (in that order)."""
    wanted = [str(g).strip() for g in gpus if str(g).strip() and str(g).strip() != "all"]
    if not wanted:
        raise ConfigError("up --all: no GPUs to start ComfyUI on")
    if len(set(wanted)) != len(wanted):
        raise ConfigError(f"up --all: a GPU is listed twice ({', '.join(wanted)})")
    if base.port + len(wanted) - 1 > 65535:
        raise ConfigError(f"container.port {base.port}: no room for {len(wanted)} consecutive ports")
    out: list[GpuInstance] = []
    for position, gpu in enumerate(wanted):
        suffix = _suffix(gpu, position)
        name = f"{base.name}-{suffix}"
        volumes = {
            folder: _shared_source(base, folder)
            for folder in DATA_FOLDERS
            if folder != "output" and (folder != "custom_nodes" or base.mount_custom_nodes)
        }
        output = _output_source(base, suffix, name)
        if output is not None:
            volumes["output"] = output
        host_network = base.network == "host"
        container_port = base.container_port + position if host_network else base.container_port
        cli_args = base.cli_args
        if host_network and "--port" not in shlex.split(cli_args):
            cli_args = f"{cli_args} --port {container_port}".strip()
        settings = dataclasses.replace(
            base,
            name=name,
            port=base.port + position,
            container_port=container_port,
            gpu="nvidia",
            gpus=[gpu],
            volumes=volumes,
            cli_args=cli_args,
        )
        spec = ContainerSpec.from_settings(settings, True, read_only=SHARED_READ_ONLY)
        spec = dataclasses.replace(
            spec, extra_labels={**spec.extra_labels, GROUP_LABEL: base.name, GPU_LABEL: gpu}
        )
        out.append(GpuInstance(gpu, settings, spec))
    return out


def instance_gpu(name: str, base_name: str) -> str | None:
    """``comfyui-gpu1`` → ``"1"`` for the base name ``comfyui``; None for other names."""
    match = re.fullmatch(re.escape(base_name) + r"-gpu(\d+)", name)
    return match.group(1) if match else None


async def find_instances(base: ContainerSettings) -> list[str]:
    """The names of the containers ``up --all`` made from ``base`` (label ``io.comfytui.group``),
    sorted by GPU number."""
    backend = PodmanBackend(ContainerSpec(image="", name=base.name), socket_uri=base.socket, settings=base)
    try:
        client = await backend.connect()
        found = await backend._call(
            lambda: client.containers.list(all=True, filters={"label": f"{GROUP_LABEL}={base.name}"}),
            what="list the GPU instances",
        )
        names = [c.name for c in found]
    finally:
        await backend.close()
    return sorted(names, key=lambda n: (int(instance_gpu(n, base.name) or 1 << 30), n))
