"""The container spec, its diff, socket lookup, preflight checks and small parsers (no engine needed)."""

from __future__ import annotations

import json
import shlex
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from comfytui.core.config import ContainerSettings, parse_config
from comfytui.core.errors import ConfigError, InputError
from comfytui.core.lifecycle import MANAGED_LABEL, SPEC_HASH_LABEL, ContainerSpec, socket_candidates
from comfytui.core.lifecycle.podman_backend import _progress, parse_time, status_from_inspect
from comfytui.core.lifecycle.preflight import check_cdi, check_mounts, check_port, check_selinux
from comfytui.core.lifecycle.spec import SPEC_LABEL, parse_mount, split_image_ref
from comfytui.headless.lifecycle_cmds import parse_since


def test_default_spec_publishes_on_loopback_in_cpu_mode_with_named_volumes():
    spec = ContainerSpec.from_settings(ContainerSettings(), gpu_present=False)
    kwargs = spec.create_kwargs()
    assert kwargs["image"] == "docker.io/yanwk/comfyui-boot:cu130-slim-v2"
    assert kwargs["name"] == "comfyui"
    assert kwargs["ports"] == {"8188/tcp": ("127.0.0.1", 8188)}
    assert kwargs["init"] is True
    assert kwargs["restart_policy"] == {"Name": "no"}
    assert "network_mode" not in kwargs  # podman's default (bridge) for real users
    assert kwargs["environment"]["CLI_ARGS"] == "--cpu"
    assert "devices" not in kwargs
    assert kwargs["security_opt"] == ["disable"]  # label=disable in CPU mode too, as the image documents
    assert kwargs["labels"][MANAGED_LABEL] == "true"
    assert kwargs["labels"][SPEC_HASH_LABEL] == spec.spec_hash
    assert json.loads(kwargs["labels"][SPEC_LABEL])["image"] == spec.image
    targets = {v["bind"]: k for k, v in kwargs["volumes"].items()}
    assert targets == {
        "/root/ComfyUI/models": "comfyui-models",
        "/root/ComfyUI/input": "comfyui-input",
        "/root/ComfyUI/output": "comfyui-output",
        "/root/ComfyUI/user": "comfyui-user",
        # the image sets PIP_USER=true: pip installs and caches survive a recreate
        "/root/.local": "comfyui-local",
        "/root/.cache": "comfyui-cache",
    }  # custom_nodes only on opt-in
    assert any(n.level == "warning" and "CPU mode" in n.text and "--cpu" in n.text for n in spec.notices)
    assert spec.url == "http://127.0.0.1:8188"


def test_gpu_spec_uses_cdi_and_disables_labels():
    spec = ContainerSpec.from_settings(ContainerSettings(cli_args="--fast"), gpu_present=True)
    kwargs = spec.create_kwargs()
    assert kwargs["devices"] == ["nvidia.com/gpu=all"]
    assert spec.security_opt == ("label=disable",)
    assert kwargs["security_opt"] == ["disable"]  # libpod's SpecGenerator form
    assert kwargs["environment"]["CLI_ARGS"] == "--fast"
    assert not any("CPU mode" in n.text for n in spec.notices)
    # gpu = "none" wins over a present GPU, gpu = "nvidia" over an absent one
    assert not ContainerSpec.from_settings(ContainerSettings(gpu="none"), gpu_present=True).gpu
    assert ContainerSpec.from_settings(ContainerSettings(gpu="nvidia"), gpu_present=False).gpu


def test_non_loopback_host_warns_about_missing_authentication():
    spec = ContainerSpec.from_settings(ContainerSettings(host="0.0.0.0"), gpu_present=True)
    assert spec.create_kwargs()["ports"] == {"8188/tcp": ("0.0.0.0", 8188)}
    warnings = [n.text for n in spec.notices if n.level == "warning"]
    assert any("no authentication" in w and "0.0.0.0:8188" in w for w in warnings)
    quiet = ContainerSpec.from_settings(ContainerSettings(host="127.0.0.1"), gpu_present=True)
    assert not [n for n in quiet.notices if n.level == "warning"]


