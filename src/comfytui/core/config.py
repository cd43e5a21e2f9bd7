"""The configuration: one TOML file, environment overrides, and typed sections.

Precedence (highest first): command-line options, environment variables, the TOML file
(``--config PATH``, else ``$COMFYTUI_CONFIG``, else the XDG config path), built-in defaults.

Each section is a frozen dataclass whose field types drive validation: a wrong type, an unknown
key or a value outside its choices is a ``ConfigError`` naming the file, the line and the key.
Secrets (tokens, passwords) are never stored in reprs or printed: use ``token_env`` to read them
from the environment, or ``Secret`` values, whose repr is masked.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from comfytui.core import paths
from comfytui.core.errors import ConfigError
from comfytui.core.redaction import redact


class Secret(str):
    """A string whose repr never shows its value (tokens, passwords)."""

    def __repr__(self) -> str:
        return "Secret('****')" if self else "Secret('')"


@dataclass(frozen=True)
class ServerSettings:
    """How to reach ComfyUI."""

    url: str = "http://127.0.0.1:8188"
    timeout_s: float = 30.0
    """Timeout of one HTTP request (connect and read)."""
    auth: Literal["none", "bearer", "basic", "header"] = "none"
    """Authentication to a gateway in front of ComfyUI (ComfyUI itself has none)."""
    token_env: str = ""
    """Name of the environment variable that holds the bearer token, API key or basic-auth password."""
    username: str = ""
    header_name: str = "X-API-Key"
    """Header that carries the key when ``auth = "header"``."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra request headers (values from ``--header``; never printed)."""
    client_id: str = ""
    """websocket clientId; empty means one is generated and kept in the state dir."""
    poll_interval_s: float = 1.0
    """Polling period when the websocket cannot be had, and for jobs of other clients."""


@dataclass(frozen=True)
class ReconnectSettings:
    """Websocket reconnect backoff: base * 2**attempt, capped, with jitter."""

    max_attempts: int = 0
    """0 means retry for ever (the dashboard); the headless CLI gives up after this many when > 0."""
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0


@dataclass(frozen=True)
class UiSettings:
    """The dashboard."""

    theme: str = "comfytui-dark"
    image_protocol: Literal["auto", "tgp", "sixel", "halfcell", "unicode", "off"] = "auto"
    """Terminal graphics for previews; halfcell is the safe choice inside tmux."""
    preview_max_fps: float = 4.0
    """Live previews are throttled to this rate; the latest frame wins."""
    log_lines: int = 5000
    """Lines kept in the log pane's buffer."""
    history_items: int = 200
    """Finished jobs fetched from the server's history."""


@dataclass(frozen=True)
class ContainerSettings:
    """The managed ComfyUI container (podman)."""

    enabled: bool = True
    socket: str = ""
    """podman API socket (``unix:///run/user/1000/podman/podman.sock``), ``ssh://USER@HOST[:PORT]/PATH``
    or the name of a ``podman system connection``; empty means the usual places."""
    identity: str = ""
    """SSH key for an ssh:// socket (default: ssh's own keys, or the named connection's identity)."""
    ssh_options: list[str] = field(default_factory=list)
    """Extra ``ssh -o`` options for the tunnel to an ssh:// socket (``UserKnownHostsFile=...``)."""
    image: str = "docker.io/yanwk/comfyui-boot"
    tag: str = "cu130-slim-v2"
    name: str = "comfyui"
    host: str = "127.0.0.1"
    """Address the published port binds to. Anything but loopback exposes an unauthenticated server."""
    port: int = 8188
    container_port: int = 8188
    storage: str = ""
    """Host root for the data folders; empty means named volumes."""
    volumes: dict[str, str] = field(default_factory=dict)
    """Per-folder override: folder name (models, output, input, user, custom_nodes) -> host path or volume."""
    mount_custom_nodes: bool = False
    """custom_nodes is only mounted when the user opts in."""
    cli_args: str = ""
    env: dict[str, str] = field(default_factory=dict)
    gpu: Literal["auto", "nvidia", "none"] = "auto"
    gpus: list[str] = field(default_factory=list)
    """Which GPUs the container gets: empty = all; else indices ("1"), UUIDs ("GPU-…") or MIG ("0:1")."""
    restart_policy: Literal["no", "on-failure", "always", "unless-stopped"] = "no"
    network: str = ""
    """Network mode; empty means podman's default (bridge). Tests use ``host``."""
    startup_timeout_s: float = 600.0
    startup_retries: int = 0
    """How many times a failed start (exit or timeout) is retried before giving up."""
    stop_timeout_s: int = 10
    command: list[str] = field(default_factory=list)
    """Override the image's command (empty: the image's entrypoint, which reads CLI_ARGS)."""
    extra_mounts: list[str] = field(default_factory=list)
    """More bind mounts, each ``HOST:CONTAINER[:ro]`` (caches, user scripts, a local ComfyUI tree...)."""
    init: bool = True
    """Run an init (catatonit) as PID 1: signals reach ComfyUI and stop is quick."""


