"""Container ids from /proc/<pid>/cgroup contents, as podman, docker and k8s write them."""

from __future__ import annotations

import pytest

from comfytui.core.gpu.containers import container_id_from_cgroup, match_container, parent_pid, process_name

CID = "3f4a9c1e2b7d8f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
OTHER = "9" * 64


@pytest.mark.parametrize(
    "text",
    [
        # rootless podman, systemd manager, cgroup v2
        f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CID}.scope/container\n",
        f"0::/user.slice/user-0.slice/user@0.service/user.slice/libpod-{CID}.scope/container",
        # rootful podman
        f"0::/machine.slice/libpod-{CID}.scope\n",
        f"0::/machine.slice/libpod-{CID}.scope/container\n",
        # cgroupfs manager, v1 (hybrid host: the unified line is "/")
        f"12:pids:/libpod_parent/libpod-{CID}\n1:name=systemd:/libpod_parent/libpod-{CID}\n0::/\n",
        # cgroupfs manager, v2
        f"0::/libpod_parent/libpod-{CID}\n",
        # podman in other layouts
        f"0::/user.slice/user-1000.slice/user@1000.service/containers/{CID}\n",
        # docker
        f"0::/system.slice/docker-{CID}.scope\n",
        f"13:memory:/docker/{CID}\n5:devices:/docker/{CID}\n",
        # kubernetes with containerd / cri-o
        f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b_3c.slice/cri-containerd-{CID}.scope\n",
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9.slice/crio-{CID}.scope\n",
        f"11:cpuset:/kubepods/besteffort/pod1a2b3c4d-0000-1111-2222-333344445555/{CID}\n",
        # upper case and surrounding blanks
        f"  0::/machine.slice/libpod-{CID.upper()}.scope  \n",
    ],
)
def test_container_ids(text: str) -> None:
    assert container_id_from_cgroup(text) == CID


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0::/\n",
        "0::/user.slice/user-1000.slice/session-2.scope\n",
        "0::/system.slice/comfyui.service\n",
        "12:pids:/user.slice\n1:name=systemd:/user.slice/user-0.slice/session-1.scope\n0::/user.slice\n",
        f"0::/machine.slice/libpod-conmon-{CID}.scope\n",  # podman's monitor, not the container
        "garbage without colons\n\x00\x01",
        "0::/machine.slice/libpod-nothex.scope\n",
    ],
)
def test_host_processes(text: str) -> None:
    assert container_id_from_cgroup(text) is None


def test_v2_line_wins_and_deepest_component_wins() -> None:
    nested = f"0::/machine.slice/libpod-{OTHER}.scope/container/libpod-{CID}.scope\n"
    assert container_id_from_cgroup(nested) == CID
    mixed = f"5:memory:/docker/{OTHER}\n0::/machine.slice/libpod-{CID}.scope\n"
    assert container_id_from_cgroup(mixed) == CID


def test_match_container_full_and_short_ids() -> None:
    names = {CID[:12]: "comfyui", OTHER: "other"}
    assert match_container(CID, names) == "comfyui"
    assert match_container(OTHER, names) == "other"
    assert match_container("1" * 64, names) is None
    assert match_container(CID, {CID[:4]: "too-short"}) is None


def test_proc_helpers(tmp_path) -> None:
    d = tmp_path / "42"
    d.mkdir()
    (d / "comm").write_text("python3\n")
    (d / "stat").write_text("42 (weird) name)) S 7 42 42 0 -1 0\n")
    assert process_name(42, tmp_path) == "python3"
    assert parent_pid(42, tmp_path) == 7
    assert process_name(43, tmp_path) is None and parent_pid(43, tmp_path) is None