def test_storage_root_gives_host_dirs_at_comfyui_boot_paths(tmp_path: Path):
    settings = ContainerSettings(
        storage=str(tmp_path),
        mount_custom_nodes=True,
        volumes={"models": "/srv/models"},
        extra_mounts=["/opt/cache:/root/.cache", "hf:/root/.cache/huggingface/hub:ro"],
    )
    spec = ContainerSpec.from_settings(settings, gpu_present=True)
    by_target = {m.destination: m for m in spec.mounts}
    assert by_target["/root/ComfyUI/models"].source == "/srv/models"
    assert by_target["/root/ComfyUI/output"].source == str(tmp_path / "storage-user/output")
    assert by_target["/root/ComfyUI/user"].source == str(tmp_path / "storage-user/user-profile")
    assert by_target["/root/ComfyUI/custom_nodes"].source == str(tmp_path / "storage-nodes/custom_nodes")
    assert by_target["/root/.cache/huggingface/hub"].kind == "volume"
    assert by_target["/root/.cache/huggingface/hub"].read_only
    kwargs = spec.create_kwargs()
    assert {"type": "bind", "source": "/opt/cache", "target": "/root/.cache", "read_only": False} in kwargs[
        "mounts"
    ]
    assert kwargs["volumes"] == {"hf": {"bind": "/root/.cache/huggingface/hub", "mode": "ro"},
                                 "comfyui-local": {"bind": "/root/.local", "mode": "rw"}}  # .cache: the user's own
    assert str(tmp_path / "storage-user/input") in spec.host_dirs


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        (ContainerSettings(extra_mounts=["nocolon"]), "HOST:CONTAINER"),
        (ContainerSettings(extra_mounts=["/a:relative"]), "HOST:CONTAINER"),
        (ContainerSettings(volumes={"bogus": "/x"}), "unknown folder"),
        (ContainerSettings(extra_mounts=["/a:/root/ComfyUI/models"]), "more than one mount"),
        (ContainerSettings(env={"CLI_ARGS": "--fast"}), "cli_args"),
        (ContainerSettings(name="bad name"), "container name"),
    ],
)
def test_bad_settings_are_config_errors(settings: ContainerSettings, needle: str):
    with pytest.raises(ConfigError, match=needle):
        ContainerSpec.from_settings(settings, gpu_present=False)


def test_diff_is_human_readable_and_masks_secrets():
    old = ContainerSpec.from_settings(ContainerSettings(env={"HF_TOKEN": "hf_old"}), gpu_present=True)
    inspect = {"Config": {"Labels": old.labels}}
    assert old.diff(inspect) == []
    new = ContainerSpec.from_settings(
        ContainerSettings(port=8189, cli_args="--fast", env={"HF_TOKEN": "hf_new"}, restart_policy="always"),
        gpu_present=True,
    )
    texts = [str(c) for c in new.diff(inspect)]
    assert "port 8188→8189" in texts
    assert "CLI_ARGS '' → '--fast'" in texts
    assert "env HF_TOKEN '****' → '****'" in texts
    assert "restart policy 'no' → 'always'" in texts
    assert not any("hf_new" in t or "hf_old" in t for t in texts)
    cpu = ContainerSpec.from_settings(ContainerSettings(env={"HF_TOKEN": "hf_old"}), gpu_present=False)
    texts = [str(c) for c in cpu.diff(inspect)]
    assert "devices GPU (nvidia.com/gpu=all) → CPU" in texts
    assert "CLI_ARGS '' → '--cpu'" in texts


def test_diff_without_spec_label_reads_inspect_fields():
    inspect = {
        "Config": {
            "Labels": {},
            "Image": "docker.io/yanwk/comfyui-boot:cu126-slim",
            "Env": ["PATH=/bin", "CLI_ARGS="],
            "Cmd": ["bash", "/runner-scripts/entrypoint.sh"],
        },
        "HostConfig": {
            "PortBindings": {"8188/tcp": [{"HostIp": "", "HostPort": "8188"}]},
            "RestartPolicy": {"Name": ""},
            "NetworkMode": "bridge",
        },
        "Mounts": [
            {"Type": "bind", "Source": "/data/models", "Destination": "/root/ComfyUI/models", "RW": True}
        ],
    }
    spec = ContainerSpec.from_settings(ContainerSettings(), gpu_present=True)
    texts = [str(c) for c in spec.diff(inspect)]
    assert (
        "image docker.io/yanwk/comfyui-boot:cu126-slim → docker.io/yanwk/comfyui-boot:cu130-slim-v2" in texts
    )
    assert "port :8188→127.0.0.1:8188" in texts
    assert "mount /root/ComfyUI/models: /data/models → comfyui-models" in texts