@dataclass(frozen=True)
class ProcessSettings:
    """A bare-metal ComfyUI started by comfytui."""

    comfyui_dir: str = ""
    python: str = ""
    """Python to run main.py with; empty means ``python3``."""
    args: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8188
    base_directory: str = ""
    """Passed as ``--base-directory`` (models/, input/, output/, user/, custom_nodes/); empty: ComfyUI's own."""
    env: dict[str, str] = field(default_factory=dict)
    stop_timeout_s: float = 10.0
    startup_timeout_s: float = 300.0
    startup_retries: int = 0


@dataclass(frozen=True)
class GpuSettings:
    """GPU sampling through NVML."""

    enabled: bool = True
    interval_s: float = 1.0
    history: int = 120
    nvml_retry_s: float = 30.0
    """After a failed nvmlInit (no driver, no permission), try again at most this often."""


@dataclass(frozen=True)
class ModelSettings:
    """The model browser."""

    dirs: list[str] = field(default_factory=list)
    """Extra local model roots (each holding checkpoints/, loras/, ...)."""
    max_checkpoint_bytes: int = 64 * 1024**3
    """Files larger than this get a warning."""
    max_header_bytes: int = 100 * 1024**2
    """A safetensors header declaring more than this is refused without being read."""
    hash_chunk_bytes: int = 4 * 1024**2
    """Read size while hashing."""
    server_paths: Literal["auto", "always", "never"] = "auto"
    """Use the folders /internal/folder_paths names as local roots: auto = when the server URL is loopback."""


@dataclass(frozen=True)
class WorkflowSettings:
    """Where workflows come from."""

    dirs: list[str] = field(default_factory=list)
    object_info_ttl_s: float = 3600.0


@dataclass(frozen=True)
class QueueSettings:
    """comfytui's local queue and its dispatcher (docs/QUEUE.md)."""

    dispatch_depth: int = 1
    """How many of our jobs may wait on the server beyond the running one."""
    heartbeat_s: float = 2.0
    stale_after_s: float = 15.0
    """A dispatcher silent for this long is taken over by the next one."""


@dataclass(frozen=True)
class OutputSettings:
    """Where the dispatcher collects finished jobs' outputs."""

    collect: bool = True
    dir: str = ""
    """Empty: the comfytui data dir's ``outputs``."""
    template: str = "{date}/{label}-{id8}-{n}{ext}"
    """Fields: date, label, id, id8, n, ext, node, filename."""


@dataclass(frozen=True)
class NotifySettings:
    """A command run when a dispatched job ends (e.g. ``notify-send``)."""

    command: list[str] = field(default_factory=list)
    """argv; ``{id}``, ``{label}``, ``{state}`` and ``{duration}`` in it are filled in."""
    on: list[str] = field(default_factory=lambda: ["success", "error", "interrupted"])
    bell: list[str] = field(default_factory=lambda: ["error"])
    """The dashboard rings the terminal bell when a job ends in one of these while you look elsewhere."""
    desktop: list[str] = field(default_factory=lambda: ["error"])
    """... and sends a desktop notification (OSC 9 / OSC 777; through tmux with passthrough)."""


