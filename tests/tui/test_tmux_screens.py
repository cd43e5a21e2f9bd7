"""The full-screen views in a real terminal (tmux 120x40), keys only, on the real CPU ComfyUI."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid
from pathlib import Path

import pytest

from harness.tmux import TmuxSession

REPO = Path(__file__).resolve().parents[2]
COMFYTUI = str(REPO / ".venv" / "bin" / "comfytui")
pytestmark = [pytest.mark.comfy, pytest.mark.tmux]


@pytest.fixture
def tmux(tmp_path: Path):
    session = TmuxSession(tmp_path / "tmux.sock")
    yield session
    session.kill()


def write_safetensors(path: Path, metadata: dict[str, str]) -> None:
    header = {"__metadata__": metadata, "model.diffusion_model.w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\x00" * 8)


def test_model_browser_filters_shows_metadata_and_hashes_a_large_file_while_responding(
    tmux: TmuxSession, comfy_server, tmp_path: Path
) -> None:
    token = f"tmux{uuid.uuid4().hex[:8]}"
    folder = comfy_server.base / "models" / "checkpoints" / token
    folder.mkdir(parents=True)
    try:
        write_safetensors(folder / "a-small.safetensors", {"modelspec.title": f"title-{token}"})
        big = folder / "b-big.ckpt"
        with open(big, "wb") as handle:  # sparse: quick to make, seconds to hash
            handle.truncate(3 * 1024**3)
        env = {"COMFYTUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"}
        tmux.start([COMFYTUI, "--url", comfy_server.url], env)
        tmux.wait_for("● connected", timeout=60)
        tmux.keys("m")
        tmux.wait_for("files · sort: name", timeout=30)
        tmux.keys("/")
        for char in token:
            tmux.keys(char)
        tmux.keys("Enter")
        screen = tmux.wait_for(f"filter: {token}", timeout=10)
        assert "2 of" in screen, screen
        tmux.keys("Enter")  # details of the first row: the header read from the file
        screen = tmux.wait_for(f"title-{token}", timeout=10)
        assert "tensors: 1 (F16 1)" in screen
        tmux.keys("Down", "h")
        screen = tmux.wait_for("(h or Esc: cancel)", timeout=10)
        tmux.keys("3")  # the UI answers during the hash: sort by date
        screen = tmux.wait_for("sort: date", timeout=5)
        assert "(h or Esc: cancel)" in screen, "the hash finished before the UI answered: not a responsiveness check"
        assert re.search(r"\d+%", screen), "no progress shown while hashing"
        expected = hashlib.sha256()
        with open(big, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 24), b""):
                expected.update(chunk)
        # the digest shows in the details pane once the hash is done (the pane may wrap it)
        tmux.wait_for(expected.hexdigest()[:24], timeout=180)
        tmux.keys("Escape")
        tmux.wait_for("Workflows [1]", timeout=10)
        tmux.keys("q")
        assert tmux.exit_status() == 0
    finally:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
