"""ComfyClient against the real CPU ComfyUI: replies, refusals and failures a user would meet."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.client import ComfyClient, safe_output_path
from comfytui.core.config import ServerSettings
from comfytui.core.errors import InputError, PromptRejected, ServerError, ServerUnreachable
from harness.comfy import progress_prompt, unique_seed


def closed_port() -> int:
    from harness.ports import free_port

    return free_port()


@pytest.fixture
async def client(comfy_server) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(ServerSettings(url=comfy_server.url, timeout_s=20)) as c:
        yield c


@pytest.mark.comfy
async def test_system_stats_and_object_info(client: ComfyClient) -> None:
    stats = await client.system_stats()
    assert stats.comfyui_version == "0.3.75" and stats.devices
    info = await client.object_info()
    assert {"ComfyTUIProgress", "ComfyTUISleep", "ComfyTUIFail", "SaveImage"} <= set(info)
    one = await client.object_info("ComfyTUIProgress")
    assert one["ComfyTUIProgress"]["input"]["required"]["steps"][1]["min"] == 1


def _assert_png_saved(saved: Path, directory: Path) -> None:
    assert saved.parent == directory and saved.read_bytes().startswith(b"\x89PNG")
    assert not list(directory.glob("*.part")), "no half-written file is left behind"


@pytest.mark.comfy
async def test_submit_is_accepted_and_the_job_reaches_history(client: ComfyClient, tmp_path: Path) -> None:
    submitted = await client.submit(progress_prompt(steps=1, delay=0.0, prefix="client_submit"), client_id="comfytui-test-client")
    assert submitted.node_errors == () and len(submitted.prompt_id) == 36
    entry = None
    for _ in range(100):
        entry = await client.history_entry(submitted.prompt_id)
        if entry is not None:
            break
        await asyncio.sleep(0.1)
    assert entry is not None and entry.status == "success"
    assert entry.client_id == "comfytui-test-client"
    (image,) = entry.outputs
    saved = await client.download(image, tmp_path)
    _assert_png_saved(saved, tmp_path)
    assert await client.history_entry("no-such-prompt") is None


@pytest.mark.comfy
async def test_out_of_range_input_is_rejected_naming_node_title_and_input(client: ComfyClient) -> None:
    prompt = progress_prompt(steps=0)
    prompt["1"]["_meta"] = {"title": "My sampler"}
    with pytest.raises(PromptRejected) as caught:
        await client.submit(prompt, client_id="comfytui-test-client")
    rejected = caught.value
    assert rejected.error_type == "prompt_outputs_failed_validation"
    (error,) = rejected.errors
    assert (error.node_id, error.class_type, error.input_name, error.kind) == ("1", "ComfyTUIProgress", "steps", "value_smaller_than_min")
    text = str(rejected)
    assert "node 1 (My sampler), input 'steps'" in text and "smaller than min of 1" in text
    assert rejected.exit_code == 2


@pytest.mark.comfy
async def test_unknown_class_type_is_an_invalid_prompt(client: ComfyClient) -> None:
    prompt = {"1": {"class_type": "NoSuchNodeAnywhere", "inputs": {}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    with pytest.raises(PromptRejected) as caught:
        await client.submit(prompt, client_id="comfytui-test-client")
    assert caught.value.error_type == "invalid_prompt"
    assert "NoSuchNodeAnywhere" in str(caught.value) and "#1" in str(caught.value)


@pytest.mark.comfy
async def test_plain_text_500_becomes_server_error_with_the_text(client: ComfyClient) -> None:
    with pytest.raises(ServerError) as caught:
        await client._json("GET", "/history", "reading the history", params={"max_items": "abc"})
    error = caught.value
    assert error.status == 500 and "Server got itself in trouble" in error.body
    assert f"reading the history: HTTP 500 from {client.url}" in str(error)
    assert "Server got itself in trouble" in str(error)
    with pytest.raises(ServerError, match="HTTP 404"):
        await client.models("no_such_folder")


async def test_refused_connection_is_server_unreachable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    async with ComfyClient(ServerSettings(url=url, timeout_s=5)) as client:
        with pytest.raises(ServerUnreachable) as caught:
            await client.system_stats()
    assert url in str(caught.value) and "connection refused" in str(caught.value)
    assert caught.value.exit_code == 3


async def test_password_in_the_url_never_appears_in_errors_or_repr() -> None:
    url = f"http://me:hunter2pw@127.0.0.1:{closed_port()}"
    async with ComfyClient(ServerSettings(url=url, timeout_s=5)) as client:
        assert "hunter2pw" not in repr(client) and "me:****@" in repr(client)
        with pytest.raises(ServerUnreachable) as caught:
            await client.queue()
    assert "hunter2pw" not in str(caught.value) and "me:****@" in str(caught.value)


# -- output paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "subfolder"),
    [
        ("../x.png", ""),
        ("/etc/passwd", ""),
        ("..", ""),
        ("", ""),
        ("a\\..\\..\\x.png", ""),
        ("x.png", "../.."),
        ("x.png", "ok/../../.."),
        ("x.png", "/etc"),
        ("x.png", "..\\..\\up"),
        ("x\x00.png", ""),
    ],
)
def test_safe_output_path_refuses_traversal(tmp_path: Path, filename: str, subfolder: str) -> None:
    with pytest.raises(InputError, match="refusing the server's output"):
        safe_output_path(tmp_path / "out", ev.OutputFile(filename, subfolder, "output"))


def test_safe_output_path_keeps_plain_subfolders_inside(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert safe_output_path(out, ev.OutputFile("a.png", "", "output")) == (out / "a.png").resolve()
    assert safe_output_path(out, ev.OutputFile("a.png", "comfytui/blur", "output")) == (out / "comfytui" / "blur" / "a.png").resolve()
    assert safe_output_path(out, ev.OutputFile("a.png", "./x", "output")) == (out / "x" / "a.png").resolve()


async def test_download_refuses_a_traversal_name_before_any_request(tmp_path: Path) -> None:
    # The URL is a closed port: a request would fail with ServerUnreachable, so InputError proves none was made.
    async with ComfyClient(ServerSettings(url=f"http://127.0.0.1:{closed_port()}")) as client:
        with pytest.raises(InputError):
            await client.download(ev.OutputFile("../../evil.png", "", "output"), tmp_path / "out")
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "out").exists()


@pytest.mark.comfy
async def test_large_outputs_are_downloaded_intact(client: ComfyClient, comfy_server, tmp_path: Path) -> None:
    # A real 2048x2048 image through the workflow path, and a 12 MiB file (many stream chunks)
    # served by the same /view route: both must arrive byte for byte.
    prefix = f"big_{unique_seed()}"
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 2048, "height": 2048, "batch_size": 1, "color": unique_seed() % 0xFFFFFF}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }
    submitted = await client.submit(prompt, client_id="comfytui-test-client")
    entry = None
    for _ in range(300):
        entry = await client.history_entry(submitted.prompt_id)
        if entry is not None:
            break
        await asyncio.sleep(0.1)
    assert entry is not None and entry.status == "success"
    (image,) = entry.outputs
    saved = await client.download(image, tmp_path)
    _assert_png_saved(saved, tmp_path)
    assert saved.read_bytes() == (comfy_server.output_dir / image.subfolder / image.filename).read_bytes()

    blob = os.urandom(12 * 1024 * 1024)
    name = f"{prefix}_blob.bin"
    (comfy_server.output_dir / name).write_bytes(blob)
    saved = await client.download(ev.OutputFile(name, "", "output"), tmp_path / "sub")
    assert saved == (tmp_path / "sub" / name).resolve() and saved.read_bytes() == blob
    assert sorted(p.name for p in saved.parent.iterdir()) == [name], "only the file, no .part left"


class _Truncating(BaseHTTPRequestHandler):
    """Promises 4 MiB and hangs up after 1 MiB: a server dying in the middle of a download."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(4 << 20))
        self.end_headers()
        self.wfile.write(b"\x89PNG" + b"x" * ((1 << 20) - 4))
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


