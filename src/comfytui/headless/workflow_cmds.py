"""``comfytui workflow convert`` and ``comfytui workflow list``.

- ``workflow convert FILE [--url URL | --object-info FILE] [--set NODE.INPUT=VALUE]... [--out PATH]``
  prints the API-format prompt of an editor-format workflow (or of an API file, or the prompt a
  PNG/WebP embeds) as JSON on stdout; conversion notes go to stderr. ``--check`` also runs the
  preflight (unknown node types, missing models and inputs, bad links) and exits 2 on problems.
- ``workflow list [--json] [--url URL] [--local] [--images N]`` lists the bundled, user and
  server-saved workflows (and output images with an embedded workflow) with format and node count.

Exit codes: 0 ok, 2 bad input (file, workflow, preflight), 3 server unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from comfytui.core.config import Config
from comfytui.core.errors import EXIT_BAD_INPUT, EXIT_OK, InputError


def add_commands(sub: argparse._SubParsersAction) -> None:
    from comfytui.headless.options import add_server_options

    workflow = sub.add_parser(
        "workflow",
        help="convert editor-format workflows to API prompts; list every workflow source",
        description="Workflows: convert the web editor's format to the API format, list all sources.",
    )
    commands = workflow.add_subparsers(dest="workflow_command", metavar="SUBCOMMAND")
    workflow.set_defaults(handler=_missing_subcommand(workflow))

    convert = commands.add_parser(
        "convert",
        help="print the API-format prompt of a workflow (editor JSON, API JSON, PNG/WebP)",
        description=(
            "Convert an editor-format workflow (saved by the web UI with Save) into the API prompt the "
            "official frontend would send. The node definitions come from the server (--url, cached for an "
            "hour) or from a saved /object_info JSON (--object-info). Notes go to stderr."
        ),
    )
    convert.add_argument("file", help="workflow file: editor or API JSON, or a PNG/WebP made by ComfyUI")
    add_server_options(convert)
    convert.add_argument("--object-info", type=Path, metavar="FILE", help="node definitions from a file instead of a server")
    convert.add_argument("--refresh", action="store_true", help="re-read /object_info from the server (ignore the cache)")
    convert.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NODE.INPUT=VALUE",
        help="change an input; NODE is a node id or title (repeatable)",
    )
    convert.add_argument("--check", action="store_true", help="also run the preflight; exit 2 when the server would refuse it")
    convert.add_argument("--out", "-o", type=Path, metavar="PATH", help="write the JSON here instead of stdout")
    convert.add_argument("--compact", action="store_true", help="one-line JSON")
    convert.set_defaults(handler=handle_convert)

    listing = commands.add_parser(
        "list",
        help="list bundled, user and server-saved workflows with format and node count",
        description="List every workflow source: bundled, the folders of [workflows] dirs, the server's saved "
        "workflows and the newest output images that embed one.",
    )
    add_server_options(listing)
    listing.add_argument("--json", action="store_true", help="one JSON array on stdout")
    listing.add_argument("--local", action="store_true", help="only local files: do not ask the server")
    listing.add_argument("--images", type=int, default=12, metavar="N", help="inspect the N newest output images (default 12; 0: none)")
    listing.set_defaults(handler=handle_list)


def _missing_subcommand(parser: argparse.ArgumentParser) -> Any:
    async def handler(_args: argparse.Namespace, _config: Config) -> int:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT

    return handler


def _read_object_info(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the node definitions ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InputError(f"{path}: not a /object_info dump (an object of node definitions)")
    return data


async def handle_convert(args: argparse.Namespace, config: Config) -> int:
    from comfytui.core.workflows.convert import editor_to_api
    from comfytui.core.workflows.load import load_workflow_file
    from comfytui.core.workflows.params import apply_overrides

    if args.object_info and args.url:
        raise InputError("give either --url or --object-info, not both")
    loaded = await asyncio.to_thread(load_workflow_file, Path(args.file))
    needs_server = loaded.prompt is None or args.check or args.overrides
    object_info: dict[str, Any] | None = None
    if args.object_info:
        object_info = await asyncio.to_thread(_read_object_info, args.object_info)
    elif needs_server:
        from comfytui.core.comfy.client import ComfyClient
        from comfytui.core.workflows.prompts import ObjectInfoCache

        async with ComfyClient(config.server) as client:
            object_info = await ObjectInfoCache(config.workflows.object_info_ttl_s).get(client, refresh=args.refresh)
    if loaded.prompt is not None:
        prompt = loaded.prompt  # an API file, or the exact prompt an image's server ran
    else:
        assert loaded.workflow is not None and object_info is not None
        try:
            result = await asyncio.to_thread(editor_to_api, loaded.workflow, object_info)
        except InputError as exc:
            raise InputError(f"{args.file}: {exc}") from None  # the converter does not know the file
        prompt = result.prompt
        for warning in result.warnings:
            print(f"comfytui: note: {warning}", file=sys.stderr)
    if args.overrides:
        prompt = apply_overrides(prompt, args.overrides, object_info)
    if args.check and object_info:
        from comfytui.core.workflows.preflight import describe_problems, preflight

        problems = preflight(prompt, object_info)
        if problems:
            print(f"comfytui: {describe_problems(problems, args.file)}", file=sys.stderr)
            _emit(prompt, args)
            return EXIT_BAD_INPUT
    _emit(prompt, args)
    return EXIT_OK


def _emit(prompt: dict[str, Any], args: argparse.Namespace) -> None:
    text = json.dumps(prompt, ensure_ascii=False, separators=(",", ":")) if args.compact else json.dumps(prompt, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"comfytui: wrote {args.out}", file=sys.stderr)
    else:
        print(text)


def entry_json(entry: Any) -> dict[str, Any]:
    return {
        "name": entry.name,
        "source": entry.source,
        "format": entry.format or None,
        "nodes": entry.nodes,
        "models": list(entry.models),
        "node_types": list(entry.node_types),
        "path": str(entry.path),
        "remote": entry.remote or None,
        "size": entry.size,
        "modified": entry.modified,
        "error": entry.error or None,
    }


async def handle_list(args: argparse.Namespace, config: Config) -> int:
    from comfytui.core.comfy.client import ComfyClient
    from comfytui.core.workflows.sources import list_sources

    async with ComfyClient(config.server) as client:
        entries, notes = await list_sources(
            config, None if args.local else client, images=max(args.images, 0)
        )
    for note in notes:
        print(f"comfytui: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps([entry_json(e) for e in entries], indent=2))
        return EXIT_OK
    rows = [
        (
            e.source,
            e.format or "-",
            "-" if e.nodes is None else str(e.nodes),
            e.name,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(e.modified)) if e.modified else "-",
            ", ".join(e.models) if e.models else (f"unreadable: {e.error}" if e.error else ""),
        )
        for e in entries
    ]
    headers = ("SOURCE", "FORMAT", "NODES", "NAME", "MODIFIED", "NEEDS")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not entries:
        print("comfytui: no workflows found", file=sys.stderr)
    return EXIT_OK