@dataclass(frozen=True)
class ServerProfile:
    """One server of the fleet (docs/FLEET.md): a ``[servers.NAME]`` table, or ``[server]`` as "default".

    ``container`` and ``process`` are the top-level sections with this server's overrides
    applied (``[servers.NAME.container]``: gpus, port, socket...)."""

    name: str
    server: ServerSettings
    backend: Literal["none", "container", "process"] = "none"
    container: ContainerSettings = field(default_factory=ContainerSettings)
    process: ProcessSettings = field(default_factory=ProcessSettings)


DEFAULT_SERVER_NAME = "default"
"""The name of the single server of a config with only ``[server]``."""


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``backend`` picks what comfytui manages: nothing, a container, a process."""

    backend: Literal["none", "container", "process"] = "none"
    server: ServerSettings = field(default_factory=ServerSettings)
    reconnect: ReconnectSettings = field(default_factory=ReconnectSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    container: ContainerSettings = field(default_factory=ContainerSettings)
    process: ProcessSettings = field(default_factory=ProcessSettings)
    gpu: GpuSettings = field(default_factory=GpuSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    workflows: WorkflowSettings = field(default_factory=WorkflowSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    servers: dict[str, ServerProfile] = field(default_factory=dict)
    """``[servers.NAME]`` tables, in file order (empty: the one ``[server]``, named "default")."""
    default_server: str = ""
    """The server used when none is named: ``default_server = "NAME"``, else the first."""
    selected_server: str = DEFAULT_SERVER_NAME
    """The name of the server ``server`` / ``backend`` / ``container`` / ``process`` describe now."""
    source: str = ""
    """The file this was read from (empty for defaults)."""

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def with_server(self, **changes: Any) -> Config:
        return dataclasses.replace(self, server=dataclasses.replace(self.server, **changes))

    def fleet(self) -> list[ServerProfile]:
        """Every configured server, the default first; a single-server config is one named "default"."""
        if not self.servers:
            return [ServerProfile(self.selected_server, self.server, self.backend, self.container, self.process)]
        first = self.default_server or next(iter(self.servers))
        return [self.servers[first], *(p for n, p in self.servers.items() if n != first)]

    def select_server(self, name: str | None = None) -> Config:
        """This config with ``server``, ``backend``, ``container`` and ``process`` taken from the
        server called ``name`` (None: the default). Unknown names are a ``ConfigError``."""
        if not self.servers:
            if name in (None, self.selected_server):
                return self
            raise ConfigError(f"--server {name}: no such server: the config names only {self.selected_server!r}")
        chosen = name or self.default_server or next(iter(self.servers))
        profile = self.servers.get(chosen)
        if profile is None:
            raise ConfigError(f"--server {chosen}: no such server (configured: {', '.join(self.servers)})")
        return dataclasses.replace(self, server=profile.server, backend=profile.backend, container=profile.container,
                                   process=profile.process, selected_server=profile.name)


# Environment overrides: variable -> (section, key). Names follow the seed integration.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "COMFY_API_URL": ("server", "url"),
    "COMFY_TIMEOUT": ("server", "timeout_s"),
    "COMFY_RECONNECT_MAX_ATTEMPTS": ("reconnect", "max_attempts"),
    "COMFY_RECONNECT_BASE_DELAY_S": ("reconnect", "base_delay_s"),
    "COMFY_RECONNECT_MAX_DELAY_S": ("reconnect", "max_delay_s"),
    "COMFYTUI_BACKEND": ("", "backend"),
    "COMFYTUI_PODMAN_SOCKET": ("container", "socket"),
}


def _locate(text: str, section: str, key: str) -> int:
    """Best-effort 1-based line of ``key`` inside ``[section]`` (tomllib gives no value positions)."""
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([^\]]+?)\s*\]", stripped)
        if header:
            current = header.group(1)
            continue
        if current == section and re.match(rf"^\"?{re.escape(key)}\"?\s*=", stripped):
            return number
        if current == section and not section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return 0


class _Where:
    def __init__(self, source: str, text: str) -> None:
        self.source, self.text = source, text

    def error(self, section: str, key: str, what: str) -> ConfigError:
        name = f"{section}.{key}" if section else key
        line = _locate(self.text, section, key) if self.text else 0
        place = f"{self.source}:{line}" if line else self.source
        return ConfigError(f"{place}: {name}: {what}")


def _coerce(value: Any, hint: Any, where: _Where, section: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise where.error(section, key, f"{value!r} is not one of {choices}")
        return value
    if origin in (typing.Union, types.UnionType):
        return _coerce(value, next(a for a in args if a is not type(None)), where, section, key)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise where.error(section, key, f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise where.error(section, key, f"expected an integer, got {value!r}")
        try:
            return int(value) if isinstance(value, str) else _exact(value, int)
        except (TypeError, ValueError):
            raise where.error(section, key, f"expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise where.error(section, key, f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise where.error(section, key, f"expected a number, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str):
            raise where.error(section, key, f"expected a string, got {value!r}")
        return value
    if origin is list:
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list):
            raise where.error(section, key, f"expected a list, got {value!r}")
        return [_coerce(v, args[0], where, section, key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise where.error(section, key, f"expected a table, got {value!r}")
        return {str(k): _coerce(v, args[1], where, section, key) for k, v in value.items()}
    return value


def _exact(value: Any, kind: type) -> Any:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError
    if not isinstance(value, int | float):
        raise TypeError
    return kind(value)


def _build_section(cls: type, table: dict[str, Any], where: _Where, section: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in names:
            known = ", ".join(sorted(names))
            raise where.error(section, key, f"unknown setting (known: {known})")
        values[key] = _coerce(value, hints[key], where, section, key)
    _check_ranges(values, where, section)
    return cls(**values)


POSITIVE_SETTINGS = {("gpu", "interval_s"), ("server", "timeout_s"), ("server", "poll_interval_s"), ("gpu", "nvml_retry_s")}
"""Periods where 0 would mean a busy loop (or no time at all): they must be > 0."""


def _check_ranges(values: dict[str, Any], where: _Where, section: str) -> None:
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise where.error(section, key, f"must be a finite number, got {value!r}")
        if (section, key) in POSITIVE_SETTINGS and isinstance(value, int | float) and value == 0:
            raise where.error(section, key, f"must be greater than 0, got {value!r}")
        if key == "url" and isinstance(value, str):
            scheme = value.split("://", 1)[0].lower() if "://" in value else ""
            if scheme not in ("http", "https"):
                raise where.error(section, key, f"{redact(value)!r} is not an http:// or https:// URL")
        if (key.endswith("_s") or key in ("port", "container_port", "log_lines", "history", "max_attempts")) and isinstance(
            value, int | float
        ):
            if value < 0:
                raise where.error(section, key, f"must not be negative, got {value!r}")
            if key.endswith("port") and not 0 < value < 65536:
                raise where.error(section, key, f"is not a TCP port: {value!r}")


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config) if dataclasses.is_dataclass(hints[f.name])}


def parse_config(text: str, source: str = "<config>") -> Config:
    """Build a Config from TOML text; every error names ``source`` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (3.12) puts the position in the text: "... (at line 3, column 7)" -> file:3:7.
        found = re.search(r"^(.*) \(at line (\d+), column (\d+)\)$", str(exc))
        if found:
            raise ConfigError(f"{source}:{found.group(2)}:{found.group(3)}: {found.group(1)}") from None
        raise ConfigError(f"{source}: {exc}") from None
    where = _Where(source, text)
    sections = _sections()
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in sections:
            if not isinstance(value, dict):
                raise where.error("", key, f"expected a [{key}] table")
            kwargs[key] = _build_section(sections[key], value, where, key)
        elif key == "backend":
            kwargs[key] = _coerce(value, typing.get_type_hints(Config)["backend"], where, "", key)
        elif key in ("servers", "default_server"):
            continue  # after the loop: they build on [server], [container] and [process]
        else:
            known = ", ".join(["backend", "default_server", "servers", *sections])
            raise where.error("", key, f"unknown setting or section (known: {known})")
    config = Config(source=source, **kwargs)
    if "servers" in data or "default_server" in data:
        config = _with_servers(config, data, where)
    return config


