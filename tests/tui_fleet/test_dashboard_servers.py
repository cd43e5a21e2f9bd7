"""Which servers the dashboard's strip shows, from the command line and the config (no server needed)."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from comfytui.cli import apply_cli_overrides, build_parser, dashboard_servers
from comfytui.core.config import load_config


def servers_for(argv: list[str], config_path: Path | None = None):
    args = build_parser(argv).parse_args(argv)
    config = apply_cli_overrides(load_config(str(config_path) if config_path else None), args)
    return config, dashboard_servers(args, config)


def test_several_urls_are_the_fleet_and_the_last_is_current(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COMFYTUI_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    config, servers = servers_for(["--url", "http://127.0.0.1:8188", "--url", "http://127.0.0.1:8189/", "--timeout", "7"])
    assert servers is not None
    assert [(n, c.server.url) for n, c in servers] == [("127.0.0.1:8188", "http://127.0.0.1:8188"), ("127.0.0.1:8189", "http://127.0.0.1:8189")]
    assert all(c.server.timeout_s == 7 for _, c in servers)
    assert config.server.url == "http://127.0.0.1:8189"


def test_one_url_or_one_server_is_no_fleet(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COMFYTUI_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    assert servers_for(["--url", "http://127.0.0.1:8188"])[1] is None
    assert servers_for([])[1] is None


def test_server_name_picks_the_current_of_the_configured_fleet(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(tomli_w.dumps({"servers": {"small": {"url": "http://127.0.0.1:8188"}, "big": {"url": "http://127.0.0.1:8190"}}}))
    config, servers = servers_for(["--config", str(path), "--server", "big", "-H", "X-Test: 1"], path)
    assert servers is not None and [n for n, _ in servers] == ["small", "big"]
    assert config.selected_server == "big"
    assert dict(servers)["small"].server.headers == {"X-Test": "1"}
