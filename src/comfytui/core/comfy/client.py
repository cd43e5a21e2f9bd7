"""Async HTTP client for the ComfyUI routes comfytui uses (COMFY_API.md §1).

``ComfyClient`` is the one place comfytui speaks HTTP to ComfyUI (the only ``httpx.AsyncClient``
in the code base) and the one place gateway headers are applied: ``request_headers`` is what the
websocket handshake carries too. With any such header set, a redirect to another origin is refused
(httpx would strip only ``Authorization``); same-origin redirects are followed.

Every failure becomes a typed ``ComfyTuiError`` with a message meant for the user: a refused
connection or a timeout is ``ServerUnreachable``, a 400 from ``/prompt`` is ``PromptRejected``
with one entry per node and input, other statuses are ``ServerError`` carrying the body's text.
Secrets (gateway tokens) go into headers only and never into messages or reprs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from comfytui.core.comfy import events as ev
from comfytui.core.comfy import protocol
from comfytui.core.comfy.types import FreeResult, ServerModelFile, SystemStats, int_or_none
from comfytui.core.config import ServerSettings, is_loopback_url, redact_url, secret_from_env
from comfytui.core.errors import InputError, NodeInputError, PromptRejected, ServerError, ServerUnreachable


def gateway_headers(settings: ServerSettings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every header a request to ComfyUI (HTTP or websocket) carries: the extra ``headers`` plus
    gateway authentication from ``auth`` and ``token_env``. The only place secrets become headers."""
    headers = dict(settings.headers)
    secret = secret_from_env(settings, environ)
    if settings.auth == "bearer" and secret:
        headers.setdefault("Authorization", f"Bearer {secret}")
    elif settings.auth == "header" and secret:
        headers.setdefault(settings.header_name, str(secret))
    elif settings.auth == "basic":
        token = base64.b64encode(f"{settings.username}:{secret}".encode()).decode()
        headers.setdefault("Authorization", f"Basic {token}")
    return headers


def websocket_url(http_url: str, client_id: str) -> str:
    """``http://h:p/prefix`` -> ``ws://h:p/prefix/ws?clientId=...`` (a gateway prefix is kept)."""
    parts = urlsplit(http_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, f"clientId={client_id}", ""))


@dataclass(frozen=True)
class Submitted:
    """The server accepted a prompt; ``node_errors`` lists outputs it dropped as invalid."""

    prompt_id: str
    number: float
    node_errors: tuple[NodeInputError, ...] = ()


def node_errors_from(payload: Mapping[str, Any], prompt: Mapping[str, Any] | None = None) -> list[NodeInputError]:
    """Flatten ``node_errors`` into one entry per node and input, with the node's title when known."""
    found: list[NodeInputError] = []
    for node_id, info in (payload.get("node_errors") or {}).items():
        if not isinstance(info, Mapping):
            continue
        node = (prompt or {}).get(node_id) or {}
        title = ((node.get("_meta") or {}).get("title")) if isinstance(node, Mapping) else None
        for err in info.get("errors") or ():
            extra = err.get("extra_info") or {}
            found.append(
                NodeInputError(
                    node_id=str(node_id),
                    class_type=str(info.get("class_type", "")),
                    kind=str(err.get("type", "")),
                    message=str(err.get("message", "")),
                    input_name=extra.get("input_name") or None,
                    details=str(err.get("details") or ""),
                    title=title,
                )
            )
    return found


def safe_output_path(directory: Path, file: ev.OutputFile) -> Path:
    """Where an output file from the server may be written under ``directory``.

    File names come from the server: absolute paths, ``..`` and separators in the name are
    refused, so a hostile or buggy server cannot write outside ``directory``.
    """
    name = file.filename
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise InputError(f"refusing the server's output file name {name!r}: not a plain file name")
    sub = PurePosixPath(file.subfolder.replace("\\", "/")) if file.subfolder else PurePosixPath()
    if sub.is_absolute() or any(part in ("..", "") for part in sub.parts if part != "."):
        raise InputError(f"refusing the server's output subfolder {file.subfolder!r}: it leaves the output folder")
    target = (directory / Path(*sub.parts) / name).resolve()
    root = directory.resolve()
    if root not in target.parents:
        raise InputError(f"refusing the server's output path {file.subfolder}/{name}: it leaves {root}")
    return target


