"""Where workflows come from: the bundled ``workflows/`` folder and the user's folders.

Listing reads only file names and sizes; a workflow is parsed when it is chosen. (The server's
saved workflows and PNG sources are listed by the workflows screen through the client.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from comfytui.core.config import Config

WORKFLOW_SUFFIXES = (".json", ".png", ".webp")


def bundled_workflows_dir() -> Path | None:
    """The bundled workflows: inside the installed package, or the repo's ``workflows/``."""
    here = Path(__file__).resolve()
    for candidate in (here.parent.parent / "bundled_workflows", here.parents[3] / "workflows"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True)
class WorkflowEntry:
    name: str
    path: Path
    source: str
    """``bundled`` or ``user``."""
    size: int
    modified: float


def list_workflows(config: Config) -> list[WorkflowEntry]:
    roots: list[tuple[str, Path]] = []
    bundled = bundled_workflows_dir()
    if bundled:
        roots.append(("bundled", bundled))
    roots += [("user", Path(os.path.expanduser(d))) for d in config.workflows.dirs]
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