_PROFILE_KEYS = {"backend", "container", "process"}


def _with_servers(config: Config, data: dict[str, Any], where: _Where) -> Config:
    """Read ``[servers.NAME]`` tables and ``default_server``; select the default server."""
    tables = data.get("servers", {})
    if not isinstance(tables, dict):
        raise where.error("", "servers", "expected [servers.NAME] tables")
    profiles: dict[str, ServerProfile] = {}
    if "server" in data:  # today's [server] stays a server of the fleet, named "default"
        profiles[DEFAULT_SERVER_NAME] = ServerProfile(DEFAULT_SERVER_NAME, config.server, config.backend,
                                                      config.container, config.process)
    for name, table in tables.items():
        section = f"servers.{name}"
        if not isinstance(table, dict):
            raise where.error("servers", name, f"expected a [{section}] table")
        server_keys = {k: v for k, v in table.items() if k not in _PROFILE_KEYS}
        server = _build_section(ServerSettings, server_keys, where, section)
        if not server_keys.get("url"):
            raise where.error(section, "url", "every [servers.NAME] needs its url")
        backend = config.backend if "backend" not in table else _coerce(
            table["backend"], typing.get_type_hints(Config)["backend"], where, section, "backend")
        parts: dict[str, Any] = {}
        for part, base in (("container", config.container), ("process", config.process)):
            overrides = table.get(part, {})
            if not isinstance(overrides, dict):
                raise where.error(section, part, f"expected a [{section}.{part}] table")
            built = _build_section(type(base), overrides, where, f"{section}.{part}")
            parts[part] = dataclasses.replace(base, **{k: getattr(built, k) for k in overrides})
        profiles[str(name)] = ServerProfile(str(name), server, backend, parts["container"], parts["process"])
    default = data.get("default_server", "")
    if not isinstance(default, str):
        raise where.error("", "default_server", f"expected a server name, got {default!r}")
    if default and default not in profiles:
        raise where.error("", "default_server", f"{default!r} is not a server (configured: {', '.join(profiles) or 'none'})")
    config = dataclasses.replace(config, servers=profiles, default_server=default)
    return config.select_server(None) if profiles else config