class ComfyClient:
    """One ComfyUI server over HTTP. Use as an async context manager, or call ``aclose``."""

    def __init__(self, settings: ServerSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self._headers = gateway_headers(settings)
        self.on_malformed: protocol.OnMalformed | None = None
        """Told of each bad ``/queue`` or ``/history`` entry that was skipped (the session counts them)."""
        # Always: a reply from another origin is not this server's state (an empty /queue from
        # elsewhere would mark running jobs lost), credentials or not.
        hooks = {"response": [self._refuse_cross_origin_redirect]}
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=self._headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0)),
            transport=transport,
            follow_redirects=True,
            event_hooks=hooks,
            # A loopback server is never reached through a proxy from the environment.
            trust_env=not is_loopback_url(self.url),
        )

    async def _refuse_cross_origin_redirect(self, response: httpx.Response) -> None:
        """Gateway secrets must not follow a redirect to another host (httpx keeps all but
        ``Authorization``)."""
        if not response.has_redirect_location:
            return
        here = response.request.url
        there = here.join(response.headers["Location"])
        if (there.scheme, there.host, there.port) != (here.scheme, here.host, here.port):
            raise ServerError(
                f"{self.display_url} redirected {response.request.method} {here.path} to another site "
                f"({redact_url(str(there.copy_with(query=None)))}); not following it with the gateway credentials",
                response.status_code,
                "",
            )

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @property
    def request_headers(self) -> dict[str, str]:
        """Headers the websocket handshake must carry too (gateway auth)."""
        return dict(self._headers)

    async def __aenter__(self) -> ComfyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"ComfyClient({self.display_url!r})"

    # -- plumbing

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise ServerUnreachable(f"cannot reach ComfyUI at {self.display_url}: {_reason(exc)}") from None
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"ComfyUI at {self.display_url} did not answer {method} {path} within {self.settings.timeout_s:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"ComfyUI at {self.display_url}: {method} {path} failed: {exc}") from None
        except httpx.InvalidURL as exc:
            raise ServerUnreachable(f"bad server URL {self.display_url!r}: {exc}") from None
        return response

    def _fail(self, response: httpx.Response, what: str) -> ServerError:
        body = response.text.strip()
        snippet = " ".join(body.split())[:300]
        if response.status_code in (401, 403) and not body:
            hint = " (a gateway may need credentials: see --header or [server] auth)"
        else:
            hint = ""
        message = f"{what}: HTTP {response.status_code} from {self.display_url}{hint}"
        if snippet:
            message += f": {snippet}"
        return ServerError(message, response.status_code, body)

    async def _json(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise self._fail(response, what)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._fail(response, f"{what} (the reply is not JSON)") from None

    async def _post_empty(self, path: str, body: Any, what: str) -> None:
        response = await self._request("POST", path, json=body)
        if response.status_code != 200:
            raise self._fail(response, what)

    # -- info

    async def system_stats(self) -> SystemStats:
        data = await self._json("GET", "/system_stats", "reading /system_stats")
        try:
            return SystemStats.from_json(data)
        except ValueError as exc:
            raise ServerError(f"unexpected /system_stats reply from {self.display_url}: {exc}", 200) from None

    async def probe(self) -> int | None:
        """Status code of ``GET /system_stats``; None when nothing answers (readiness checks)."""
        try:
            response = await self._http.get("/system_stats")
        except httpx.HTTPError:
            return None
        return response.status_code

    async def features(self) -> dict[str, Any]:
        response = await self._request("GET", "/features")
        if response.status_code == 404:
            return {}
        if response.status_code != 200:
            raise self._fail(response, "reading /features")
        return response.json()

    async def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        path = f"/object_info/{class_type}" if class_type else "/object_info"
        return await self._json("GET", path, "reading the node definitions")

    async def models(self, folder: str | None = None) -> list[str]:
        """``/models`` (folder names) or ``/models/{folder}`` (file names, '/'-separated)."""
        path = f"/models/{quote(folder, safe='')}" if folder else "/models"
        data = await self._json("GET", path, "listing models")
        return [str(x) for x in data] if isinstance(data, list) else []

    async def list_model_folders(self) -> list[str]:
        return await self.models()

    async def list_models(self, folder: str) -> list[ServerModelFile]:
        """Files of one folder: ``/experiment/models/{folder}`` (size, mtime), else ``/models/{folder}``."""
        seg = quote(folder, safe="")
        try:
            data = await self._json("GET", f"/experiment/models/{seg}", f"listing models in {folder}")
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
                        name=item["name"], size=int_or_none(item.get("size")),
                        modified=float(modified) if isinstance(modified, int | float) else None,
                        path_index=int_or_none(item.get("pathIndex")),
                    ))
            return out
        return [ServerModelFile(name=name) for name in await self.models(folder)]

    async def folder_paths(self) -> dict[str, list[str]]:
        """``/internal/folder_paths``: folder key -> absolute directories (on the server's machine)."""
        data = await self._json("GET", "/internal/folder_paths", "reading the model folders")
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
            data = await self._json(
                "GET", f"/view_metadata/{quote(folder, safe='')}", f"reading the header of {folder}/{filename}",
                params={"filename": filename},
            )
        except ServerError as exc:
            if exc.status == 404:
                return None
            if exc.status == 500:
                raise ServerError(
                    f"the server could not read the header of {folder}/{filename} (HTTP 500: corrupt file?)", 500, exc.body
                ) from None
            raise
        return data if isinstance(data, dict) else None

    # -- queue

    async def submit(
        self,
        prompt: Mapping[str, Any],
        *,
        client_id: str,
        prompt_id: str | None = None,
        front: bool = False,
        extra_pnginfo: Mapping[str, Any] | None = None,
        extra_data: Mapping[str, Any] | None = None,
    ) -> Submitted:
        """``POST /prompt``. A 400 becomes ``PromptRejected`` naming each node and input at fault."""
        body: dict[str, Any] = {
            "prompt": prompt,
            "client_id": client_id,
            # Newer servers require a canonical UUID; 0.3.75 accepts it too (COMFY_API.md §5.2).
            "prompt_id": prompt_id or str(uuid.uuid4()),
        }
        extra = dict(extra_data or {})
        if extra_pnginfo:
            extra["extra_pnginfo"] = dict(extra_pnginfo)
        if extra:
            body["extra_data"] = extra
        if front:
            body["front"] = True
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            try:
                payload = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise self._fail(response, "queueing the prompt") from None
            error = payload.get("error") or {}
            if isinstance(error, str):
                error = {"type": "error", "message": error}
            raise PromptRejected(
                error_type=str(error.get("type", "")),
                error_message=str(error.get("message", "validation failed")),
                errors=node_errors_from(payload, prompt),
                details=str(error.get("details") or ""),
            )
        if response.status_code != 200:
            raise self._fail(response, "queueing the prompt")
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or "prompt_id" not in payload:
            # e.g. a gateway's login page answered 200 in ComfyUI's place
            raise self._fail(response, "queueing the prompt (the reply is not ComfyUI's)")
        return Submitted(
            prompt_id=str(payload["prompt_id"]),
            number=float(payload.get("number", 0)),
            node_errors=tuple(node_errors_from(payload, prompt)),
        )

    async def queue(self) -> ev.QueueSnapshot:
        return protocol.queue_snapshot(await self._json("GET", "/queue", "reading the queue"), self.on_malformed)

    async def queue_remaining(self) -> int:
        payload = await self._json("GET", "/prompt", "reading the queue size")
        return int(((payload or {}).get("exec_info") or {}).get("queue_remaining", 0))

    async def delete_pending(self, prompt_ids: list[str]) -> None:
        await self._post_empty("/queue", {"delete": list(prompt_ids)}, "removing pending jobs")

    async def clear_pending(self) -> None:
        await self._post_empty("/queue", {"clear": True}, "clearing the queue")

    async def interrupt(self, prompt_id: str | None = None) -> None:
        await self._post_empty("/interrupt", {"prompt_id": prompt_id} if prompt_id else {}, "interrupting the running job")

    async def free(self, unload_models: bool = True, free_memory: bool = False, *, settle_s: float = 1.0) -> FreeResult:
        """``POST /free``. The worker acts between jobs, so memory is read again after ``settle_s``."""
        try:
            before: SystemStats | None = await self.system_stats()
        except ServerError:
            before = None
        response = await self._request("POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory})
        if response.status_code != 200:
            raise self._fail(response, "freeing memory")
        if settle_s > 0:
            await asyncio.sleep(settle_s)
        try:
            after: SystemStats | None = await self.system_stats()
        except ServerError:
            after = None
        return FreeResult(unload_models, free_memory, response.status_code, response.text, before, after)

    # -- history

    async def history(self, max_items: int | None = None) -> list[ev.HistoryEntry]:
        params = {"max_items": max_items} if max_items else None
        payload = await self._json("GET", "/history", "reading the history", params=params)
        return protocol.history_entries(payload, self.on_malformed)

    async def history_entry(self, prompt_id: str) -> ev.HistoryEntry | None:
        payload = await self._json("GET", f"/history/{prompt_id}", "reading a history entry")
        raw = payload.get(prompt_id) if isinstance(payload, dict) else None
        return next(iter(protocol.history_entries({prompt_id: raw}, self.on_malformed)), None) if raw else None

    # -- files

    async def view(self, file: ev.OutputFile, *, preview: str | None = None) -> bytes:
        params = {"filename": file.filename, "subfolder": file.subfolder, "type": file.type}
        if preview:
            params["preview"] = preview
        response = await self._request("GET", "/view", params=params)
        if response.status_code != 200:
            raise self._fail(response, f"fetching {file.filename}")
        return response.content

    async def download(self, file: ev.OutputFile, directory: Path) -> Path:
        """Save one output under ``directory`` (its subfolder kept), refusing path traversal."""
        target = safe_output_path(directory, file)
        data = await self.view(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
        return target

    # -- logs

    async def logs_raw(self) -> ev.LogEntries:
        payload = await self._json("GET", "/internal/logs/raw", "reading the server log")
        return ev.LogEntries(protocol.log_entries((payload or {}).get("entries")), backlog=True)

    async def subscribe_logs(self, client_id: str, enabled: bool = True) -> None:
        response = await self._request(
            "PATCH", "/internal/logs/subscribe", json={"clientId": client_id, "enabled": enabled}
        )
        if response.status_code != 200:
            raise self._fail(response, "subscribing to the server log")


def _reason(exc: httpx.ConnectError) -> str:
    text = str(exc) or exc.__class__.__name__
    cause: BaseException | None = exc
    while cause is not None:  # async httpx says "All connection attempts failed" over the real cause
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is ComfyUI running?)"
        cause = cause.__cause__ or cause.__context__
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return "connection refused (is ComfyUI running?)"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text
