"""config: errors name the file, line and key; the environment wins over the file; secrets stay hidden."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from comfytui.core.config import (
    Config,
    ReconnectSettings,
    Secret,
    ServerSettings,
    load_config,
    redact_url,
    secret_from_env,
)
from comfytui.core.errors import EXIT_BAD_INPUT, ConfigError

COMFYTUI = Path(sys.executable).with_name("comfytui")


def _write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_is_read_into_typed_sections(tmp_path: Path) -> None:
    path = _write(tmp_path, """
backend = "process"
[server]
url = "http://gpu-box:8188"
timeout_s = 5
headers = {X-Trace = "1"}
[reconnect]
max_attempts = 4
base_delay_s = 0.25
[ui]
image_protocol = "halfcell"
[container]
port = 8190
extra_mounts = ["/a:/a:ro"]
""")
    config = load_config(path, environ={})
    assert config.backend == "process" and config.source == str(path)
    assert config.server.url == "http://gpu-box:8188"
    assert config.server.timeout_s == 5.0 and isinstance(config.server.timeout_s, float)
    assert config.server.headers == {"X-Trace": "1"}
    assert config.reconnect == ReconnectSettings(max_attempts=4, base_delay_s=0.25, max_delay_s=30.0)
    assert config.ui.image_protocol == "halfcell"
    assert config.container.port == 8190 and config.container.extra_mounts == ["/a:/a:ro"]


def test_missing_default_file_gives_defaults_but_a_named_missing_file_is_an_error(
    tmp_path: Path, comfytui_home: Path
) -> None:
    assert load_config(None, environ={}) == Config()
    with pytest.raises(ConfigError, match=r"nope\.toml: the config file does not exist"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match=r"env\.toml: the config file does not exist"):
        load_config(None, environ={"COMFYTUI_CONFIG": str(tmp_path / "env.toml")})


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("[server]\nurl = \n", 2, 7),
        ('[server]\nurl = "http://x"\ntimeout_s = 1 2\n', 3, 15),
        ("[server\n", 1, 8),
    ],
)
def test_toml_syntax_errors_name_file_line_and_column(tmp_path: Path, text: str, line: int, col: int) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(f"{path}:{line}:{col}: ")


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, '[server]\nurl = "http://x"\n\ntimout_s = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"{path}:4: server.timout_s: unknown setting")
    assert "timeout_s" in message, "the known keys are listed so the typo is obvious"


def test_unknown_section_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, '[sever]\nurl = "http://x"\n')
    with pytest.raises(ConfigError, match=r"sever: unknown setting or section"):
        load_config(path, environ={})


def test_a_server_written_as_a_flat_servers_table_says_what_is_expected(tmp_path: Path) -> None:
    """[servers] holds one table per named server; a url straight under it is the likely slip."""
    path = _write(tmp_path, '[servers]\nurl = "http://x"\n')
    with pytest.raises(ConfigError, match=r"servers\.url: expected a \[servers\.url\] table"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("text", "line", "key", "what"),
    [
        ('[server]\n\ntimeout_s = "soon"\n', 3, "server.timeout_s", "expected a number, got 'soon'"),
        ("[reconnect]\nmax_attempts = 2.5\n", 2, "reconnect.max_attempts", "expected an integer"),
        ("[ui]\nimage_protocol = \"kitty\"\n", 2, "ui.image_protocol", "'kitty' is not one of"),
        ("[container]\nenabled = \"maybe\"\n", 2, "container.enabled", "expected true or false"),
        ("[container]\nport = 70000\n", 2, "container.port", "is not a TCP port"),
        ("[reconnect]\nmax_delay_s = -1\n", 2, "reconnect.max_delay_s", "must not be negative"),
        ("[server]\nheaders = 3\n", 2, "server.headers", "expected a table"),
        ("server = 3\n", 1, "server", "expected a [server] table"),
    ],
)
def test_wrong_types_name_file_line_and_key(tmp_path: Path, text: str, line: int, key: str, what: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert what in message


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[server]
url = "http://from-file:8188"
timeout_s = 30
[reconnect]
max_attempts = 1
base_delay_s = 1.0
max_delay_s = 9.0
""")
    environ = {
        "COMFY_API_URL": "http://from-env:9000",
        "COMFY_TIMEOUT": "2.5",
        "COMFY_RECONNECT_MAX_ATTEMPTS": "7",
        "COMFY_RECONNECT_BASE_DELAY_S": "0.1",
        "COMFY_RECONNECT_MAX_DELAY_S": "0.5",
    }
    config = load_config(path, environ=environ)
    assert config.server.url == "http://from-env:9000"
    assert config.server.timeout_s == 2.5
    assert config.reconnect == ReconnectSettings(max_attempts=7, base_delay_s=0.1, max_delay_s=0.5)
    # Only the variables that are set override; the rest of the file stays.
    partial = load_config(path, environ={"COMFY_TIMEOUT": "4"})
    assert partial.server.url == "http://from-file:8188" and partial.server.timeout_s == 4.0
    assert partial.reconnect.max_delay_s == 9.0


