"""Fixtures for the GPU pane and GPU screen tests: a dashboard on the real CPU ComfyUI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from comfytui.core.config import Config, ReconnectSettings


@pytest.fixture
def gpu_app_config(comfy_server, comfytui_home) -> Config:
    config = Config().with_server(url=comfy_server.url)
    return config.replace(
        reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5),
        ui=type(config.ui)(image_protocol="halfcell", preview_max_fps=10.0),
    )


_GPU_TESTS = str(Path(__file__).resolve().parents[1] / "gpu")
if _GPU_TESTS not in sys.path:  # FakeNvml lives with the core's GPU tests
    sys.path.insert(0, _GPU_TESTS)