def apply_env(config: Config, environ: typing.Mapping[str, str]) -> Config:
    """Apply the environment overrides in ``ENV_OVERRIDES``."""
    where = _Where("environment", "")
    sections = _sections()
    hints = typing.get_type_hints(Config)
    for var, (section, key) in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        raw = environ[var]
        if not section:
            value = _coerce(raw, hints[key], _Where(f"${var}", ""), "", key)
            config = dataclasses.replace(config, **{key: value})
            continue
        cls = sections[section]
        try:
            value = _coerce(raw, typing.get_type_hints(cls)[key], where, section, key)
            _check_ranges({key: value}, where, section)
        except ConfigError as exc:
            raise ConfigError(f"${var}: {exc.message.split(': ', 1)[1]}") from None
        current = getattr(config, section)
        config = dataclasses.replace(config, **{section: dataclasses.replace(current, **{key: value})})
    return config


def load_config(path: str | os.PathLike[str] | None = None, environ: typing.Mapping[str, str] | None = None) -> Config:
    """Load the config file (if any) and apply environment overrides.

    An explicitly named file that does not exist is an error; the default path may be absent.
    """
    environ = os.environ if environ is None else environ
    explicit = path is not None or bool(environ.get("COMFYTUI_CONFIG"))
    chosen = Path(path or environ.get("COMFYTUI_CONFIG") or paths.config_file())
    if chosen.exists():
        try:
            text = chosen.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{chosen}: cannot read the config file: {exc}") from None
        config = parse_config(text, str(chosen))
    elif explicit:
        raise ConfigError(f"{chosen}: the config file does not exist")
    else:
        config = Config()
    return apply_env(config, environ)


def secret_from_env(settings: ServerSettings, environ: typing.Mapping[str, str] | None = None) -> Secret:
    """The gateway secret named by ``token_env`` ('' when unset)."""
    environ = os.environ if environ is None else environ
    return Secret(environ.get(settings.token_env, "")) if settings.token_env else Secret("")


def redact_url(url: str) -> str:
    """Hide the secrets a URL carries (user-info, token query parameters): ``redaction.redact``."""
    return redact(url)


def is_loopback_url(url: str) -> bool:
    """True for 127.0.0.0/8, ::1, localhost (and *.localhost)."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    except ValueError:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
