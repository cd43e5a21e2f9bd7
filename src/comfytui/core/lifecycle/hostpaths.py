"""Where a container's folders are on this machine: its bind mounts, container path → host path.

ComfyUI in a container answers ``/internal/folder_paths`` with container paths
(``/root/ComfyUI/models/checkpoints``); the model browser reads files on the host, so it needs
this mapping (``ModelCatalog(path_map=...)``).
"""

from __future__ import annotations

from comfytui.core.config import Config, ContainerSettings
from comfytui.core.errors import ConfigError
from comfytui.core.lifecycle.spec import ContainerSpec


def container_path_map(settings: ContainerSettings) -> list[tuple[str, str]]:
    """``(container prefix, host prefix)`` for each bind mount of the spec built from ``settings``.
    Named volumes are left out: their data is podman's, not a folder the user chose."""
    try:
        # GPU or not changes devices and CLI_ARGS, never the mounts.
        spec = ContainerSpec.from_settings(settings, gpu_present=False)
    except ConfigError:
        return []  # a config the container cannot be built from: no path is known to be shared
    return [(m.destination, m.source) for m in spec.mounts if m.kind == "bind"]


def server_path_map(config: Config) -> list[tuple[str, str]] | None:
    """The mapping for the selected server's folder paths: None when they are host paths already
    (no managed container), else the container's bind mounts."""
    if config.backend != "container":
        return None
    return container_path_map(config.container)