async def test_a_download_cut_off_midway_leaves_no_file_under_the_final_name(tmp_path: Path) -> None:
    server, url = _serve(_Truncating)
    try:
        async with ComfyClient(ServerSettings(url=url, timeout_s=10)) as client:
            with pytest.raises(ServerUnreachable, match="failed mid-way"):
                await client.download(ev.OutputFile("cut.png", "", "output"), tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert await asyncio.to_thread(os.listdir, tmp_path) == [], "neither cut.png nor a .part file is left"


# -- gateway auth headers ---------------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Echo.seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.path.startswith("/queue"):
            body = b""
            self.send_response(403)
        else:
            body = json.dumps({"system": {"comfyui_version": "echo"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - a gateway's login page, answered with 200
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html><body>Please log in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    """A loopback HTTP server that records request headers (a stand-in for a gateway, not for ComfyUI)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Echo.seen.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("auth", "extra", "header", "value"),
    [
        ("bearer", {}, "authorization", "Bearer tok-SECRET-123"),
        ("header", {"header_name": "X-API-Key"}, "x-api-key", "tok-SECRET-123"),
        ("basic", {"username": "ann"}, "authorization", "Basic YW5uOnRvay1TRUNSRVQtMTIz"),
    ],
)
async def test_gateway_auth_is_sent_and_never_shown(
    echo_url: str, monkeypatch: pytest.MonkeyPatch, auth: str, extra: dict, header: str, value: str
) -> None:
    monkeypatch.setenv("GATEWAY_TOKEN", "tok-SECRET-123")
    settings = ServerSettings(url=echo_url, auth=auth, token_env="GATEWAY_TOKEN", headers={"X-Trace": "t1"}, **extra)
    async with ComfyClient(settings) as client:
        assert (await client.system_stats()).comfyui_version == "echo"
        assert _Echo.seen[-1][header] == value and _Echo.seen[-1]["x-trace"] == "t1"
        # The websocket handshake carries the same credentials.
        assert {k.lower(): v for k, v in client.request_headers.items()}[header] == value
        assert "SECRET" not in repr(client)
        with pytest.raises(ServerError) as caught:
            await client.queue()
    assert caught.value.status == 403 and "gateway may need credentials" in str(caught.value)
    assert "SECRET" not in str(caught.value)


async def test_a_200_that_is_not_comfyui_is_a_server_error_not_a_crash(echo_url: str) -> None:
    async with ComfyClient(ServerSettings(url=echo_url)) as client:
        with pytest.raises(ServerError) as caught:
            await client.submit(progress_prompt(), client_id="comfytui-test")
    assert "not ComfyUI's" in str(caught.value) and "Please log in" in str(caught.value)


# -- redirects with gateway credentials --------------------------------------------------------


class _Redirector(BaseHTTPRequestHandler):
    """A gateway that sends /system_stats to ``/moved`` (same origin) and /queue to ``elsewhere``."""

    elsewhere = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/system_stats"):
            self.send_response(307)
            self.send_header("Location", "/moved/system_stats")
        elif self.path.startswith("/queue"):
            self.send_response(307)
            self.send_header("Location", f"{_Redirector.elsewhere}/queue")
        else:
            return _Echo.do_GET(self)  # type: ignore[arg-type]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize(
    ("auth", "extra", "headers"),
    [
        ("bearer", {}, {}),
        ("header", {"header_name": "X-API-Key"}, {}),
        ("basic", {"username": "ann"}, {}),
        ("none", {}, {"X-Gateway-Secret": "tok-SECRET-123"}),
    ],
)
async def test_credentials_follow_same_origin_redirects_but_never_to_another_host(
    monkeypatch: pytest.MonkeyPatch, auth: str, extra: dict, headers: dict
) -> None:
    monkeypatch.setenv("GATEWAY_TOKEN", "tok-SECRET-123")
    other, other_url = _serve(_Echo)  # a different origin (another port) that records what it gets
    gateway, gateway_url = _serve(_Redirector)
    _Redirector.elsewhere = other_url
    _Echo.seen.clear()
    try:
        settings = ServerSettings(url=gateway_url, auth=auth, token_env="GATEWAY_TOKEN", headers=headers, **extra)
        async with ComfyClient(settings) as client:
            # Same origin: followed, and the credentials went along.
            assert (await client.system_stats()).comfyui_version == "echo"
            assert any("tok-SECRET-123" in " ".join(seen.values()) or "YW5uOnRvay1TRUNSRVQtMTIz" in " ".join(seen.values())
                       for seen in _Echo.seen)
            _Echo.seen.clear()
            with pytest.raises(ServerError) as caught:
                await client.queue()
        assert "another site" in str(caught.value) and "SECRET" not in str(caught.value)
        assert _Echo.seen == [], "the other origin was never contacted"
    finally:
        for server in (gateway, other):
            server.shutdown()
            server.server_close()


async def test_without_credentials_a_cross_origin_redirect_is_refused_too() -> None:
    """Even with no secret to leak, a ComfyUI API never redirects to another origin: following one
    once turned a gateway's login page into an empty /queue, and a running job was marked lost."""
    other, other_url = _serve(_Echo)
    gateway, gateway_url = _serve(_Redirector)
    _Redirector.elsewhere = other_url
    _Echo.seen.clear()
    try:
        async with ComfyClient(ServerSettings(url=gateway_url)) as client:
            with pytest.raises(ServerError, match="redirect"):
                await client.queue()
        assert _Echo.seen == []  # the other origin was never contacted
    finally:
        for server in (gateway, other):
            server.shutdown()
            server.server_close()


# -- the shared /system_stats poller -----------------------------------------------------------


@pytest.mark.comfy
async def test_one_poller_feeds_every_subscriber_and_reports_a_dead_server(comfy_server) -> None:
    from comfytui.core.comfy.stats import SystemStatsPoller

    async with ComfyClient(ServerSettings(url=comfy_server.url, timeout_s=20)) as client:
        poller = SystemStatsPoller(client, interval_s=0.1)
        header: list = []
        devices: list = []
        unsubscribe = poller.subscribe(header.append)
        poller.subscribe(devices.append)
        poller.start()
        try:
            async with asyncio.timeout(20):
                async for _ in poller.samples():
                    if len(devices) >= 2:
                        break
            sample = poller.latest
            assert sample is not None and sample.ok and sample.stats is not None and sample.stats.comfyui_version == "0.3.75"
            assert sample.latency_s is not None and sample.latency_s >= 0
            unsubscribe()
            seen = len(header)
            await poller.refresh()
            assert len(header) == seen and len(devices) >= 3, "only the remaining subscriber is called"
        finally:
            await poller.stop()
    async with ComfyClient(ServerSettings(url=f"http://127.0.0.1:{closed_port()}", timeout_s=5)) as dead:
        sample = await SystemStatsPoller(dead).refresh()
    assert not sample.ok and "connection refused" in (sample.error or "")
