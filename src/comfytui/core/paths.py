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


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _roots() -> tuple[Path, ...]:
    return (config_dir(), state_dir(), cache_dir(), data_dir())


def is_private(path: Path) -> bool:
    """True for comfytui's own config, state, cache and data folders and what lies under them."""
    resolved = path.absolute()
    return any(resolved == root.absolute() or resolved.is_relative_to(root.absolute()) for root in _roots())


def ensure(path: Path) -> Path:
    """Create ``path`` (and parents). comfytui's own folders are made 0700: they hold the journal,
    the client id and caches that name servers and files; a folder the user chose keeps its mode."""
    if not is_private(path):
        path.mkdir(parents=True, exist_ok=True)
        return path
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    for folder in (path, *path.parents):
        if not is_private(folder):
            break
        try:
            if folder.stat().st_mode & 0o077:
                folder.chmod(PRIVATE_DIR_MODE)
        except OSError:
            break  # not ours to change (a shared parent): the leaf folder is what matters
    return path


def make_private(path: Path) -> Path:
    """Make one of comfytui's files readable by its owner only (0600)."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(PRIVATE_FILE_MODE)
    except FileNotFoundError:
        pass
    return path


def write_private(path: Path, data: str | bytes) -> Path:
    """Write a config, state or cache file atomically, created 0600 in a 0700 folder."""
    ensure(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path
