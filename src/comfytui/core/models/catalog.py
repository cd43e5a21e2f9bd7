"""The model browser's core: what models the server has, merged with the files we can read locally.

The server's view comes from ``/models`` (folder keys) and ``/experiment/models/{folder}``
(name, size, mtime), falling back to ``/models/{folder}`` (names only). Local roots make header
reading and hashing possible:

(a) ``[models] dirs`` from the config: each is a models directory (``checkpoints/``, ``loras/``...)
    or a ComfyUI directory holding ``models/``;
(b) when the server is on this machine (a loopback URL), the folders ``/internal/folder_paths``
    names, so nothing needs configuring; a server in a container names container paths, which
    ``path_map`` (its bind mounts) turns into host paths, and a path under no mount is skipped;
(c) extra roots the lifecycle layer passes in (a mounted volume, a bare-metal ComfyUI dir).

Entries are flagged when they are probably not diffusion checkpoints (by name, and by the
safetensors header's tensor names) and when they are larger than ``max_checkpoint_bytes``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from comfytui.core.comfy.client import ComfyClient
from comfytui.core.comfy.types import ServerModelFile
from comfytui.core.config import (
    Config,
    is_loopback_url,  # noqa: F401 (re-exported)
)
from comfytui.core.errors import ComfyTuiError, InputError, ServerError
from comfytui.core.models.hashing import HashCache, HashResult, ProgressCallback, sha256_file
from comfytui.core.models.safetensors import HeaderResult, SafetensorsHeader, try_read_header

KNOWN_FOLDERS = (
    "checkpoints", "loras", "vae", "text_encoders", "diffusion_models",
    "controlnet", "upscale_models", "embeddings",
)
"""Folders always offered, first and in this order; the server's other folders follow."""

FOLDER_ALIASES = {"clip": "text_encoders", "unet": "diffusion_models", "t2i_adapter": "controlnet"}
"""Legacy names ComfyUI maps to the current folder keys."""

LOCAL_SUBDIRS = {
    "text_encoders": ("text_encoders", "clip"),
    "diffusion_models": ("diffusion_models", "unet"),
    "controlnet": ("controlnet", "t2i_adapter"),
}
"""Directories under a models root that feed one folder key (as ComfyUI's folder_paths does)."""

NOT_MODEL_FOLDERS = frozenset({"configs", "custom_nodes"})

MODEL_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})
"""ComfyUI's ``supported_pt_extensions``."""

SortKey = Literal["name", "size", "date"]


@dataclass(frozen=True)
class ModelFlag:
    """Something worth a second look about one model file."""

    kind: str
    """``name_not_checkpoint``, ``header_not_checkpoint``, ``bad_header``, ``too_large``."""
    message: str
    level: Literal["info", "warning"] = "warning"

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message, "level": self.level}


@dataclass(frozen=True)
class ModelEntry:
    """One model file: as the server lists it and/or as found under a local root."""

    folder: str
    name: str
    """Relative path with '/' separators (what loader inputs expect)."""
    size: int | None
    modified: float | None
    """Epoch seconds."""
    local_path: str | None
    is_safetensors: bool
    flags: tuple[ModelFlag, ...] = ()
    on_server: bool = True
    """False for a file found only under a local root."""
    header: HeaderResult | None = None
    """Set once the header was read (locally or through /view_metadata)."""

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "name": self.name,
            "size": self.size,
            "modified": self.modified,
            "local_path": self.local_path,
            "is_safetensors": self.is_safetensors,
            "on_server": self.on_server,
            "flags": [f.to_dict() for f in self.flags],
            "header": self.header.to_dict() if self.header is not None else None,
        }


@dataclass
class ModelListing:
    """A catalog listing: entries, the folders asked, the local roots used, and what went wrong."""

    folders: list[str]
    entries: list[ModelEntry]
    roots: dict[str, list[str]] = field(default_factory=dict)
    server_error: str | None = None
    """Why the server's list is missing (unreachable...); local files are still listed."""
    server_exception: ComfyTuiError | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    """Things worth telling the user (server folders that are not on this machine)."""


# ---------------------------------------------------------------------------------------------
# Pure helpers


