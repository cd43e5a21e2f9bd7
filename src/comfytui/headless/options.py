"""Command-line options shared by the headless commands and the top-level parser."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from comfytui.core.config import Config


class _UrlAction(argparse.Action):
    """``--url`` may be given more than once (an ad-hoc set of servers, docs/FLEET.md): ``url`` keeps
    the last one (what single-server commands use), ``urls`` all of them in order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        urls = list(getattr(namespace, "urls", None) or [])
        urls.append(values)
        namespace.urls = urls
        namespace.url = values


def add_server_options(parser: argparse.ArgumentParser, *, top_level: bool = False, server_option: bool = True) -> None:
    """Options every command that talks to ComfyUI takes, before or after the command name.

    On subcommands the defaults are suppressed, so ``comfytui --url X gpu`` keeps X instead of
    the subcommand's own default overwriting it.
    """
    unset = None if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--url", default=unset, action=_UrlAction,
        help="ComfyUI URL (default: config, $COMFY_API_URL, http://127.0.0.1:8188); "
             "repeat it to spread jobs over several servers (run, daemon)",
    )
    if server_option:
        parser.add_argument(
            "--server", dest="server_name", default=unset, metavar="NAME",
            help="a server named in the config ([servers.NAME]); default: default_server, else the first",
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


def server_urls(args: argparse.Namespace) -> list[str]:
    """Every ``--url`` given, in order, without duplicates or trailing slashes."""
    seen: list[str] = []
    for url in getattr(args, "urls", None) or ([args.url] if getattr(args, "url", None) else []):
        url = url.rstrip("/")
        if url not in seen:
            seen.append(url)
    return seen


def fleet_members(args: argparse.Namespace, config: Config) -> list[tuple[str, Config]]:
    """The servers jobs are spread over: several ``--url``, or the config's ``[servers.*]`` when
    neither ``--url`` nor ``--server`` names one. Fewer than two: the single-server paths."""
    urls = server_urls(args)
    if len(urls) > 1:
        return [(urlsplit(u).netloc or u, config.with_server(url=u)) for u in urls]
    if urls or getattr(args, "server_name", None) or len(config.servers) < 2:
        return []
    return [(p.name, config.select_server(p.name)) for p in config.fleet()]
