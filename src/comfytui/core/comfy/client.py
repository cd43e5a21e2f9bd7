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
import dataclasses
import json
import os
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from comfytui.core.comfy import events as ev
from comfytui.core.comfy import features as feat
from comfytui.core.comfy import protocol
from comfytui.core.comfy.features import ServerFeatures, canonical_prompt_id
from comfytui.core.comfy.types import (
    JOB_STATUSES,
    CancelOutcome,
    FreeResult,
    JobsPage,
    ServerJob,
    ServerModelFile,
    SystemStats,
    int_or_none,
)
from comfytui.core.config import ServerSettings, is_loopback_url, redact_url, secret_from_env
from comfytui.core.errors import InputError, NodeInputError, PromptRejected, ServerError, ServerUnreachable

if TYPE_CHECKING:
    import httpx

# Start-up time: httpx (~25 ms of imports) and its AsyncClient (an SSL context) are built on the
# first request, not with the client: the dashboard builds its client before its first frame.


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


def same_origin(http_url: str) -> str:
    """The ``Origin`` of the server itself (``http://h:p``, no credentials, no path): what the
    websocket handshake sends, since newer servers (0.28+) refuse a null or opaque one."""
    parts = urlsplit(http_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


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


_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


def _tls_unused(url: str, trust_env: bool) -> bool:
    """An ``http://`` server reached without a proxy never speaks TLS (a redirect to another
    scheme is refused), so the client needs no CA bundle: loading certifi's costs ~40 ms of every
    ``comfytui run``."""
    if urlsplit(url).scheme != "http":
        return False
    return not trust_env or not any(os.environ.get(name) for name in _PROXY_VARIABLES)


def _tls_context_trusting_nobody() -> ssl.SSLContext:
    """Verifying, with no trusted certificates: it would refuse any TLS peer, never trust one."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class ComfyClient:
    """One ComfyUI server over HTTP. Use as an async context manager, or call ``aclose``."""

    def __init__(self, settings: ServerSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self._headers = gateway_headers(settings)
        self.on_malformed: protocol.OnMalformed | None = None
        """Told of each bad ``/queue`` or ``/history`` entry that was skipped (the session counts them)."""
        self._features: ServerFeatures | None = None
        """What the server supports (``server_features``), detected once per client."""
        self._ws_flags: dict[str, Any] | None = None
        self._transport = transport
        self._http_client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._http_client is None:
            import httpx

            # Always: a reply from another origin is not this server's state (an empty /queue from
            # elsewhere would mark running jobs lost), credentials or not.
            hooks = {"response": [self._refuse_cross_origin_redirect]}
            trust_env = not is_loopback_url(self.url)
            transport = self._transport
            self._http_client = httpx.AsyncClient(
                base_url=self.url,
                headers=self._headers,
                timeout=httpx.Timeout(self.settings.timeout_s, connect=min(self.settings.timeout_s, 10.0)),
                transport=transport,
                follow_redirects=True,
                event_hooks=hooks,
                # A loopback server is never reached through a proxy from the environment.
                trust_env=trust_env,
                **({"verify": _tls_context_trusting_nobody()} if transport is None and _tls_unused(self.url, trust_env) else {}),
            )
        return self._http_client

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
        if self._http_client is not None:
            await self._http_client.aclose()

    def __repr__(self) -> str:
        return f"ComfyClient({self.display_url!r})"

    # -- plumbing

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

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
        import httpx

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

    # -- feature detection (core/comfy/features.py decides; this gathers the evidence, once)

    async def server_features(self, *, refresh: bool = False) -> ServerFeatures:
        """What this server supports, detected once and cached (``forget_server_features`` on a
        reconnect: the server may have been upgraded). Raises ``ServerUnreachable`` only when
        nothing answers; any other failure counts as "not supported"."""
        if self._features is not None and not refresh:
            return self._features
        try:
            version = (await self.system_stats()).comfyui_version
        except ServerError:
            version = ""
        try:
            flags = dict(await self.features())
        except (ServerError, ValueError, TypeError):
            flags = {}
        if self._ws_flags:
            flags.update(self._ws_flags)
        probe = await self._request("GET", "/api/jobs", params={"limit": 1})
        try:
            paginated = probe.status_code == 200 and isinstance(probe.json().get("pagination"), dict)
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            paginated = False
        self._features = feat.decide(
            feat.Evidence(version_text=version, flags=flags, jobs_probe=probe.status_code, jobs_probe_paginated=paginated)
        )
        return self._features

    def forget_server_features(self) -> None:
        """Detect again at the next use (the stream calls this on every (re)connect)."""
        self._features = None

    def note_feature_flags(self, flags: Mapping[str, Any]) -> None:
        """The websocket ``feature_flags`` reply: what the server said, kept for detection."""
        self._ws_flags = dict(flags)
        if self._features is not None:
            self._features = dataclasses.replace(self._features, flags={**self._features.flags, **flags})

    @property
    def server_flags(self) -> dict[str, Any] | None:
        """The last websocket ``feature_flags`` reply (None before one came)."""
        return dict(self._ws_flags) if self._ws_flags is not None else None

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
        preview_method: str | None = None,
    ) -> Submitted:
        """``POST /prompt``. A 400 becomes ``PromptRejected`` naming each node and input at fault.

        ``prompt_id`` is made canonical (or refused) by ``features.canonical_prompt_id``.
        ``preview_method`` (or ``extra_data["preview_method"]``) is sent only to servers that read
        it per prompt (0.5+); elsewhere it is left out and the server's own setting applies."""
        body: dict[str, Any] = {
            "prompt": prompt,
            "client_id": client_id,
            # Newer servers require a canonical UUID; 0.3.75 accepts it too (COMFY_API.md §5.2).
            "prompt_id": canonical_prompt_id(prompt_id) if prompt_id else str(uuid.uuid4()),
        }
        extra = dict(extra_data or {})
        if extra_pnginfo:
            extra["extra_pnginfo"] = dict(extra_pnginfo)
        method = preview_method or extra.pop("preview_method", None)
        extra.pop("preview_method", None)
        if method:
            feat.check_preview_method(str(method))
            if (await self.server_features()).preview_method:
                extra["preview_method"] = str(method)
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

    # -- jobs: one listing and one cancel for every server version (docs/SERVERS.md)

    async def jobs(
        self,
        status: Sequence[str] | None = None,
        *,
        workflow_id: str | None = None,
        sort_by: str = "created_at",
        sort_order: str = "desc",
        limit: int | None = None,
        offset: int = 0,
    ) -> JobsPage:
        """Queue and history as one list: ``GET /api/jobs`` where the server has it (0.6+), else
        built from ``/queue`` + ``/history`` with the same filter, sort and paging (0.3.75)."""
        statuses = tuple(status or ())
        bad = [s for s in statuses if s not in JOB_STATUSES]
        if bad:
            raise InputError(f"unknown job status {bad[0]!r}: use {', '.join(JOB_STATUSES)}")
        if sort_by not in ("created_at", "execution_duration") or sort_order not in ("asc", "desc"):
            raise InputError(f"cannot sort jobs by {sort_by!r} {sort_order!r}: created_at|execution_duration, asc|desc")
        if (limit is not None and limit < 1) or offset < 0:
            raise InputError(f"bad page: limit {limit}, offset {offset}")
        if (await self.server_features()).jobs_api:
            page = await self._jobs_api(statuses, workflow_id, sort_by, sort_order, limit, offset)
            if page is not None:
                return page
        return await self._jobs_classic(statuses, workflow_id, sort_by, sort_order, limit, offset)

    async def _jobs_api(
        self, statuses: tuple[str, ...], workflow_id: str | None, sort_by: str, sort_order: str, limit: int | None, offset: int
    ) -> JobsPage | None:
        params: dict[str, Any] = {"sort_by": sort_by, "sort_order": sort_order, "offset": offset}
        if statuses:
            params["status"] = ",".join(statuses)
        if workflow_id:
            params["workflow_id"] = workflow_id
        if limit is not None:
            params["limit"] = limit
        response = await self._request("GET", "/api/jobs", params=params)
        if response.status_code == 400 and "cancelled" in statuses:
            # Jobs APIs before ``cancelled`` existed call interrupted jobs ``failed``.
            rest = [s for s in statuses if s != "cancelled"] or ["failed"]
            response = await self._request("GET", "/api/jobs", params={**params, "status": ",".join(rest)})
        if response.status_code == 404:
            self._features = dataclasses.replace(
                await self.server_features(), jobs_api=False,
            )
            return None
        if response.status_code != 200:
            raise self._fail(response, "listing jobs")
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("jobs"), list):
            raise self._fail(response, "listing jobs (the reply is not ComfyUI's)")
        jobs = []
        for item in payload["jobs"]:
            try:
                jobs.append(ServerJob.from_json(item))
            except ValueError as exc:
                if self.on_malformed is not None:
                    self.on_malformed(protocol.malformed("/api/jobs entry", exc, item))
        pagination = payload.get("pagination") if isinstance(payload.get("pagination"), dict) else {}
        total = int_or_none(pagination.get("total"))
        return JobsPage(
            jobs=tuple(jobs),
            total=total if total is not None else len(jobs),
            offset=int_or_none(pagination.get("offset")) or offset,
            limit=int_or_none(pagination.get("limit")),
            has_more=bool(pagination.get("has_more")),
            route="jobs",
        )

    async def _jobs_classic(
        self, statuses: tuple[str, ...], workflow_id: str | None, sort_by: str, sort_order: str, limit: int | None, offset: int
    ) -> JobsPage:
        wanted = set(statuses or JOB_STATUSES)
        jobs: list[ServerJob] = []
        if wanted & {"pending", "in_progress"}:
            queue = await self.queue()
            jobs += [_queued_job(q, "in_progress") for q in queue.running]
            jobs += [_queued_job(q, "pending") for q in queue.pending]
        if wanted & {"completed", "failed", "cancelled"}:
            jobs += [_history_job(h) for h in await self.history()]
        seen: set[str] = set()
        found = []
        for job in jobs:  # a job finishing between the two reads is listed once, as queued
            if job.id not in seen and job.status in wanted and (not workflow_id or job.workflow_id == workflow_id):
                seen.add(job.id)
                found.append(job)
        if sort_by == "created_at":
            found.sort(key=lambda j: (j.create_time_ms or 0.0, j.id), reverse=sort_order == "desc")
        else:
            found.sort(key=lambda j: ((j.ended_ms or 0.0) - (j.started_ms or 0.0), j.id), reverse=sort_order == "desc")
        page = found[offset: offset + limit if limit is not None else None]
        return JobsPage(tuple(page), len(found), offset, limit, offset + len(page) < len(found), "queue+history")

    async def job(self, job_id: str) -> ServerJob | None:
        """One job with its outputs, prompt and extra data: ``GET /api/jobs/{id}``, else
        ``/history/{id}`` then ``/queue``. None when the server does not know it."""
        if (await self.server_features()).jobs_api:
            response = await self._request("GET", f"/api/jobs/{quote(job_id, safe='')}")
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise self._fail(response, f"reading job {job_id}")
            try:
                return ServerJob.from_json(response.json())
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
                raise self._fail(response, f"reading job {job_id} (the reply is not ComfyUI's)") from None
        entry = await self.history_entry(job_id)
        if entry is not None:
            return _history_job(entry, detail=True)
        queue = await self.queue()
        for item, state in [(q, "in_progress") for q in queue.running] + [(q, "pending") for q in queue.pending]:
            if item.prompt_id == job_id:
                return _queued_job(item, state, detail=True)
        return None

    async def cancel(self, job_ids: str | Sequence[str]) -> CancelOutcome:
        """Cancel jobs, pending or running: the one cancel every caller uses.

        ``POST /api/jobs/{id}/cancel`` (one id) or ``POST /api/jobs/cancel`` (several) where the
        server has them (0.26+); else ``POST /queue {"delete": ids}`` and, for one of them that is
        running then, ``POST /interrupt {"prompt_id": id}`` (0.3.75: never interrupts another job)."""
        ids = [job_ids] if isinstance(job_ids, str) else list(dict.fromkeys(job_ids))
        if not ids:
            return CancelOutcome("none", False)
        features = await self.server_features()
        if features.jobs_cancel:
            if len(ids) == 1:
                response = await self._request("POST", f"/api/jobs/{quote(ids[0], safe='')}/cancel")
            else:
                response = await self._request("POST", "/api/jobs/cancel", json={"job_ids": ids})
            if response.status_code in (404, 405):
                self._features = features.without_jobs_cancel(f"POST {response.request.url.path} answered {response.status_code}")
            elif response.status_code != 200:
                raise self._fail(response, f"cancelling {' '.join(ids)}")
            else:
                try:
                    payload = response.json()
                except (json.JSONDecodeError, UnicodeDecodeError):
                    payload = None
                if not isinstance(payload, dict) or not isinstance(payload.get("cancelled"), bool):
                    raise self._fail(response, "cancelling (the reply is not ComfyUI's)")
                return CancelOutcome("jobs", payload["cancelled"])
        before = await self.queue()
        pending_before = {q.prompt_id for q in before.pending}
        # Pending first, so none of them starts when the running one is interrupted.
        await self.delete_pending(ids)
        after = await self.queue()
        still = {q.prompt_id for q in after.pending + after.running}
        interrupted = tuple(q.prompt_id for q in after.running if q.prompt_id in ids)
        for prompt_id in interrupted:
            await self.interrupt(prompt_id)
        dequeued = tuple(i for i in ids if i in pending_before and i not in still)
        return CancelOutcome("queue+interrupt", bool(dequeued or interrupted), dequeued, interrupted)

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
        """Save one output under ``directory`` (its subfolder kept), refusing path traversal.

        The body is streamed into a ``.part`` file next to the target (a video can be gigabytes:
        it never sits in memory whole) and renamed only once complete, so a failure mid-way never
        leaves a partial file under the final name. File work runs in a thread, off the event loop.
        """
        import httpx

        target = safe_output_path(directory, file)
        params = {"filename": file.filename, "subfolder": file.subfolder, "type": file.type}
        what = f"fetching {file.filename}"
        # Unique per call: two downloads of the same name must not write into one .part file.
        tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.part")
        out = None
        done = False
        try:
            async with self._http.stream("GET", "/view", params=params) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise self._fail(response, what)
                out = await asyncio.to_thread(_open_part, tmp)
                async for chunk in response.aiter_bytes(_DOWNLOAD_CHUNK):
                    await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(_finish_part, out, tmp, target)
            done = True
        except httpx.ConnectError as exc:
            raise ServerUnreachable(f"cannot reach ComfyUI at {self.display_url}: {_reason(exc)}") from None
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"ComfyUI at {self.display_url} stalled while sending {file.filename} "
                f"(no data within {self.settings.timeout_s:g}s)"
            ) from None
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"ComfyUI at {self.display_url}: {what} failed mid-way: {exc}") from None
        finally:
            if not done:  # failed or cancelled before the rename: drop the partial file
                await asyncio.to_thread(_discard_part, out, tmp)
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


