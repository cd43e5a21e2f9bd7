"""Fixtures of the workflow UI tests: the captured /object_info, a dashboard config on the real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comfytui.core.config import Config, ReconnectSettings, WorkflowSettings

WORKFLOW_FIXTURES = Path(__file__).resolve().parents[1] / "workflow" / "fixtures"


def load_fixture(name: str) -> Any:
    return json.loads((WORKFLOW_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    """``GET /object_info`` of the real CPU ComfyUI 0.3.75 with the comfytui test nodes (captured)."""
    return load_fixture("object_info.json")


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "my-workflows"
    folder.mkdir()
    return folder


@pytest.fixture
def app_config(comfy_server, comfytui_home, user_dir) -> Config:
    config = Config().with_server(url=comfy_server.url)
    return config.replace(
        reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5),
        ui=type(config.ui)(image_protocol="halfcell", preview_max_fps=5.0),
        workflows=WorkflowSettings(dirs=[str(user_dir)]),
    )
