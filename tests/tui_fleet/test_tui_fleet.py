"""The dashboard over a fleet (docs/FLEET.md): the servers strip and the current server, against
two real CPU ComfyUI servers, driven from the keyboard with Pilot."""

from __future__ import annotations

import pytest

from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.screens.help import HelpScreen
from comfytui.tui.widgets.devices_pane import DevicesPane
from comfytui.tui.widgets.servers_pane import ServersPane
from comfytui.tui.widgets.status_line import StatusLine
from harness.app import screen_text, wait_until
from tui_fleet.conftest import member

pytestmark = pytest.mark.comfy


async def test_strip_shows_both_servers_and_one_going_down(two_servers) -> None:
    a, b = two_servers
    servers = [("alpha", member(a.url)), ("beta", member(b.url))]
    app = ComfyTuiApp(servers[0][1], servers=servers)
    async with app.run_test(size=(140, 44)) as pilot:
        strip = app.query_one(ServersPane)
        await wait_until(pilot, lambda: "● up · ComfyUI 0.3.75" in strip.line_of("alpha"), what="alpha up")
        await wait_until(pilot, lambda: "● up · ComfyUI 0.3.75" in strip.line_of("beta"), what="beta up")
        text = screen_text(app)
        assert "▶ alpha" in text and "beta" in text and b.url in text
        assert "queue 0" in strip.line_of("beta") and "cpu" in strip.line_of("beta")
        b.stop()
        await wait_until(pilot, lambda: "✖ down" in strip.line_of("beta"), timeout=12, what="beta down")
        assert "✖ down" in screen_text(app)
        assert "● up" in strip.line_of("alpha")


async def test_ctrl_n_switches_the_current_server(two_servers) -> None:
    a, b = two_servers
    servers = [("alpha", member(a.url)), ("beta", member(b.url))]
    app = ComfyTuiApp(servers[0][1], servers=servers)
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="alpha connected")
        devices = app.query_one(DevicesPane)
        await wait_until(pilot, lambda: f"--port {a.port}" in " ".join(map(str, (devices.stats or {}).get("system", {}).get("argv", []))) or str(a.port) in str(devices.stats), what="alpha's stats")
        header = app.query_one(StatusLine)
        assert a.url in str(header.render())
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.server_name == "beta" and app.session.connection.state == "connected", what="beta current")
        await wait_until(pilot, lambda: b.url in screen_text(app).split("\n", 2)[0] or b.url in str(header.render()), what="beta in the header")
        await wait_until(pilot, lambda: str(b.port) in str(devices.stats), what="beta's stats in Devices")
        assert app.config.server.url == b.url
        assert "▶ beta" in screen_text(app)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.server_name == "alpha" and app.session.connection.state == "connected", what="back to alpha")
        # the key is listed in ? and the palette offers each other server by name
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await wait_until(pilot, lambda: "switch the current server to the next one" in screen_text(app), what="ctrl+n in ?")
        assert "ctrl+n" in screen_text(app)
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.dashboard)]
        assert "server: switch to beta" in titles and "server: switch to alpha" not in titles


async def test_one_server_shows_no_strip(comfy_server, comfytui_home) -> None:
    app = ComfyTuiApp(member(comfy_server.url))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="connected")
        assert not app.query(ServersPane)
        assert not any(c.title.startswith("server: switch") for c in app.get_system_commands(app.dashboard))
