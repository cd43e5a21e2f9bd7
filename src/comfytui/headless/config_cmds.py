"""``comfytui config path|init|show``: where the config lives, a commented starter, what is in force.

``path`` and ``init`` work even when the current file is broken (that is when they are needed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import tomli_w

from comfytui.core import paths
from comfytui.core.config import Config, load_config, redact_url
from comfytui.core.config_template import starter_config_text
from comfytui.core.errors import EXIT_BAD_INPUT, EXIT_OK


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    config = subparsers.add_parser("config", help="where the config file lives; write a commented starter")
    verbs = config.add_subparsers(dest="config_verb", metavar="VERB", required=True)
    path = verbs.add_parser("path", help="print the config file comfytui reads (and whether it exists)")
    path.add_argument("--json", action="store_true")
    init = verbs.add_parser("init", help="write a commented starter config at that path")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    show = verbs.add_parser("show", help="the settings in force (file + environment + options), secrets hidden")
    show.add_argument("--json", action="store_true")
    config.set_defaults(handler=config_handler, loads_config=False)


def config_path(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str] | None = None) -> tuple[Path, str]:
    """The file comfytui reads, and why that one: ``--config``, ``$COMFYTUI_CONFIG`` or the default."""
    environ = os.environ if environ is None else environ
    if getattr(args, "config", None):
        return Path(args.config).expanduser(), "--config"
    if environ.get("COMFYTUI_CONFIG"):
        return Path(environ["COMFYTUI_CONFIG"]).expanduser(), "$COMFYTUI_CONFIG"
    return paths.config_file(), "$COMFYTUI_HOME" if environ.get("COMFYTUI_HOME") else "default (XDG)"


def _shown(config: Config) -> dict:
    data = dataclasses.asdict(config)
    data.pop("source", None)
    server = data["server"]
    server["url"] = redact_url(server["url"])
    server["headers"] = {name: "****" for name in server["headers"]}  # header values are secrets
    for section in ("container", "process"):
        data[section]["env"] = {k: "****" for k in data[section]["env"]}
    return data


async def config_handler(args: argparse.Namespace, config: Config | None) -> int:
    path, why = config_path(args)
    if args.config_verb == "path":
        if args.json:
            print(json.dumps({"path": str(path), "exists": path.exists(), "chosen_by": why}))
        else:
            print(path)
            if not path.exists():
                print(f"comfytui: {path} does not exist yet: `comfytui config init` writes a commented starter",
                      file=sys.stderr)
        return EXIT_OK
    if args.config_verb == "init":
        if path.exists() and not args.force:
            print(f"comfytui: {path} exists already; `comfytui config init --force` replaces it", file=sys.stderr)
            return EXIT_BAD_INPUT
        paths.write_private(path, starter_config_text(str(path)))
        print(path)
        print(f"comfytui: wrote a commented starter config to {path}", file=sys.stderr)
        return EXIT_OK
    # show: the file must parse here, so errors name its line
    shown = _shown(config if config is not None else load_config(args.config))
    if args.json:
        print(json.dumps(shown, indent=2))
    else:
        print(tomli_w.dumps({k: v for k, v in shown.items() if v is not None}), end="")
    return EXIT_OK