def test_status_from_inspect():
    data = {
        "Id": "abc",
        "Name": "comfyui",
        "Image": "sha256:1",
        "ImageName": "img:1",
        "State": {
            "Status": "exited",
            "ExitCode": 139,
            "Pid": 0,
            "StartedAt": "2025-01-02T03:04:05.123456789Z",
        },
        "Config": {
            "Labels": {MANAGED_LABEL: "true", SPEC_LABEL: json.dumps({"devices": ["nvidia.com/gpu=all"]})}
        },
        "HostConfig": {"PortBindings": {"8188/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8188"}]}},
        "Mounts": [
            {"Type": "volume", "Name": "comfyui-models", "Destination": "/root/ComfyUI/models", "RW": False}
        ],
    }
    status = status_from_inspect(data, "comfyui")
    assert status.state.value == "exited" and status.exit_code == 139 and status.pid is None
    assert status.managed and status.gpu_devices == ("nvidia.com/gpu=all",)
    assert status.started_at == datetime(2025, 1, 2, 3, 4, 5, 123456, UTC)
    out = status.to_json()
    assert out["ports"] == [
        {"host_ip": "127.0.0.1", "host_port": 8188, "container_port": 8188, "protocol": "tcp"}
    ]
    assert out["mounts"][0] == {
        "source": "comfyui-models",
        "destination": "/root/ComfyUI/models",
        "read_only": True,
        "kind": "volume",
    }
    json.dumps(out)


def test_pull_progress_percent_is_byte_weighted():
    layers = {"a": ("Downloading", 50, 100), "b": ("Pulling fs layer", None, None)}
    assert _progress("a", "Downloading", 50, 100, layers).percent == pytest.approx(50.0)
    layers = {"a": ("Download complete", 100, 100), "b": ("Already exists", None, None)}
    assert _progress("b", "Already exists", None, None, layers).percent == 100.0
    layers = {"a": ("Pulling fs layer", None, None), "b": ("Already exists", None, None)}
    assert _progress("a", "Pulling fs layer", None, None, layers).percent == pytest.approx(50.0)


def test_socket_candidates():
    assert socket_candidates("/run/x.sock", {}) == ["unix:///run/x.sock"]
    assert socket_candidates("ssh://core@gpu-box/run/podman/podman.sock", {}) == [
        "ssh://core@gpu-box/run/podman/podman.sock"
    ]
    assert socket_candidates("", {"XDG_RUNTIME_DIR": "/run/user/1000"}) == [
        "unix:///run/user/1000/podman/podman.sock",
        "unix:///run/podman/podman.sock",
    ]
    assert socket_candidates("", {}) == ["unix:///run/podman/podman.sock"]


def test_image_refs_and_mount_parsing():
    assert split_image_ref("docker.io/yanwk/comfyui-boot:cu130-slim-v2") == (
        "docker.io/yanwk/comfyui-boot",
        "cu130-slim-v2",
    )
    assert split_image_ref("127.0.0.1:5000/bb") == ("127.0.0.1:5000/bb", "latest")
    assert split_image_ref("x/y@sha256:ab") == ("x/y@sha256:ab", "")
    assert parse_mount("/a:/b:ro").read_only
    assert parse_mount("vol:/b").kind == "volume"
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("2025-01-02T03:04:05.5+01:00") == datetime(2025, 1, 2, 2, 4, 5, 500000, UTC)


def test_parse_since():
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_since("10m", now) == now - timedelta(minutes=10)
    assert parse_since("1700000000") == datetime.fromtimestamp(1700000000, UTC)
    assert parse_since("2025-01-01T11:00:00Z") == datetime(2025, 1, 1, 11, tzinfo=UTC)
    with pytest.raises(InputError, match="--since"):
        parse_since("yesterday")


