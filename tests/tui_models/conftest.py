"""Fixtures for the model browser tests: the dashboard on the real CPU ComfyUI, with small real
.safetensors files (and one large, mostly sparse file) written into the server's model folders."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from comfytui.core.config import Config, ReconnectSettings

_MODEL_TESTS = str(Path(__file__).resolve().parents[1] / "models")
if _MODEL_TESTS not in sys.path:  # safetensors_files lives with the core's model tests
    sys.path.insert(0, _MODEL_TESTS)

from safetensors_files import CHECKPOINT, LORA, VAE, corrupt_header, safetensors_bytes, write  # noqa: E402

BIG_BYTES = 400 * 1024**2


@pytest.fixture
def models_app_config(comfy_server, comfytui_home) -> Config:
    config = Config().with_server(url=comfy_server.url)
    return config.replace(
        reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5),
        ui=type(config.ui)(image_protocol="halfcell", preview_max_fps=10.0),
    )


@pytest.fixture
def tui_model_files(comfy_server):
    """(tag, {name: path}) under ``models/checkpoints/<tag>`` and ``models/loras/<tag>``; removed after."""
    tag = f"tm{uuid.uuid4().hex[:8]}"
    models = Path(comfy_server.base) / "models"
    ck, lo = models / "checkpoints" / tag, models / "loras" / tag
    files = {
        "good": write(ck / "good.safetensors",
                      safetensors_bytes(CHECKPOINT, {"modelspec.title": "Good Model", "ss_note": "hello tui"})),
        "mystery": write(ck / "mystery.safetensors", safetensors_bytes(VAE)),
        "corrupt": write(ck / "corrupt.safetensors", corrupt_header()),
        "lora": write(lo / "style.safetensors", safetensors_bytes(LORA, {"ss_network_dim": "4"})),
    }
    big = ck / "big.safetensors"
    with open(big, "wb") as f:  # a real header, then a mostly sparse data section: quick to write
        f.write(safetensors_bytes(CHECKPOINT, {"modelspec.title": "Big"}))
        f.truncate(BIG_BYTES)
        f.seek(BIG_BYTES // 2)
        f.write(os.urandom(4096))
        f.seek(BIG_BYTES - 4096)
        f.write(b"end." * 1024)
    files["big"] = big
    yield tag, files
    shutil.rmtree(ck, ignore_errors=True)
    shutil.rmtree(lo, ignore_errors=True)
