"""Settings builders shared by the lifecycle tests."""

from __future__ import annotations

from pathlib import Path

from tests.harness.podman import PodmanService, free_port, venv_base_prefix

from comfytui.core.config import ContainerSettings


def comfy_container_settings(
    comfy: dict[str, str], podman_service: PodmanService, base: Path, name: str, **changes
) -> ContainerSettings:
    """The real ComfyUI inside the busybox image: host files bind-mounted read-only at their paths."""
    port = free_port()
    venv, tree = Path(comfy["venv"]), Path(comfy["tree"])
    prefix = venv_base_prefix(venv)
    empty = base / "frontend-empty"
    for folder in ("custom_nodes", "models", "input", "output", "user", "home", "frontend-empty"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    mounts = [f"{p}:{p}:ro" for p in ("/usr", "/lib", "/lib64") if Path(p).exists()]
    if prefix is not None:
        mounts.append(f"{prefix}:{prefix}:ro")
    mounts += [f"{venv}:{venv}:ro", f"{tree}:{tree}:ro", f"{base}:{base}"]
    values = dict(
        socket=podman_service.uri,
        image="localhost/busybox",
        tag="test",
        name=name,
        port=port,
        container_port=port,
        network="host",
        gpu="none",
        storage=str(base / "storage"),
        stop_timeout_s=5,
        startup_timeout_s=90.0,
        env={"HOME": str(base / "home"), "PYTHONUNBUFFERED": "1"},
        extra_mounts=mounts,
        command=[
            comfy["python"],
            str(tree / "main.py"),
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            str(port),
            "--base-directory",
            str(base),
            "--front-end-root",
            str(empty),
            "--database-url",
            "sqlite:///:memory:",
        ],
    )
    values.update(changes)
    return ContainerSettings(**values)
