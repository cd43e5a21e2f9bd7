"""One ComfyUI container per GPU: ``comfytui up --all`` / ``status --all`` / ``logs --gpu`` / ``down --all``.

NVML is the one double (tests/gpu/fake_nvml.py reporting two GPUs); the containers are real,
created by the real podman engine with real CDI devices: podman 4.3 reads CDI specs only from
/etc/cdi and /var/run/cdi (containers.conf ``cdi_spec_dirs`` is not honoured by 4.3.1, tried), so
the test writes a spec of its own into /var/run/cdi (a runtime dir; removed afterwards) declaring
``nvidia.com/gpu=0`` and ``=1`` as two harmless char devices (/dev/null's numbers) made in the
test's temp dir. Each container must then see exactly its own device node.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from comfytui.cli import main
from comfytui.core.lifecycle.preflight import cdi_gpu_names, cdi_lists_gpu
from harness.components import require
from harness.podman import PodmanService, busybox_values
from harness.ports import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
from fake_nvml import FakeGpu, FakeNvml  # noqa: E402

pytestmark = pytest.mark.podman

COMFYTUI = str(Path(sys.executable).with_name("comfytui"))
RUN_CDI = Path("/var/run/cdi")


@pytest.fixture
def cdi_two_gpus(tmp_path: Path):
    require("root (mknod, /var/run/cdi)", os.geteuid() == 0, "run the podman tests as root, as CI does")
    if cdi_lists_gpu()[0]:
        pytest.skip("this host has a real nvidia.com/gpu CDI spec: not shadowing it with a fake one")
    nodes = tmp_path / "dev"
    nodes.mkdir()
    devices = []
    for i in range(2):
        node = nodes / f"fakegpu{i}"
        os.mknod(node, 0o666 | 0o020000, os.makedev(1, 3))  # a char device with /dev/null's numbers
        devices.append({"name": str(i), "containerEdits": {
            "deviceNodes": [{"path": f"/dev/fakegpu{i}", "hostPath": str(node)}]}})
    created_dir = not RUN_CDI.exists()
    RUN_CDI.mkdir(parents=True, exist_ok=True)
    spec = RUN_CDI / f"comfytui-test-{os.getpid()}.json"
    spec.write_text(json.dumps({"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": devices}))
    try:
        yield spec
    finally:
        spec.unlink(missing_ok=True)
        if created_dir:
            with contextlib.suppress(OSError):
                RUN_CDI.rmdir()


def inspect(service: PodmanService, name: str) -> dict[str, Any]:
    return json.loads(service.podman("container", "inspect", name).stdout)[0]


def cli(home: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMFYTUI_HOME": str(home), "COMFYTUI_CONFIG": str(config)}
    env.pop("COMFYTUI_PODMAN_SOCKET", None)
    return subprocess.run([COMFYTUI, *args], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_up_all_one_container_per_gpu(podman_service: PodmanService, cdi_two_gpus, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    assert cdi_gpu_names() == ["0", "1"]  # what `up --all` would use if NVML were absent too
    base_name = f"ctui-{os.getpid()}"
    port = free_port(count=2)
    values = busybox_values(podman_service.uri, base_name, tmp_path / "storage", port=port,
                            command=["sh", "-c", "ls /dev/ | grep fakegpu; echo cli=$CLI_ARGS; exec sleep 1000"])
    values["gpu"] = "auto"  # no GPU on this host: only --all asks for them
    config = tmp_path / "c.toml"
    config.write_text(tomli_w.dumps({"backend": "container", "container": values}))
    monkeypatch.setenv("COMFYTUI_HOME", str(tmp_path))
    monkeypatch.setenv("COMFYTUI_CONFIG", str(config))
    monkeypatch.delenv("COMFYTUI_PODMAN_SOCKET", raising=False)
    nvml = FakeNvml([FakeGpu(uuid="GPU-aaaa"), FakeGpu(name="NVIDIA A100", uuid="GPU-bbbb")])
    monkeypatch.setattr("comfytui.core.gpu.sampler.load_pynvml", lambda: nvml)
    names = [f"{base_name}-gpu0", f"{base_name}-gpu1"]
    try:
        # busybox never answers HTTP: each instance runs, then its readiness wait times out
        code = main(["up", "--all", "--yes", "--startup-timeout", "1"])
        out = capsys.readouterr()
        assert code == 3, out.err
        assert f"2 GPUs (from NVML): {names[0]} on GPU 0, {names[1]} on GPU 1" in out.err
        for name in names:  # each instance its own phases
            assert f"[{name}] " in out.err and "running" in out.err

        first, second = (inspect(podman_service, n) for n in names)
        for i, data in enumerate((first, second)):
            assert data["State"]["Status"] == "running"
            labels = data["Config"]["Labels"]
            assert json.loads(labels["io.comfytui.spec"])["devices"] == [f"nvidia.com/gpu={i}"]
            assert labels["io.comfytui.gpu"] == str(i) and labels["io.comfytui.group"] == base_name
            env = dict(e.split("=", 1) for e in data["Config"]["Env"])
            assert f"--port {port + i}" in env["CLI_ARGS"]  # consecutive ports (host network: ComfyUI's own)
            # the CDI device reached the container: exactly its own GPU node
            seen = podman_service.podman("exec", names[i], "ls", "/dev").stdout.split()
            assert [d for d in seen if d.startswith("fakegpu")] == [f"fakegpu{i}"]
        mounts = [{m["Destination"]: m for m in d["Mounts"]} for d in (first, second)]
        models = [m["/root/ComfyUI/models"] for m in mounts]
        assert models[0]["Source"] == models[1]["Source"]  # shared ...
        assert not models[0]["RW"] and not models[1]["RW"]  # ... read-only
        outputs = [m["/root/ComfyUI/output"] for m in mounts]
        assert outputs[0]["Source"] != outputs[1]["Source"] and outputs[0]["RW"] and outputs[1]["RW"]
        assert outputs[1]["Source"].endswith("output-gpu1")

        # status and logs per instance: no NVML needed (the real CLI, where NVML is absent)
        out = cli(tmp_path, config, "status", "--all", "--json")
        assert out.returncode == 0, out.stderr
        listed = json.loads(out.stdout)
        assert [s["name"] for s in listed] == names and all(s["state"] == "running" for s in listed)
        assert [s["url"] for s in listed] == [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
        out = cli(tmp_path, config, "logs", "--gpu", "1", "--tail", "5")
        assert out.returncode == 0 and "fakegpu1" in out.stdout and "fakegpu0" not in out.stdout

        out = cli(tmp_path, config, "down", "--all", "-t", "0")
        assert out.returncode == 0, out.stderr
        assert all(inspect(podman_service, n)["State"]["Status"] in ("exited", "stopped") for n in names)
        out = cli(tmp_path, config, "down", "--all", "--remove", "-t", "0")
        assert out.returncode == 0, out.stderr
        assert all(podman_service.podman("container", "exists", n, check=False).returncode == 1 for n in names)
    finally:
        for name in names:
            podman_service.podman("rm", "-f", "-t", "0", name, check=False)


def test_up_all_without_any_gpu_says_why(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text(tomli_w.dumps({"backend": "container", "container": {"socket": str(tmp_path / "none.sock")}}))
    if cdi_gpu_names():
        pytest.skip("this host's CDI spec lists GPUs")
    out = cli(tmp_path, config, "up", "--all")
    assert out.returncode == 2 and "no GPUs found" in out.stderr and "Traceback" not in out.stderr
