"""Command-line options shared by the headless commands and the top-level parser."""

from __future__ import annotations

import argparse


def add_server_options(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """Options every command that talks to ComfyUI takes, before or after the command name.

    On subcommands the defaults are suppressed, so ``comfytui --url X gpu`` keeps X instead of
    the subcommand's own default overwriting it.
    """
    unset = None if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--url", default=unset, help="ComfyUI URL (default: config, $COMFY_API_URL, http://127.0.0.1:8188)"
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[] if top_level else argparse.SUPPRESS,
        metavar="'NAME: VALUE'",
        help="extra HTTP header for a gateway in front of ComfyUI (e.g. 'Authorization: Bearer ...'); never printed",
    )
    parser.add_argument("--timeout", type=float, default=unset, help="HTTP timeout in seconds")