_DOWNLOAD_CHUNK = 1 << 20
"""Bytes per write of a streamed download: big enough that the thread hop per chunk is cheap."""


def _open_part(tmp: Path) -> Any:
    tmp.parent.mkdir(parents=True, exist_ok=True)
    return tmp.open("wb")


def _finish_part(out: Any, tmp: Path, target: Path) -> None:
    out.close()
    tmp.replace(target)


def _discard_part(out: Any, tmp: Path) -> None:
    if out is not None:
        out.close()
    tmp.unlink(missing_ok=True)


_STATUS_OF_HISTORY = {"success": "completed", "error": "failed", "interrupted": "cancelled"}


def _workflow_id(extra_data: Mapping[str, Any]) -> str | None:
    workflow = (extra_data.get("extra_pnginfo") or {}).get("workflow") if isinstance(extra_data.get("extra_pnginfo"), dict) else None
    value = workflow.get("id") if isinstance(workflow, dict) else None
    return value if isinstance(value, str) else None


def _queued_job(item: ev.QueueItem, status: str, *, detail: bool = False) -> ServerJob:
    """A ``/queue`` entry in the jobs API's shape (0.3.75 fallback)."""
    created = item.create_time_ms
    return ServerJob(
        id=item.prompt_id, status=status, priority=item.number,
        create_time_ms=float(created) if isinstance(created, int | float) else None,
        workflow_id=_workflow_id(item.extra_data),
        prompt=item.prompt if detail else None, extra_data=item.extra_data if detail else None,
    )


def _history_job(entry: ev.HistoryEntry, *, detail: bool = False) -> ServerJob:
    """A ``/history`` entry in the jobs API's shape; interrupted is ``cancelled`` as on the newest servers."""
    created = entry.extra_data.get("create_time")
    preview = next(
        ({"filename": f.filename, "subfolder": f.subfolder, "type": f.type, "nodeId": f.node_id, "mediaType": f.kind}
         for f in entry.outputs if f.kind == "images"), None,
    )
    return ServerJob(
        id=entry.prompt_id, status=_STATUS_OF_HISTORY.get(entry.status, "failed"), priority=entry.number,
        create_time_ms=float(created) if isinstance(created, int | float) else None,
        started_ms=entry.started_ms, ended_ms=entry.ended_ms,
        error_message=entry.error.exception_message if entry.error else None,
        outputs_count=len(entry.outputs), workflow_id=_workflow_id(entry.extra_data), preview_output=preview,
        outputs=entry.raw_outputs if detail else None,
        prompt=entry.prompt if detail else None, extra_data=entry.extra_data if detail else None,
    )


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