@pytest.mark.parametrize(
    ("var", "value", "what"),
    [
        ("COMFY_TIMEOUT", "abc", "expected a number, got 'abc'"),
        ("COMFY_TIMEOUT", "-3", "must not be negative"),
        ("COMFY_RECONNECT_MAX_ATTEMPTS", "many", "expected an integer"),
        ("COMFY_RECONNECT_MAX_ATTEMPTS", "-1", "must not be negative"),  # -1 once meant "give up at once"
        ("COMFY_RECONNECT_BASE_DELAY_S", "fast", "expected a number"),
        ("COMFY_RECONNECT_MAX_DELAY_S", "", "expected a number"),
    ],
)
def test_a_bad_environment_value_is_an_error_naming_the_variable(var: str, value: str, what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ={var: value, "COMFYTUI_CONFIG": ""})
    message = str(caught.value)
    assert message.startswith(f"${var}: ") and what in message


def test_secret_repr_is_masked_and_token_is_read_from_the_named_variable() -> None:
    secret = Secret("s3cr3t-token")
    assert repr(secret) == "Secret('****')" and "s3cr3t" not in repr([secret])
    assert secret == "s3cr3t-token", "still usable as the string it is"
    assert repr(Secret("")) == "Secret('')"
    settings = ServerSettings(auth="bearer", token_env="MY_TOKEN")
    token = secret_from_env(settings, {"MY_TOKEN": "s3cr3t-token"})
    assert token == "s3cr3t-token" and "s3cr3t" not in repr(token)
    assert secret_from_env(ServerSettings(), {"MY_TOKEN": "x"}) == ""
    assert redact_url("http://me:pa55@host:8188/x") == "http://me:****@host:8188/x"


def _cli(*args: str, env: dict[str, str] | None = None, home: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    return subprocess.run(
        [str(COMFYTUI), *args], capture_output=True, text=True, timeout=60,
        env={**base, "COMFYTUI_HOME": str(home), **(env or {})}, stdin=subprocess.DEVNULL,
    )


def test_cli_with_a_bad_config_prints_the_error_and_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = _write(tmp_path, '[server]\nurl = "http://x"\ntimeout_s = \n', "bad.toml")
    proc = _cli("--config", str(bad), "run", "workflow.json", home=tmp_path)
    assert proc.returncode == EXIT_BAD_INPUT
    assert f"{bad}:3:13:" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""

    typo = _write(tmp_path, '[server]\nurll = "http://x"\n', "typo.toml")
    proc = _cli("--config", str(typo), "run", "workflow.json", home=tmp_path)
    assert proc.returncode == EXIT_BAD_INPUT
    assert f"{typo}:2: server.urll: unknown setting" in proc.stderr and "Traceback" not in proc.stderr

    proc = _cli("run", "workflow.json", env={"COMFY_RECONNECT_MAX_ATTEMPTS": "lots"}, home=tmp_path)
    assert proc.returncode == EXIT_BAD_INPUT
    assert "$COMFY_RECONNECT_MAX_ATTEMPTS" in proc.stderr and "Traceback" not in proc.stderr