def test_check_port_detects_a_listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        taken = check_port("127.0.0.1", port)
        assert not taken.ok and taken.blocking and "already in use" in taken.message and taken.fix
    assert check_port("127.0.0.1", port).ok


def test_check_cdi(tmp_path: Path):
    missing = check_cdi([tmp_path / "none"])
    assert not missing.ok and "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml" in missing.fix
    (tmp_path / "other.yaml").write_text('cdiVersion: "0.5.0"\nkind: "vendor.com/device"\n')
    assert not check_cdi([tmp_path]).ok
    (tmp_path / "nvidia.yaml").write_text(
        'cdiVersion: "0.5.0"\nkind: nvidia.com/gpu\ndevices:\n- name: all\n'
    )
    assert check_cdi([tmp_path]).ok
    json_dir = tmp_path / "j"
    json_dir.mkdir()
    (json_dir / "nvidia.json").write_text(json.dumps({"cdiVersion": "0.6.0", "kind": "nvidia.com/gpu"}))
    assert check_cdi([tmp_path / "none", json_dir]).ok


def test_check_mounts_and_selinux(tmp_path: Path):
    from comfytui.core.lifecycle import MountInfo

    existing = tmp_path / "out"
    existing.mkdir()
    checks = check_mounts(
        [
            MountInfo(str(existing), "/o"),
            MountInfo(str(tmp_path / "new"), "/n"),
            MountInfo(str(tmp_path / "gone"), "/g"),
        ],
        created_by_us=[str(tmp_path / "new")],
    )
    assert [c.ok for c in checks] == [True, True, False]
    assert "does not exist" in checks[2].message
    enforce = tmp_path / "enforce"
    enforce.write_text("1\n")
    hint = check_selinux(enforce)
    assert hint is not None and not hint.ok and not hint.blocking and "label=disable" in hint.fix
    assert check_selinux(enforce, label_disabled=True).ok
    enforce.write_text("0\n")
    assert check_selinux(enforce) is None
    assert check_selinux(tmp_path / "absent") is None


def test_new_config_fields_parse():
    config = parse_config(
        '[container]\ncommand = ["python", "main.py"]\nextra_mounts = ["/usr:/usr:ro"]\ninit = false\n'
        '[process]\nbase_directory = "/srv/comfy"\nenv = { HF_HOME = "/srv/hf" }\nstartup_retries = 2\n'
    )
    assert config.container.command == ["python", "main.py"]
    assert config.container.extra_mounts == ["/usr:/usr:ro"]
    assert config.container.init is False
    assert config.process.base_directory == "/srv/comfy"
    assert config.process.env == {"HF_HOME": "/srv/hf"}
    assert config.process.startup_retries == 2


def test_host_networking_binds_comfyui_to_loopback_and_warns_when_told_otherwise():
    """With host networking nothing publishes ports: ComfyUI's own --listen decides who can reach it."""
    spec = ContainerSpec.from_settings(ContainerSettings(network="host", cli_args="--fast"), gpu_present=False)
    assert shlex.split(spec.env["CLI_ARGS"]) == ["--fast", "--cpu", "--listen", "127.0.0.1"]
    assert not [n for n in spec.notices if n.level == "warning" and "--listen" in n.text]

    mine = ContainerSpec.from_settings(ContainerSettings(network="host", cli_args="--listen 127.0.0.1"), gpu_present=False)
    assert shlex.split(mine.env["CLI_ARGS"]).count("--listen") == 1

    exposed = ContainerSpec.from_settings(ContainerSettings(network="host", cli_args="--listen=0.0.0.0"), gpu_present=False)
    assert "127.0.0.1" not in exposed.env["CLI_ARGS"]
    (warning,) = [n for n in exposed.notices if n.level == "warning" and "--listen" in n.text]
    assert "0.0.0.0" in warning.text and "no authentication" in warning.text

    bridge = ContainerSpec.from_settings(ContainerSettings(cli_args="--fast"), gpu_present=False)
    assert "--listen" not in bridge.env["CLI_ARGS"]  # the published port is bound to 127.0.0.1 instead
