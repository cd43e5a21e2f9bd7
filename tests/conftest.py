"""Suite-wide fixtures: the real CPU ComfyUI servers and an isolated COMFYTUI_HOME.

- ``comfy_server`` (session): one shared :class:`harness.comfy.ComfyServer` for the whole run.
  Do not kill/stop/restart it. Vary an input per test (``harness.comfy.unique_seed()``): identical
  prompts are answered from ComfyUI's cache without progress or previews.
- ``comfy_server_factory`` (function): ``make(**kwargs) -> ComfyServer`` (started) for tests that
  need a private server to kill or restart; every one is torn down after the test.
- ``comfytui_home`` (function): a temporary ``COMFYTUI_HOME`` so nothing touches real user files.

Missing components go through ``harness.components.require``: skipped locally, failed under CI.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # makes `import harness` work from any test folder
    sys.path.insert(0, _TESTS)

from harness.comfy import ComfyServer, ensure_installed  # noqa: E402
from harness.tmux import TmuxSession  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background of a non-interactive shell (`cmd &`: CI runners, nohup)
    # inherits SIGINT ignored, and an ignored signal stays ignored in every child: the tests that
    # press Ctrl+C on a comfytui process would see it ignored. A handler (not SIG_IGN) here makes
    # every child start with the default, as in a user's terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    ensure_installed()
    server = ComfyServer(base=tmp_path_factory.mktemp("comfy-shared"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def comfy_server_factory(tmp_path: Path) -> Iterator[Callable[..., ComfyServer]]:
    ensure_installed()
    servers: list[ComfyServer] = []

    def make(*, start: bool = True, base: Path | str | None = None, **kwargs) -> ComfyServer:
        server = ComfyServer(base=base or tmp_path / f"comfy-{len(servers)}", **kwargs)
        servers.append(server)
        if start:
            server.start()
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def comfytui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "comfytui-home"
    home.mkdir()
    monkeypatch.setenv("COMFYTUI_HOME", str(home))
    return home


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[TmuxSession]:
    """A private tmux server (its own socket), 120x40, killed after the test."""
    session = TmuxSession(tmp_path / "tmux.sock")
    yield session
    session.kill()