def _longest_first(path_map: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    pairs = [(str(PurePosixPath(c)), str(Path(h).expanduser())) for c, h in path_map]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def map_container_path(path: str, path_map: Iterable[tuple[str, str]]) -> str | None:
    """The host path of the container path ``path`` through ``(container prefix, host prefix)``
    pairs (the deepest mount wins); None when no mount covers it."""
    p = PurePosixPath(path)
    for container, host in _longest_first(path_map):
        prefix = PurePosixPath(container)
        if p == prefix or prefix in p.parents:
            return str(Path(host, *p.relative_to(prefix).parts))
    return None


def normalize_folder(folder: str) -> str:
    key = folder.strip().strip("/").lower()
    return FOLDER_ALIASES.get(key, key)


def format_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


_NAME_HINTS: list[tuple[str, re.Pattern[str]]] = [
    ("a VAE", re.compile(r"(?:^|[^a-z0-9])(?:vae|kl-f8)(?:$|[^a-z])")),
    ("a tiny autoencoder (TAESD)", re.compile(r"taesd|taef1|taesdxl")),
    ("a LoRA", re.compile(r"(?:^|[^a-z])(?:lora|lycoris|locon|loha|lokr)(?:$|[^a-z])|lora$|^lora")),
    ("a text encoder", re.compile(
        r"(?:^|[^a-z])(?:clip|clip_[lg]|t5|t5xxl|umt5|text_encoder|textencoder|llava)(?:$|[^a-z])"
    )),
    ("a ControlNet", re.compile(r"controlnet|control_|t2i-adapter|t2iadapter|(?:^|[^a-z])cn(?:$|[^a-z])")),
    ("an upscaler", re.compile(r"upscale|esrgan|swinir|(?:^|[^a-z0-9])[248]x(?:$|[^a-z])|(?:^|[^a-z])x[248](?:$|[^a-z0-9])")),
    ("an embedding", re.compile(r"embedding|textual.?inversion")),
    ("an IP-Adapter", re.compile(r"ip.?adapter")),
]


def name_hint(name: str) -> str | None:
    """What a file's name says it is when that is not a diffusion checkpoint (``"a VAE"``), else None."""
    stem = Path(name.lower()).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    for what, pattern in _NAME_HINTS:
        if pattern.search(stem):
            return what
    return None


def classify_header(header: SafetensorsHeader) -> str:
    """What the tensor names say the file is: ``checkpoint``, ``diffusion model``, ``VAE``, ``LoRA``,
    ``text encoder``, ``ControlNet``, ``embedding``, ``upscaler`` or ``unknown``."""
    names = header.tensor_names
    if any(n.startswith("model.diffusion_model.") for n in names):
        return "checkpoint"

    def some(*needles: str) -> bool:
        return any(any(needle in n for needle in needles) for n in names)

    def starts(*prefixes: str) -> bool:
        return any(n.startswith(prefixes) for n in names)

    if starts("lora_unet_", "lora_te", "lora_transformer_") or some(".lora_up.", ".lora_down.", ".lora_A.", ".lora_B.",
                                                                     ".hada_w1", ".lokr_w1"):
        return "LoRA"
    if starts("control_model.", "input_hint_block.", "controlnet_") or some("zero_convs.", "controlnet_blocks."):
        return "ControlNet"
    if starts("first_stage_model.") or (some("decoder.") and some("encoder.") and some("quant_conv", "conv_in")):
        return "VAE"
    if starts("input_blocks.", "double_blocks.", "joint_blocks.", "transformer_blocks.", "diffusion_model."):
        return "diffusion model"
    if starts("text_model.", "transformer.text_model.", "encoder.block.", "shared.", "text_projection",
              "cond_stage_model.", "conditioner.embedders.", "model.layers.", "text_encoders."):
        return "text encoder"
    if starts("emb_params", "string_to_param", "clip_l", "clip_g") and header.tensor_count <= 4:
        return "embedding"
    if starts("conv_first.", "body.", "model.0.", "upconv1.", "RRDB_trunk."):
        return "upscaler"
    return "unknown"


def name_flags(folder: str, name: str) -> list[ModelFlag]:
    if folder != "checkpoints":
        return []
    what = name_hint(name)
    if what is None:
        return []
    return [ModelFlag("name_not_checkpoint", f"the name suggests {what}, not a diffusion checkpoint", "info")]


def header_flags(folder: str, result: HeaderResult) -> list[ModelFlag]:
    if result.error is not None:
        return [ModelFlag("bad_header", result.error, "warning")]
    header = result.header
    if header is None or folder != "checkpoints":
        return []
    kind = classify_header(header)
    if kind == "checkpoint":
        return []
    what = f"looks like a {kind}" if kind != "unknown" else "is not recognised"
    where = {"LoRA": "loras/", "VAE": "vae/", "text encoder": "text_encoders/", "ControlNet": "controlnet/",
             "diffusion model": "diffusion_models/", "embedding": "embeddings/", "upscaler": "upscale_models/"}.get(kind)
    hint = f"; it belongs in {where}" if where else ""
    return [ModelFlag(
        "header_not_checkpoint",
        f"{what}, not a diffusion checkpoint (no model.diffusion_model.* tensors){hint}",
        "warning",
    )]


def size_flags(size: int | None, max_bytes: int) -> list[ModelFlag]:
    if size is None or max_bytes <= 0 or size <= max_bytes:
        return []
    return [ModelFlag("too_large", f"{format_bytes(size)} is larger than {format_bytes(max_bytes)} "
                                   "([models] max_checkpoint_bytes)", "warning")]


def compute_flags(entry: ModelEntry, max_checkpoint_bytes: int) -> tuple[ModelFlag, ...]:
    flags = size_flags(entry.size, max_checkpoint_bytes)
    header_kind = (classify_header(entry.header.header)
                   if entry.header is not None and entry.header.header is not None else None)
    if header_kind != "checkpoint":  # the header proving a checkpoint beats the name
        flags += name_flags(entry.folder, entry.name)
    if entry.header is not None and entry.header.source == "file":
        flags += header_flags(entry.folder, entry.header)
    return tuple(flags)


def sort_entries(entries: Iterable[ModelEntry], by: SortKey = "name", reverse: bool = False) -> list[ModelEntry]:
    """Sort by name (case-insensitive, folder first), size or date; unknown sizes and dates sort last."""
    items = list(entries)
    if by == "name":
        return sorted(items, key=lambda e: (e.folder, e.name.lower(), e.name), reverse=reverse)
    attr = "size" if by == "size" else "modified"
    known = [e for e in items if getattr(e, attr) is not None]
    unknown = [e for e in items if getattr(e, attr) is None]
    known.sort(key=lambda e: (getattr(e, attr), e.name.lower()), reverse=reverse)
    return known + sorted(unknown, key=lambda e: e.name.lower())


def filter_entries(entries: Iterable[ModelEntry], text: str) -> list[ModelEntry]:
    """Entries whose ``folder/name`` contains every word of ``text`` (case-insensitive)."""
    words = text.lower().split()
    if not words:
        return list(entries)
    return [e for e in entries if all(w in e.path.lower() for w in words)]


def _dedupe(dirs: Iterable[Path]) -> list[Path]:
    seen: set[str] = set()
    unique = []
    for d in dirs:
        key = os.path.normpath(str(d))
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def scan_dir(root: Path) -> dict[str, os.stat_result]:
    """Model files under ``root`` (recursively, following links): relative '/' name -> stat."""
    found: dict[str, os.stat_result] = {}
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            if Path(fname).suffix.lower() not in MODEL_EXTENSIONS:
                continue
            full = Path(dirpath) / fname
            try:
                st = full.stat()
            except OSError:
                continue
            rel = full.relative_to(root).as_posix()
            found.setdefault(rel, st)
    return found


# ---------------------------------------------------------------------------------------------
# The catalog


class ModelCatalog:
    """Lists model folders and files (server + local roots), reads headers, hashes on demand.

    ``info`` may be shared with the caller (it is not closed here unless created here: use
    ``async with ModelCatalog(config) as catalog`` or ``aclose()``).
    """

    def __init__(self, config: Config, *, info: ComfyClient | None = None,
                 extra_roots: Sequence[str | os.PathLike[str]] = (), use_server_paths: bool | None = None,
                 hash_cache: HashCache | None = None,
                 path_map: Sequence[tuple[str, str]] | None = None) -> None:
        self.config = config
        self.settings = config.models
        self._own_info = info is None
        self.info = info or ComfyClient(config.server)
        self.extra_roots = [Path(r) for r in extra_roots]
        if use_server_paths is None:
            mode = self.settings.server_paths
            use_server_paths = mode == "always" or (mode == "auto" and is_loopback_url(config.server.url))
        self.use_server_paths = use_server_paths
        self.hash_cache = hash_cache or HashCache()
        self._server_folders: list[str] | None = None
        self._server_paths: dict[str, list[str]] | None = None
        self.path_map = None if path_map is None else _longest_first(path_map)
        """(container prefix, host prefix) pairs when the server runs in a container: its
        folder paths are container paths and mean nothing on this machine until mapped."""
        self.notes: list[str] = []

    async def __aenter__(self) -> ModelCatalog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_info:
            await self.info.aclose()

    def refresh(self) -> None:
        """Forget what the server said (folders, folder paths); the next listing asks again."""
        self._server_folders = None
        self._server_paths = None
        self.notes = []

    # -- folders and roots ---------------------------------------------------------------------
    async def server_folders(self) -> list[str]:
        if self._server_folders is None:
            self._server_folders = await self.info.list_model_folders()
        return self._server_folders

    async def folders(self) -> list[str]:
        """Known folders first, then the server's others (never configs/custom_nodes)."""
        out = list(KNOWN_FOLDERS)
        try:
            server = await self.server_folders()
        except ComfyTuiError:
            server = []
        for name in server:
            key = normalize_folder(name)
            if key not in out and key not in NOT_MODEL_FOLDERS:
                out.append(key)
        return out

    def _model_roots(self) -> list[Path]:
        roots = []
        for raw in [*self.settings.dirs, *self.extra_roots]:
            p = Path(raw).expanduser()
            roots.append(p / "models" if (p / "models").is_dir() and not (p / "checkpoints").is_dir() else p)
        return roots

    async def _server_folder_paths(self) -> dict[str, list[str]]:
        if not self.use_server_paths:
            return {}
        if self._server_paths is None:
            try:
                paths = await self.info.folder_paths()
            except ComfyTuiError:
                return {}
            self._server_paths = paths if self.path_map is None else self._map_server_paths(paths)
        return self._server_paths

    def _map_server_paths(self, paths: dict[str, list[str]]) -> dict[str, list[str]]:
        assert self.path_map is not None
        out: dict[str, list[str]] = {}
        unmapped: list[str] = []
        for key, dirs in paths.items():
            for d in dirs:
                host = map_container_path(d, self.path_map)
                if host is None:
                    if normalize_folder(key) not in NOT_MODEL_FOLDERS:  # custom_nodes is no concern here
                        unmapped.append(d)
                else:
                    out.setdefault(key, []).append(host)
        if unmapped:
            # Read as host paths they could name a different folder here: skipped, and said so.
            shown = ", ".join(sorted(set(unmapped))[:3]) + (" …" if len(set(unmapped)) > 3 else "")
            self.notes.append(
                f"{len(set(unmapped))} server model folder(s) are inside the container and not mounted "
                f"from this machine ({shown}); their files are listed from the server only"
            )
        return out

    async def local_roots(self, folder: str) -> list[Path]:
        """Directories on this machine that hold ``folder``'s files, most authoritative first."""
        folder = normalize_folder(folder)
        dirs: list[Path] = []
        server_paths = await self._server_folder_paths()
        for d in server_paths.get(folder, []):
            dirs.append(Path(d))
        for root in self._model_roots():
            for sub in LOCAL_SUBDIRS.get(folder, (folder,)):
                dirs.append(root / sub)
        return _dedupe(dirs)

    # -- listing --------------------------------------------------------------------------------
    async def list_folder(self, folder: str, *, read_headers: bool = True) -> list[ModelEntry]:
        """One folder's entries (server and local merged). Raises the server's error only when no
        local root exists either (``list`` never raises for the server)."""
        listing = await self.list([folder], read_headers=read_headers)
        if listing.server_exception is not None and not any(listing.roots.values()):
            raise listing.server_exception
        return listing.entries

    async def list(self, folders: Sequence[str] | None = None, *, read_headers: bool = True) -> ModelListing:
        """Entries of ``folders`` (default: ``folders()``), sorted by folder and name.

        When the server cannot be reached, local files are still listed and ``server_error`` says why.
        """
        server_error: ComfyTuiError | None = None
        if folders is None:
            chosen = await self.folders()
        else:
            chosen = []
            for f in folders:
                key = normalize_folder(f)
                if key not in chosen:
                    chosen.append(key)
        entries: list[ModelEntry] = []
        roots: dict[str, list[str]] = {}
        for folder in chosen:
            server_files: list[ServerModelFile] | None = None
            if server_error is None:
                try:
                    server_files = await self.info.list_models(folder)
                except ServerError as exc:
                    if exc.status != 404:  # 404: a folder this server does not know
                        server_error = exc
                except ComfyTuiError as exc:
                    server_error = exc
            local_dirs = await self.local_roots(folder)
            local, existing = await asyncio.to_thread(self._scan, local_dirs)
            roots[folder] = [str(d) for d in existing]
            entries += self._merge(folder, server_files or [], local)
        if read_headers:
            entries = await self.read_local_headers(entries)
        return ModelListing(folders=chosen, entries=sort_entries(entries), roots=roots,
                            server_error=server_error.message if server_error else None, server_exception=server_error,
                            notes=list(self.notes))

    @staticmethod
    def _scan(dirs: list[Path]) -> tuple[dict[str, tuple[Path, os.stat_result]], list[Path]]:
        found: dict[str, tuple[Path, os.stat_result]] = {}
        for d in dirs:
            for rel, st in scan_dir(d).items():
                found.setdefault(rel, (d / rel, st))
        return found, [d for d in dirs if d.is_dir()]

    def _merge(self, folder: str, server_files: list[ServerModelFile],
               local: dict[str, tuple[Path, os.stat_result]]) -> list[ModelEntry]:
        out: list[ModelEntry] = []
        seen: set[str] = set()
        for f in server_files:
            if f.name in seen:
                continue
            seen.add(f.name)
            hit = local.get(f.name)
            size, modified = f.size, f.modified
            if hit is not None:
                size = hit[1].st_size if size is None else size
                modified = hit[1].st_mtime if modified is None else modified
            out.append(self._entry(folder, f.name, size, modified, str(hit[0]) if hit else None, True))
        for rel, (path, st) in local.items():
            if rel not in seen:
                out.append(self._entry(folder, rel, st.st_size, st.st_mtime, str(path), False))
        return out

    def _entry(self, folder: str, name: str, size: int | None, modified: float | None,
               local_path: str | None, on_server: bool) -> ModelEntry:
        entry = ModelEntry(
            folder=folder, name=name, size=size, modified=modified, local_path=local_path,
            is_safetensors=name.lower().endswith((".safetensors", ".sft")), on_server=on_server,
        )
        return replace(entry, flags=compute_flags(entry, self.settings.max_checkpoint_bytes))

    def with_header(self, entry: ModelEntry, result: HeaderResult) -> ModelEntry:
        updated = replace(entry, header=result)
        return replace(updated, flags=compute_flags(updated, self.settings.max_checkpoint_bytes))

    async def read_local_headers(self, entries: Sequence[ModelEntry]) -> list[ModelEntry]:
        """Read the header of every local safetensors entry (a few KB each, in a thread)."""
        limit = self.settings.max_header_bytes

        def work() -> list[ModelEntry]:
            out = []
            for e in entries:
                if e.is_safetensors and e.local_path and e.header is None:
                    e = self.with_header(e, try_read_header(e.local_path, max_header_bytes=limit))
                out.append(e)
            return out

        return await asyncio.to_thread(work)

    async def read_header(self, entry: ModelEntry) -> ModelEntry:
        """``entry`` with its header: from the local file, else the server's ``/view_metadata``."""
        if not entry.is_safetensors:
            return self.with_header(entry, HeaderResult(error="not a safetensors file", source="file"))
        if entry.local_path:
            result = await asyncio.to_thread(try_read_header, entry.local_path,
                                             max_header_bytes=self.settings.max_header_bytes)
            return self.with_header(entry, result)
        try:
            metadata = await self.info.view_metadata(entry.folder, entry.name)
        except ComfyTuiError as exc:
            return self.with_header(entry, HeaderResult(error=exc.message, source="server"))
        result = HeaderResult(
            source="server",
            metadata={str(k): v if isinstance(v, str) else str(v) for k, v in (metadata or {}).items()},
        )
        return self.with_header(entry, result)

    # -- hashing --------------------------------------------------------------------------------
    async def sha256(self, entry: ModelEntry, *, progress: ProgressCallback | None = None,
                     use_cache: bool = True) -> HashResult:
        """sha256 of a local entry (cached by path, size and mtime_ns); InputError when not local."""
        if not entry.local_path:
            raise InputError(f"{entry.path}: no local copy to hash (the server is remote and no local root "
                             "holds it; set [models] dirs)")
        return await sha256_file(entry.local_path, chunk_bytes=self.settings.hash_chunk_bytes, progress=progress,
                                 cache=self.hash_cache if use_cache else None)

    def cached_sha256(self, entry: ModelEntry) -> str | None:
        return self.hash_cache.get(entry.local_path) if entry.local_path else None
