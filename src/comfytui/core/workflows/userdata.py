"""The server's user data (COMFY_API.md §1.11) and output folder listing (§1.12), for workflows.

- saved workflows: ``GET /userdata?dir=workflows&recurse=true&full_info=true`` (404 = none saved),
  read with ``GET /userdata/workflows%2F<path>``, written with ``POST /userdata/workflows%2F<path>``;
- the output folder: ``GET /internal/files/output`` (top level, newest first), files via ``/view``.

The file path of a userdata route is one URL-encoded path segment (``/`` becomes ``%2F``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.client import ComfyClient
from comfytui.core.errors import InputError

WORKFLOWS_DIR = "workflows"


@dataclass(frozen=True)
class UserDataFile:
    """One file under the user's ``workflows`` folder; ``path`` is relative to that folder."""

    path: str
    size: int | None = None
    modified: float | None = None


def check_relative(path: str) -> str:
    """A userdata path relative to ``workflows/``: no absolute paths, no ``..``, forward slashes."""
    clean = path.replace("\\", "/").strip()
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if not parts or clean.startswith("/") or any(p == ".." for p in parts) or "\x00" in clean:
        raise InputError(f"'{path}' is not a valid name for a saved workflow (a relative path without '..')")
    return "/".join(parts)


def userdata_route(path: str, directory: str = WORKFLOWS_DIR) -> str:
    """``/userdata/workflows%2F<path>``: the whole file path as one encoded segment."""
    return "/userdata/" + quote(f"{directory}/{check_relative(path)}", safe="")


async def list_saved_workflows(client: ComfyClient) -> list[UserDataFile]:
    """The server's saved workflows (``.json`` files), recursively; none saved yet → ``[]``."""
    params = {"dir": WORKFLOWS_DIR, "recurse": "true", "full_info": "true"}
    response = await client._request("GET", "/userdata", params=params)  # noqa: SLF001 - our own routes
    if response.status_code == 404:
        return []
    if response.status_code != 200:
        raise client._fail(response, "listing the server's saved workflows")  # noqa: SLF001
    try:
        payload: Any = response.json()
    except ValueError:
        raise client._fail(response, "listing the server's saved workflows (the reply is not JSON)") from None  # noqa: SLF001
    files: list[UserDataFile] = []
    for item in payload or []:
        if isinstance(item, str):
            files.append(UserDataFile(item))
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            size = item.get("size")
            modified = item.get("modified")
            files.append(
                UserDataFile(
                    item["path"],
                    int(size) if isinstance(size, (int, float)) else None,
                    float(modified) if isinstance(modified, (int, float)) else None,
                )
            )
    return sorted((f for f in files if f.path.lower().endswith(".json")), key=lambda f: f.path.lower())


async def read_saved_workflow(client: ComfyClient, path: str) -> bytes:
    response = await client._request("GET", userdata_route(path))  # noqa: SLF001
    if response.status_code == 404:
        raise InputError(f"the server has no saved workflow '{path}' (deleted meanwhile?)")
    if response.status_code != 200:
        raise client._fail(response, f"reading the saved workflow '{path}'")  # noqa: SLF001
    return response.content


async def write_saved_workflow(client: ComfyClient, path: str, data: bytes, *, overwrite: bool = False) -> str:
    """Store ``data`` as ``workflows/<path>`` on the server; returns the path relative to ``workflows/``.

    Without ``overwrite`` an existing file is refused (``InputError``) rather than replaced.
    """
    route = userdata_route(path)
    params = {"overwrite": "true" if overwrite else "false", "full_info": "true"}
    response = await client._request(  # noqa: SLF001
        "POST", route, params=params, content=data, headers={"Content-Type": "application/json"}
    )
    if response.status_code == 409:
        raise InputError(f"the server already has a saved workflow '{path}'; choose another name")
    if response.status_code != 200:
        raise client._fail(response, f"saving the workflow '{path}' on the server")  # noqa: SLF001
    try:
        stored = response.json()
    except ValueError:
        stored = None
    where = stored.get("path") if isinstance(stored, dict) else stored
    if isinstance(where, str) and where.startswith(WORKFLOWS_DIR + "/"):
        return where[len(WORKFLOWS_DIR) + 1 :]
    return check_relative(path)


async def list_output_files(client: ComfyClient, kind: str = "output") -> list[str]:
    """File names at the top of the server's output (or input/temp) folder, newest first."""
    payload = await client._json("GET", f"/internal/files/{kind}", f"listing the server's {kind} folder")  # noqa: SLF001
    return [name for name in payload or [] if isinstance(name, str)]


async def fetch_output_file(client: ComfyClient, filename: str, subfolder: str = "", kind: str = "output") -> bytes:
    return await client.view(ev.OutputFile(filename, subfolder, kind))
