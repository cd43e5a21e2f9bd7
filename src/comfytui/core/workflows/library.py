"""Where workflows come from: the bundled ``workflows/`` folder and the user's folders.

Listing reads only file names and sizes; a workflow is parsed when it is chosen. ``core.workflow_sources``
adds the server's saved workflows and output images, and inspects each entry (format, nodes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from comfytui.core import paths
from comfytui.core.config import Config

WORKFLOW_SUFFIXES = (".json", ".png", ".webp")


def bundled_workflows_dir() -> Path | None:
    """The bundled workflows: inside the installed package, or the repo's ``workflows/``."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "bundled_workflows", here.parents[4] / "workflows"):
        if candidate.is_dir():
            return candidate
    return None


def saved_workflows_dir() -> Path:
    """Where the parameter form saves edited copies of bundled workflows and images."""
    return paths.data_dir() / "workflows"


@dataclass(frozen=True)
class WorkflowEntry:
    name: str
    path: Path
    source: str
    """``bundled``, ``user``, ``server`` (saved in the server's user data) or ``output`` (an image)."""
    size: int
    modified: float
    format: str = ""
    """``api`` or ``editor`` once inspected (``core.workflow_sources``); ``""`` until then."""
    nodes: int | None = None
    models: tuple[str, ...] = ()
    """Model files the workflow's loader inputs name."""
    node_types: tuple[str, ...] = ()
    remote: str = ""
    """For ``server`` entries the path under the server's ``workflows/``; for ``output`` the file name.
    ``path`` is then a local copy in the cache, written when the entry is listed or opened."""
    error: str = ""
    """Why the file could not be read, when inspecting it failed."""


def list_workflows(config: Config) -> list[WorkflowEntry]:
    roots: list[tuple[str, Path]] = []
    bundled = bundled_workflows_dir()
    if bundled:
        roots.append(("bundled", bundled))
    roots += [("user", Path(os.path.expanduser(d))) for d in config.workflows.dirs]
    saved = saved_workflows_dir()
    if saved.is_dir() and all(saved.resolve() != root.resolve() for _, root in roots):
        roots.append(("user", saved))
    entries: list[WorkflowEntry] = []
    for source, root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in WORKFLOW_SUFFIXES or not path.is_file():
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append(WorkflowEntry(str(path.relative_to(root)), path, source, stat.st_size, stat.st_mtime))
    return entries
