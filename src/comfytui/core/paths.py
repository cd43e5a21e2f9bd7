"""Where comfytui keeps its files (XDG through platformdirs).

``COMFYTUI_HOME`` moves all of them under one directory, which tests and the whole-app scripts use
so that nothing touches the user's real files.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

_DIRS = PlatformDirs("comfytui", appauthor=False)


def _home_override(kind: str) -> Path | None:
    home = os.environ.get("COMFYTUI_HOME")
    return Path(home) / kind if home else None


def config_dir() -> Path:
    return _home_override("config") or Path(_DIRS.user_config_dir)


def config_file() -> Path:
    return config_dir() / "config.toml"


def state_dir() -> Path:
    """Journal of submitted jobs, process-backend logs: things that must survive a restart."""
    return _home_override("state") or Path(_DIRS.user_state_dir)


def cache_dir() -> Path:
    """object_info cache, model hash cache: things that can be rebuilt."""
    return _home_override("cache") or Path(_DIRS.user_cache_dir)


def data_dir() -> Path:
    """Downloaded outputs by default, user workflows."""
    return _home_override("data") or Path(_DIRS.user_data_dir)


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
