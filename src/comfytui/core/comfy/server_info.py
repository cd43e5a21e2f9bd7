"""The few ComfyUI info routes the GPU and model features need (COMFY_API.md §1.6, §1.10, §1.12).

``/system_stats``, ``POST /free``, ``/models``, ``/models/{folder}``, ``/experiment/models/{folder}``,
``/internal/folder_paths`` and ``/view_metadata/{folder}``, over one ``httpx.AsyncClient`` built
from ``config.server`` (base URL, timeout, extra headers and gateway auth). Connection failures
become ``ServerUnreachable``, unexpected statuses ``ServerError``; both carry a message for the user.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Self
from urllib.parse import quote

import httpx

from comfytui.core.comfy.client import gateway_headers
from comfytui.core.config import ServerSettings, redact_url
from comfytui.core.errors import ServerError, ServerUnreachable


@dataclass(frozen=True)
class DeviceStats:
    """One torch device as the server sees it (bytes)."""

    name: str
    type: str
    index: int | None
    vram_total: int | None
    vram_free: int | None
    torch_vram_total: int | None
    torch_vram_free: int | None

    @property
    def vram_used(self) -> int | None:
        if self.vram_total is None or self.vram_free is None:
            return None
        return self.vram_total - self.vram_free


@dataclass(frozen=True)
class SystemStats:
    """``GET /system_stats``; ``raw`` keeps the whole reply for fields added by newer servers."""

    os: str
    comfyui_version: str
    python_version: str
    pytorch_version: str
    embedded_python: bool
    argv: tuple[str, ...]
    ram_total: int | None
    ram_free: int | None
    devices: tuple[DeviceStats, ...]
    required_frontend_version: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> SystemStats:
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        system = data.get("system") or {}
        devices = []
        for d in data.get("devices") or []:
            if isinstance(d, dict):
                devices.append(DeviceStats(
                    name=str(d.get("name", "")), type=str(d.get("type", "")), index=_int(d.get("index")),
                    vram_total=_int(d.get("vram_total")), vram_free=_int(d.get("vram_free")),
                    torch_vram_total=_int(d.get("torch_vram_total")), torch_vram_free=_int(d.get("torch_vram_free")),
                ))
        return cls(
            os=str(system.get("os", "")),
            comfyui_version=str(system.get("comfyui_version", "")),
            python_version=str(system.get("python_version", "")),
            pytorch_version=str(system.get("pytorch_version", "")),
            embedded_python=bool(system.get("embedded_python", False)),
            argv=tuple(str(a) for a in system.get("argv") or ()),
            ram_total=_int(system.get("ram_total")),
            ram_free=_int(system.get("ram_free")),
            devices=tuple(devices),
            required_frontend_version=str(system.get("required_frontend_version") or ""),
            raw=data,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("raw", None)
        out["argv"] = list(self.argv)
        return out


@dataclass(frozen=True)
class FreeResult:
    """What ``POST /free`` did: the request, the server's reply, and memory before and after."""

    unload_models: bool
    free_memory: bool
    status: int
    reply: str
    """The reply body (empty on 0.3.75, which answers 200 with no body)."""
    before: SystemStats | None
    after: SystemStats | None

    def device_changes(self) -> list[dict[str, Any]]:
        """Per device: free VRAM and torch VRAM before and after (bytes; None when unknown)."""
        rows = []
        after = {(d.name, d.index): d for d in (self.after.devices if self.after else ())}
        for d in self.before.devices if self.before else ():
            a = after.get((d.name, d.index))
            rows.append({
                "device": d.name, "type": d.type, "index": d.index,
                "vram_total": d.vram_total,
                "vram_free_before": d.vram_free, "vram_free_after": a.vram_free if a else None,
                "torch_vram_free_before": d.torch_vram_free, "torch_vram_free_after": a.torch_vram_free if a else None,
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": {"unload_models": self.unload_models, "free_memory": self.free_memory},
            "status": self.status,
            "reply": self.reply,
            "ram_free_before": self.before.ram_free if self.before else None,
            "ram_free_after": self.after.ram_free if self.after else None,
            "devices": self.device_changes(),
        }


@dataclass(frozen=True)
class ServerModelFile:
    """One file of a model folder as the server lists it."""

    name: str
    """Relative path with '/' separators: exactly what loader inputs (``ckpt_name``) expect."""
    size: int | None = None
    modified: float | None = None
    """Epoch seconds."""
    path_index: int | None = None
    """Which of the folder's roots (``/internal/folder_paths``) holds it."""


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def request_headers(server: ServerSettings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Extra headers plus gateway authentication from ``[server]`` (see ``client.gateway_headers``)."""
    return gateway_headers(server, environ)


class ServerInfo:
    """The info routes of one ComfyUI server. Use as ``async with ServerInfo(config.server) as info``."""

    def __init__(self, server: ServerSettings, *, client: httpx.AsyncClient | None = None) -> None:
        self.server = server
        self.url = server.url.rstrip("/")
        self._own = client is None
        self._client = client or httpx.AsyncClient(
            base_url=self.url, timeout=server.timeout_s, headers=request_headers(server)
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._client.aclose()

    async def _request(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        where = f"{redact_url(self.url)}{path}"
        try:
            resp = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"ComfyUI at {redact_url(self.url)} did not answer {method} {path} within {self.server.timeout_s:g}s"
            ) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.NetworkError) as exc:
            raise ServerUnreachable(f"cannot reach ComfyUI at {redact_url(self.url)}: {exc or type(exc).__name__}") from None
        except httpx.InvalidURL as exc:
            raise ServerUnreachable(f"bad server URL {redact_url(self.url)!r}: {exc}") from None
        if resp.status_code not in ok:
            body = resp.text[:500]
            detail = body.strip().splitlines()[0] if body.strip() else "empty body"
            raise ServerError(f"{method} {where} answered HTTP {resp.status_code} ({detail})", resp.status_code, body)
        return resp

    async def _json(self, path: str, **kwargs: Any) -> Any:
        resp = await self._request("GET", path, **kwargs)
        try:
            return resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ServerError(
                f"GET {redact_url(self.url)}{path} did not return JSON (is this a ComfyUI server?)",
                resp.status_code, resp.text[:500],
            ) from None

    async def system_stats(self) -> SystemStats:
        data = await self._json("/system_stats")
        try:
            return SystemStats.from_json(data)
        except ValueError as exc:
            raise ServerError(f"unexpected /system_stats reply from {redact_url(self.url)}: {exc}", 200) from None

    async def free_memory(self, unload_models: bool = True, free_memory: bool = False, *,
                          settle_s: float = 1.0) -> FreeResult:
        """``POST /free``. The worker acts between jobs, so memory is read again after ``settle_s``."""
        try:
            before: SystemStats | None = await self.system_stats()
        except ServerError:
            before = None
        resp = await self._request("POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory})
        if settle_s > 0:
            await asyncio.sleep(settle_s)
        try:
            after: SystemStats | None = await self.system_stats()
        except ServerError:
            after = None
        return FreeResult(unload_models, free_memory, resp.status_code, resp.text, before, after)

    async def list_model_folders(self) -> list[str]:
        data = await self._json("/models")
        return [str(x) for x in data] if isinstance(data, list) else []

    async def list_models(self, folder: str) -> list[ServerModelFile]:
        """Files of one folder: ``/experiment/models/{folder}`` (size, mtime), else ``/models/{folder}``."""
        seg = quote(folder, safe="")
        try:
            data = await self._json(f"/experiment/models/{seg}")
        except ServerError as exc:
            if exc.status not in (404, 405, 500):
                raise
            data = None
        if isinstance(data, list):
            out = []
            for item in data:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    modified = item.get("modified")
                    out.append(ServerModelFile(
                        name=item["name"], size=_int(item.get("size")),
                        modified=float(modified) if isinstance(modified, int | float) else None,
                        path_index=_int(item.get("pathIndex")),
                    ))
            return out
        names = await self._json(f"/models/{seg}")
        return [ServerModelFile(name=str(n)) for n in names] if isinstance(names, list) else []

    async def folder_paths(self) -> dict[str, list[str]]:
        """``/internal/folder_paths``: folder key -> absolute directories (on the server's machine)."""
        data = await self._json("/internal/folder_paths")
        if not isinstance(data, dict):
            return {}
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            # 0.3.75 gives a list of dirs; some versions give [dirs, extensions]
            if isinstance(value, list) and value and isinstance(value[0], list):
                value = value[0]
            if isinstance(value, list):
                out[str(key)] = [str(v) for v in value if isinstance(v, str)]
        return out

    async def view_metadata(self, folder: str, filename: str) -> dict[str, Any] | None:
        """The file's safetensors ``__metadata__``; None when the server has none (404)."""
        try:
            data = await self._json(f"/view_metadata/{quote(folder, safe='')}", params={"filename": filename})
        except ServerError as exc:
            if exc.status == 404:
                return None
            if exc.status == 500:
                raise ServerError(
                    f"the server could not read the header of {folder}/{filename} (HTTP 500: corrupt file?)", 500, exc.body
                ) from None
            raise
        return data if isinstance(data, dict) else None


async def fetch_system_stats(server: ServerSettings) -> SystemStats:
    async with ServerInfo(server) as info:
        return await info.system_stats()


async def free_memory(server: ServerSettings, unload_models: bool = True, free_memory: bool = False,
                      *, settle_s: float = 1.0) -> FreeResult:
    async with ServerInfo(server) as info:
        return await info.free_memory(unload_models, free_memory, settle_s=settle_s)


async def list_model_folders(server: ServerSettings) -> list[str]:
    async with ServerInfo(server) as info:
        return await info.list_model_folders()


async def list_models(server: ServerSettings, folder: str) -> list[ServerModelFile]:
    async with ServerInfo(server) as info:
        return await info.list_models(folder)


async def folder_paths(server: ServerSettings) -> dict[str, list[str]]:
    async with ServerInfo(server) as info:
        return await info.folder_paths()


async def view_metadata(server: ServerSettings, folder: str, filename: str) -> dict[str, Any] | None:
    async with ServerInfo(server) as info:
        return await info.view_metadata(folder, filename)
