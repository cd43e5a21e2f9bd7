"""Issue 13's container side: which GPUs the spec asks for, the image id in the diff, and the
host checks before a GPU start (CDI host paths, the driver's CUDA against the tag, catatonit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfytui.core.config import ContainerSettings
from comfytui.core.errors import ConfigError
from comfytui.core.lifecycle.preflight import (
    check_cuda_driver,
    container_gpu_checks,
    cuda_of_driver,
    cuda_of_tag,
    read_driver_version,
)
from comfytui.core.lifecycle.spec import ContainerSpec

OLD_ID = "sha256:" + "a" * 64
NEW_ID = "sha256:" + "b" * 64


def test_spec_for_gpu_1_carries_its_cdi_device_and_pci_bus_order() -> None:
    spec = ContainerSpec.from_settings(ContainerSettings(gpu="nvidia", gpus=["1"]), gpu_present=True)
    kwargs = spec.create_kwargs()
    assert kwargs["devices"] == ["nvidia.com/gpu=1"]
    assert kwargs["environment"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    by_uuid = ContainerSpec.from_settings(ContainerSettings(gpus=["GPU-4b1d", "0:1"]), gpu_present=True)
    assert by_uuid.devices == ("nvidia.com/gpu=GPU-4b1d", "nvidia.com/gpu=0:1")
    assert ContainerSpec.from_settings(ContainerSettings(), gpu_present=True).devices == ("nvidia.com/gpu=all",)
    with pytest.raises(ConfigError, match="not a GPU index"):
        ContainerSpec.from_settings(ContainerSettings(gpus=["first"]), gpu_present=True)


def test_changing_the_gpus_is_a_change_to_recreate_for() -> None:
    old = ContainerSpec.from_settings(ContainerSettings(), gpu_present=True)
    new = ContainerSpec.from_settings(ContainerSettings(gpus=["1"]), gpu_present=True)
    texts = [c.text for c in new.diff({"Config": {"Labels": old.labels}})]
    assert any("nvidia.com/gpu=1" in t for t in texts)


def test_after_pulling_a_new_image_id_recreate_is_offered() -> None:
    spec = ContainerSpec.from_settings(ContainerSettings(), gpu_present=True)
    running = {"Config": {"Labels": spec.labels}, "Image": OLD_ID}
    assert spec.diff(running, image_id=OLD_ID.removeprefix("sha256:")) == []
    (change,) = spec.diff(running, image_id=NEW_ID)
    assert change.field == "image_id" and "was updated" in change.text and "recreate" in change.text


def _cdi(folder: Path, host_path: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "nvidia.yaml"
    spec.write_text(
        'cdiVersion: "0.5.0"\nkind: nvidia.com/gpu\ndevices:\n- name: all\n  containerEdits:\n'
        f"    mounts:\n    - hostPath: {host_path}\n      containerPath: /usr/lib/libcuda.so.1\n"
    )
    return spec


def test_cdi_spec_naming_a_missing_host_path_fails_with_the_path(tmp_path: Path) -> None:
    gone = "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"
    spec = _cdi(tmp_path / "cdi", gone)
    checks = container_gpu_checks("docker.io/yanwk/comfyui-boot:cu130-slim-v2", gpu=True, init=False,
                                  socket_uri="unix:///run/podman/podman.sock", cdi_dirs=[tmp_path / "cdi"])
    failed = [c for c in checks if not c.ok]
    assert any(gone in c.message and str(spec) in c.message and "nvidia-ctk cdi generate" in c.fix for c in failed)
    present = tmp_path / "libcuda.so.1"
    present.write_text("")
    _cdi(tmp_path / "cdi", str(present))
    checks = container_gpu_checks("img:latest", gpu=True, init=False, cdi_dirs=[tmp_path / "cdi"])
    assert [c.name for c in checks if not c.ok] == []


def test_remote_socket_says_it_cannot_check() -> None:
    (check,) = container_gpu_checks("img:cu130", gpu=True, init=True, socket_uri="ssh://core@box/run/podman.sock")
    assert check.ok and not check.blocking and "remote" in check.message and "cannot be checked" in check.message


def test_driver_too_old_for_the_tag_is_named_with_a_tag_that_fits() -> None:
    check = check_cuda_driver("docker.io/yanwk/comfyui-boot:cu130-slim-v2", (12, 8), "570.133.07")
    assert check is not None and not check.ok
    assert "driver 570.133.07" in check.message and "CUDA 13.0" in check.message and "580" in check.message
    assert 'container.tag = "cu128-slim-v2"' in check.fix
    ok = check_cuda_driver("docker.io/yanwk/comfyui-boot:cu126-slim", None, "580.65.06")
    assert ok is not None and ok.ok
    assert check_cuda_driver("img:latest", (12, 0)) is None  # a tag without CUDA: nothing to say


def test_tag_and_driver_parsing(tmp_path: Path) -> None:
    assert cuda_of_tag("docker.io/yanwk/comfyui-boot:cu130-slim-v2") == (13, 0)
    assert cuda_of_tag("localhost:5000/comfy:cu126-megapak") == (12, 6)
    assert cuda_of_tag("img:cpu") is None
    assert cuda_of_driver("580.65.06") == (13, 0) and cuda_of_driver("550.54.15") == (12, 4)
    assert cuda_of_driver("470.1") is None
    version = tmp_path / "version"
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 06:54:38 UTC 2025\n")
    assert read_driver_version(version) == "580.65.06"
    assert read_driver_version(tmp_path / "absent") is None


def test_catatonit_checked_when_init_is_on() -> None:
    checks = container_gpu_checks("img:latest", gpu=False, init=True)
    (init,) = [c for c in checks if c.name == "init"]
    assert init.ok == ("catatonit" in init.message and "not installed" not in init.message)
    assert container_gpu_checks("img:latest", gpu=False, init=False) == []
