"""Several servers in the config: ``[servers.NAME]``, ``default_server``, ``--server NAME``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from comfytui.core.config import parse_config
from comfytui.core.errors import ConfigError

COMFYTUI = Path(sys.executable).with_name("comfytui")

FLEET = """
default_server = "big"
[container]
image = "docker.io/yanwk/comfyui-boot"
[servers.small]
url = "http://127.0.0.1:18188"
[servers.big]
url = "https://gpu-box.example:8443"
auth = "bearer"
token_env = "BIG_TOKEN"
backend = "container"
[servers.big.container]
gpus = ["1"]
port = 8190
socket = "ssh://root@gpu-box/run/podman/podman.sock"
"""


def test_named_servers_pick_the_default_and_keep_per_server_overrides() -> None:
    config = parse_config(FLEET, "fleet.toml")
    assert [p.name for p in config.fleet()] == ["big", "small"]
    assert (config.selected_server, config.server.url, config.server.auth, config.backend) == (
        "big", "https://gpu-box.example:8443", "bearer", "container")
    assert (config.container.gpus, config.container.port, config.container.socket) == (
        ["1"], 8190, "ssh://root@gpu-box/run/podman/podman.sock")
    small = config.select_server("small")
    assert (small.server.url, small.backend, small.container.port, small.container.gpus) == (
        "http://127.0.0.1:18188", "none", 8188, [])


def test_a_single_server_config_is_the_server_named_default() -> None:
    config = parse_config('[server]\nurl = "http://127.0.0.1:8188"\n')
    assert [(p.name, p.server.url) for p in config.fleet()] == [("default", "http://127.0.0.1:8188")]
    assert config.select_server("default") is config
    with pytest.raises(ConfigError, match="no such server"):
        config.select_server("gpu1")


@pytest.mark.parametrize(("text", "message"), [
    ('[servers.a]\ntimeout_s = 3\n', "every \\[servers.NAME\\] needs its url"),
    ('default_server = "zz"\n[servers.a]\nurl = "http://h:1"\n', "'zz' is not a server"),
    ('[servers.a]\nurl = "http://h:1"\nbogus = 1\n', "servers.a.bogus: unknown setting"),
    ('[servers.a]\nurl = "http://h:1"\n[servers.a.container]\ngpus = 3\n', "expected a list"),
])
def test_server_table_mistakes_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "bad.toml")


def test_server_flag_selects_a_configured_server_and_refuses_unknown_names(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(FLEET)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(tmp_path)

    def comfytui(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(COMFYTUI), "--config", str(config), *args], capture_output=True, text=True,
                              env=env, timeout=60, cwd=tmp_path)

    shown = comfytui("queue", "ls", "--server", "small", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["server"] == "http://127.0.0.1:18188"
    default = comfytui("queue", "ls", "--json")
    assert json.loads(default.stdout)["server"] == "https://gpu-box.example:8443"
    unknown = comfytui("--server", "nope", "queue", "ls")
    assert unknown.returncode == 2 and "no such server" in unknown.stderr and "small, big" in unknown.stderr
