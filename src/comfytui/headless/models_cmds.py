"""``comfytui models``: the server's model files merged with local copies; sizes, flags, hashes.

``--hash`` prints the sha256 of every file with a local copy (same digest as ``sha256sum``);
digests are cached by (path, size, mtime_ns), so a second run reads nothing and says
``hash_cached: true``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from comfytui.core.config import Config
from comfytui.core.errors import EXIT_OK, ComfyTuiError, InputError
from comfytui.core.lifecycle.hostpaths import server_path_map
from comfytui.core.models.catalog import (
    ModelCatalog,
    ModelEntry,
    filter_entries,
    format_bytes,
    normalize_folder,
    sort_entries,
)
from comfytui.headless.options import add_server_options


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="list model files with sizes, flags and (on demand) sha256")
    add_server_options(models)
    models.add_argument("--type", "-t", action="append", metavar="FOLDER", dest="types",
                        help="model folder: checkpoints, loras, vae, text_encoders (clip), diffusion_models (unet), "
                             "controlnet, upscale_models, embeddings, ... (repeatable; default: all)")
    models.add_argument("--filter", "-f", metavar="TEXT", default="",
                        help="only names containing every word of TEXT (case-insensitive)")
    models.add_argument("--sort", choices=("name", "size", "date"), default="name")
    models.add_argument("--reverse", "-r", action="store_true", help="reverse the sort order")
    models.add_argument("--hash", action="store_true", help="sha256 of each local file (cached)")
    models.add_argument("--metadata", action="store_true",
                        help="show safetensors headers; for files without a local copy, ask /view_metadata")
    models.add_argument("--dir", action="append", default=[], metavar="DIR",
                        help="extra local models directory (or ComfyUI directory) to read headers and hash from")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(handler=models_handler)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c) for c in headers], *[["-" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts is not None else "-"


class _Progress:
    """A one-line progress report on stderr while hashing (only on a terminal)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done < total):
            return
        self.last = now
        pct = 100.0 * done / total if total else 100.0
        print(f"\r\x1b[2Khashing {self.label}: {pct:5.1f}% of {format_bytes(total)}", end="", file=sys.stderr,
              flush=True)

    def finish(self) -> None:
        if self.enabled:
            print("\r\x1b[2K", end="", file=sys.stderr, flush=True)


async def models_handler(args: argparse.Namespace, config: Config) -> int:
    async with ModelCatalog(config, extra_roots=args.dir, path_map=server_path_map(config)) as catalog:
        if args.types:
            await _check_types(catalog, args.types)
        listing = await catalog.list(args.types or None)
        if listing.server_exception is not None and not any(listing.roots.values()):
            raise listing.server_exception
        entries = sort_entries(filter_entries(listing.entries, args.filter), args.sort, args.reverse)
        if args.metadata:
            entries = [await catalog.read_header(e) if e.header is None and e.is_safetensors else e for e in entries]
        hashes: dict[int, dict[str, Any]] = {}
        if args.hash:
            for i, entry in enumerate(entries):
                hashes[i] = await _hash(catalog, entry)
    if listing.server_error:
        print(f"comfytui: warning: {listing.server_error}; listing local files only", file=sys.stderr)
    for note in listing.notes:
        print(f"comfytui: note: {note}", file=sys.stderr)
    if args.json:
        models = []
        for i, entry in enumerate(entries):
            item = entry.to_dict()
            if args.hash:
                item.update(hashes[i])
            models.append(item)
        print(json.dumps({
            "server": config.server.url,
            "server_error": listing.server_error,
            "folders": listing.folders,
            "roots": listing.roots,
            "models": models,
        }, indent=2))
        return EXIT_OK
    print("\n".join(format_listing(entries, hashes if args.hash else None, args.metadata)))
    return EXIT_OK


async def _check_types(catalog: ModelCatalog, types: Sequence[str]) -> None:
    """``--type`` names a folder the server or a local models root knows, else exit 2 (a typo
    would otherwise print "No model files." and exit 0)."""
    known = await catalog.folders()
    for name in types:
        key = normalize_folder(name)
        if key in known or any(d.is_dir() for d in await catalog.local_roots(key)):
            continue
        try:
            await catalog.server_folders()
            asked = ""
        except ComfyTuiError:
            asked = " (the server could not be asked for its folders)"
        raise InputError(f"models --type: unknown model folder '{name}'{asked}; known folders: {', '.join(known)}")


async def _hash(catalog: ModelCatalog, entry: ModelEntry) -> dict[str, Any]:
    if not entry.local_path:
        return {"sha256": None, "hash_cached": False,
                "hash_error": "no local copy (the server is remote and no local root holds it; see --dir)"}
    progress = _Progress(entry.path)
    try:
        result = await catalog.sha256(entry, progress=progress)
    except ComfyTuiError as exc:
        return {"sha256": None, "hash_cached": False, "hash_error": exc.message}
    finally:
        progress.finish()
    return {"sha256": result.sha256, "hash_cached": result.cached, "hash_error": None}


def format_listing(entries: Sequence[ModelEntry], hashes: dict[int, dict[str, Any]] | None,
                   metadata: bool) -> list[str]:
    if not entries:
        return ["No model files."]
    headers = ["FOLDER", "NAME", "SIZE", "MODIFIED", "WHERE"]
    if hashes is not None:
        headers += ["SHA256", "CACHED"]
    rows = []
    for i, e in enumerate(entries):
        where = "server+local" if e.on_server and e.local_path else ("server" if e.on_server else "local")
        row: list[Any] = [e.folder, e.name, format_bytes(e.size), _when(e.modified), where]
        if hashes is not None:
            h = hashes.get(i, {})
            row += [h.get("sha256") or "-", "yes" if h.get("hash_cached") else "no"]
        rows.append(row)
    table = _table(headers, rows)
    lines = [table[0]]
    for i, e in enumerate(entries):
        lines.append(table[i + 1])
        for flag in e.flags:
            lines.append(f"    {'!' if flag.level == 'warning' else 'i'} {flag.message}")
        if hashes is not None and hashes.get(i, {}).get("hash_error"):
            lines.append(f"    ! sha256: {hashes[i]['hash_error']}")
        if metadata and e.header is not None:
            lines += _header_lines(e)
    return lines


def _header_lines(e: ModelEntry) -> list[str]:
    result = e.header
    assert result is not None
    if result.header is not None:
        h = result.header
        dtypes = ", ".join(f"{k} {v}" for k, v in h.dtypes.items())
        out = [f"    header: {h.tensor_count} tensors ({dtypes}), {h.parameter_count:,} parameters"]
    elif result.error is None:
        out = [f"    metadata from the server ({len(result.metadata)} keys)"]
    else:
        out = []
    for key, value in sorted(result.metadata.items()):
        text = value if len(value) <= 100 else value[:97] + "..."
        out.append(f"      {key}: {text}")
    return out
