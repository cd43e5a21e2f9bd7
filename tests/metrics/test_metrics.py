"""``comfytui metrics``: a real Prometheus endpoint over real ComfyUI servers and the real store;
GPUs through the NVML double (tests/gpu/fake_nvml.py), the only hardware these machines lack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.comfy import free_port, sleep_prompt, unique_seed

COMFYTUI = Path(sys.executable).with_name("comfytui")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "gpu"))
from fake_nvml import FakeGpu, FakeNvml  # noqa: E402  (the NVML hardware double)


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    return env


def samples(text: str) -> dict[str, list]:
    """family name -> its samples, as Prometheus' own parser reads the page."""
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


def scrape(url: str, until: callable, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = httpx.get(url, timeout=5).text
            if until(text):
                return text
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the endpoint never showed what was expected:\n{text[:3000]}")


@pytest.mark.comfy
def test_metrics_endpoint_reports_two_servers_the_queue_and_finished_jobs(comfy_server, comfy_server_factory, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    other = comfy_server_factory()
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(sleep_prompt(0.05, seed=unique_seed())))
    # On the private server: a finished comfytui job on the shared one would show up in other
    # tests' dispatchers (every comfytui client id looks like their own).
    ran = subprocess.run([str(COMFYTUI), "run", str(wf), "--url", other.url, "--wait", "--json"],
                         capture_output=True, text=True, env=env_for(home), timeout=120, cwd=home)
    assert ran.returncode == 0, ran.stderr
    port = free_port()
    proc = subprocess.Popen([str(COMFYTUI), "metrics", "--listen", f"127.0.0.1:{port}", "--url", comfy_server.url,
                             "--url", other.url, "--interval", "0.3"], env=env_for(home), cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        text = scrape(url, lambda t: t.count("comfytui_server_up{") >= 2)
        families = samples(text)
        ours = [name for name in families if name.startswith("comfytui_")]
        assert len(ours) >= 5, ours
        up = {s.labels["server"]: s.value for s in families["comfytui_server_up"]}
        assert sorted(up.values()) == [1.0, 1.0] and len(up) == 2, up
        assert any(s.name.endswith("_total") for f in ours for s in families[f]), "a counter"
        jobs = [s for s in families["comfytui_jobs"] if s.name == "comfytui_jobs_total"]
        assert any(s.labels["outcome"] == "success" and s.value >= 1 for s in jobs), jobs
        counts = [s for s in families["comfytui_job_duration_seconds"] if s.name.endswith("_count")]
        assert counts and counts[0].value >= 1
        versions = {s.labels["version"] for s in families["comfytui_server_info"]}
        assert versions == {"0.3.75"}, versions
        assert not any("id" in s.labels or "prompt_id" in s.labels for f in ours for s in families[f]), "no job-id labels"

        other.stop()  # a server that goes away reads 0
        text = scrape(url, lambda t: any(s.value == 0.0 for s in samples(t).get("comfytui_server_up", [])))
        assert sorted(s.value for s in samples(text)["comfytui_server_up"]) == [0.0, 1.0]
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_a_non_loopback_listen_address_is_refused_without_allow_remote(tmp_path) -> None:
    proc = subprocess.run([str(COMFYTUI), "metrics", "--listen", f"0.0.0.0:{free_port()}"], capture_output=True,
                          text=True, env=env_for(tmp_path), timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr and "--allow-remote" in proc.stderr


@pytest.mark.comfy
async def test_gpu_families_from_nvml_and_comfyui_vram(comfy_server, comfytui_home) -> None:
    from comfytui.core.config import Config, GpuSettings
    from comfytui.core.gpu.sampler import GpuSampler
    from comfytui.core.metrics import MetricsExporter
    from comfytui.core.store.db import open_store

    gpus = [FakeGpu(name="NVIDIA GeForce RTX 4090", uuid="GPU-aaaa", util_gpu=75, temperature=66, power_mw=300_000),
            FakeGpu(name="NVIDIA A100", uuid="GPU-bbbb", util_gpu=10)]
    config = Config().with_server(url=comfy_server.url)
    sampler = GpuSampler(GpuSettings(), nvml=FakeNvml(gpus))
    exporter = MetricsExporter([("local", config)], open_store(), gpu_sampler=sampler)
    try:
        await exporter.refresh()
        families = samples(generate_latest(exporter.registry).decode())
    finally:
        await exporter.aclose()
        await sampler.close()
    util = {s.labels["uuid"]: (s.value, s.labels["gpu"], s.labels["model_name"]) for s in families["comfytui_gpu_utilization_ratio"]}
    assert util == {"GPU-aaaa": (0.75, "0", "NVIDIA GeForce RTX 4090"), "GPU-bbbb": (0.10, "1", "NVIDIA A100")}
    total = {s.labels["uuid"]: s.value for s in families["comfytui_gpu_memory_total_bytes"]}
    assert total["GPU-aaaa"] == 24 * 1024**3
    assert {s.labels["uuid"]: s.value for s in families["comfytui_gpu_power_watts"]}["GPU-aaaa"] == 300.0
    assert {s.labels["uuid"]: s.value for s in families["comfytui_gpu_temperature_celsius"]}["GPU-aaaa"] == 66.0
    assert "comfytui_gpu_memory_used_bytes" in families
    # ComfyUI's own view of its device memory, from /system_stats (the CPU server reports its RAM).
    vram = families["comfytui_comfyui_vram_total_bytes"]
    assert vram and vram[0].labels["server"] == "local" and vram[0].value > 0


@pytest.mark.comfy
async def test_without_nvml_there_are_no_gpu_families(comfy_server, comfytui_home) -> None:
    from comfytui.core.config import Config, GpuSettings
    from comfytui.core.gpu.sampler import GpuSampler
    from comfytui.core.metrics import MetricsExporter
    from comfytui.core.store.db import open_store

    sampler = GpuSampler(GpuSettings())  # the real pynvml: no driver on these machines
    exporter = MetricsExporter([("local", Config().with_server(url=comfy_server.url))], open_store(), gpu_sampler=sampler)
    try:
        await exporter.refresh()
        families = samples(generate_latest(exporter.registry).decode())
    finally:
        await exporter.aclose()
        await sampler.close()
    assert families["comfytui_server_up"][0].value == 1.0
    assert not [name for name in families if name.startswith("comfytui_gpu_")]
