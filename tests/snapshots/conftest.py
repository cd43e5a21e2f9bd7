"""Fixtures of the snapshot tests: a dashboard whose every input is fixed.

- the server URL is a closed loopback port (``snapshot_data.CLOSED_URL``): the real session and
  stream run and fail, so nothing live reaches the picture; reconnects wait minutes, and the
  reconnect jitter comes from a seeded ``random``;
- the clock (the session's, and ``time.time`` for the panes' "elapsed") is a ``FrozenClock``, the
  time zone is UTC;
- the clientId is fixed; the current directory is a temporary folder and COMFYTUI_HOME is ``home``
  in it, so local paths on screen are relative (``home/...``, ``models/...``), never temp paths;
- NVML is absent whatever this machine has: the app's GPU sampler runs on ``FakeNvml`` (the suite's
  one test double) whose nvmlInit fails with NVML_ERROR_LIBRARY_NOT_FOUND.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from comfytui.core.config import Config, GpuSettings, ModelSettings, ReconnectSettings, WorkflowSettings
from harness.components import require
from harness.snapshot_data import CLIENT_ID, CLOSED_PORT, CLOSED_URL, FrozenClock, port_is_closed

_GPU_TESTS = str(Path(__file__).resolve().parents[1] / "gpu")
if _GPU_TESTS not in sys.path:  # FakeNvml lives with the core's GPU tests
    sys.path.insert(0, _GPU_TESTS)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FrozenClock]:
    frozen = FrozenClock()
    monkeypatch.setattr(time, "time", frozen)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    random.seed(20261123)
    try:
        yield frozen
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.fixture
def snap_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary current directory holding COMFYTUI_HOME as the relative path ``home``: paths the
    app shows (logs, state, models) read ``home/...`` or ``models/...``, never a temp path."""
    work = tmp_path / "work"
    (work / "home").mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("COMFYTUI_HOME", "home")
    return work


@pytest.fixture
def make_app(clock: FrozenClock, snap_cwd: Path) -> Callable[..., Any]:
    """``make(**config_changes) -> ComfyTuiApp`` on the closed port, with the fixed clock and no NVML."""
    require("a closed loopback port", port_is_closed(), f"something listens on 127.0.0.1:{CLOSED_PORT}; stop it")
    from fake_nvml import FakeNvml, pynvml

    from comfytui.core.comfy.session import ComfySession
    from comfytui.core.gpu.sampler import GpuSampler
    from comfytui.tui.app import ComfyTuiApp

    def make(**changes: Any) -> Any:
        config = Config().with_server(url=CLOSED_URL, client_id=CLIENT_ID, timeout_s=5.0)
        config = config.replace(
            reconnect=ReconnectSettings(base_delay_s=600.0, max_delay_s=600.0),
            ui=type(config.ui)(image_protocol="halfcell", preview_max_fps=10.0),
            gpu=GpuSettings(interval_s=1.0, nvml_retry_s=3600.0),
            models=ModelSettings(dirs=[], server_paths="never"),
            workflows=WorkflowSettings(dirs=[]),
        )
        config = config.replace(**changes)
        session = ComfySession(config, role="dashboard", clock=clock, follow_logs=True)
        sampler = GpuSampler(config.gpu, nvml=FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))
        return ComfyTuiApp(config, session=session, gpu_sampler=sampler)

    return make


@pytest.fixture(autouse=True)
def _no_env_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment overrides must not change what the app shows."""
    for name in list(os.environ):
        if name.startswith("COMFY_") or (name.startswith("COMFYTUI_") and name != "COMFYTUI_HOME"):
            monkeypatch.delenv(name, raising=False)
