"""Fixtures and helpers of the workflow UI tests.

Not a conftest.py: other test folders do ``from conftest import ...``, which a second conftest module
would shadow. Test modules import the fixtures they use from here (a unique module name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comfytui.core.config import Config, ReconnectSettings, WorkflowSettings
from harness.app import wait_until  # noqa: F401 (re-exported to the tests here)

WORKFLOW_FIXTURES = Path(__file__).resolve().parents[1] / "workflow" / "fixtures"


def load_fixture(name: str) -> Any:
    return json.loads((WORKFLOW_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session", name="object_info")
def object_info_fixture() -> dict[str, Any]:
    """``GET /object_info`` of the real CPU ComfyUI 0.3.75 with the comfytui test nodes (captured)."""
    return load_fixture("object_info.json")


@pytest.fixture(name="user_dir")
def user_dir_fixture(tmp_path: Path) -> Path:
    folder = tmp_path / "my-workflows"
    folder.mkdir()
    return folder


@pytest.fixture(name="app_config")
def app_config_fixture(comfy_server, comfytui_home, user_dir) -> Config:
    config = Config().with_server(url=comfy_server.url)
    return config.replace(
        reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5),
        ui=type(config.ui)(image_protocol="halfcell", preview_max_fps=5.0),
        workflows=WorkflowSettings(dirs=[str(user_dir)]),
    )
