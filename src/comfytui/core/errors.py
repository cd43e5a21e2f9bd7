"""Typed errors of the UI-free core.

Every error a user can cause or meet carries a message meant to be shown as is: it names the
thing at fault (file and position, node and input, URL) and, where there is one, the fix.
The headless CLI maps them to exit codes through ``exit_code``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from comfytui.core.redaction import redact

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


class ComfyTuiError(Exception):
    """Base of every error comfytui reports to a user."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        message = redact(message)  # every error reaches a user: never with a secret in it
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ComfyTuiError):
    """The configuration file or an environment override is wrong; comfytui does not start on a guess."""


class InputError(ComfyTuiError):
    """A file, workflow or argument given by the user is unusable."""


class SourcePositionError(InputError):
    """A parse error in a file, with its 1-based line and column."""

    def __init__(self, path: str, line: int, column: int, what: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {what}")
        self.path, self.line, self.column, self.what = path, line, column, what


class ServerUnreachable(ComfyTuiError):
    """The ComfyUI server refused the connection, timed out, or the name did not resolve."""

    exit_code = EXIT_UNREACHABLE


class ServerError(ComfyTuiError):
    """The server answered with an unexpected status (a 500 with a plain-text body, a 404...)."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, message: str, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status, self.body = status, body


@dataclass(frozen=True)
class NodeInputError:
    """One reason the server (or our preflight) gave for refusing one node's input."""

    node_id: str
    class_type: str
    kind: str
    message: str
    input_name: str | None = None
    details: str = ""
    title: str | None = None

    def describe(self) -> str:
        who = f"node {self.node_id} ({self.title or self.class_type})"
        where = f", input '{self.input_name}'" if self.input_name else ""
        extra = f": {self.details}" if self.details and self.details != self.input_name else ""
        return f"{who}{where}: {self.message}{extra}"


@dataclass
class PromptRejected(ComfyTuiError):
    """HTTP 400 from ``POST /prompt``: the prompt failed validation and was never queued."""

    error_type: str
    error_message: str
    errors: list[NodeInputError] = field(default_factory=list)
    details: str = ""
    exit_code = EXIT_BAD_INPUT

    def __post_init__(self) -> None:
        lines = [f"the server refused the prompt: {self.error_message}"]
        if self.details and not self.errors:
            lines[0] += f" ({self.details})"
        lines += [f"  - {e.describe()}" for e in self.errors]
        super().__init__("\n".join(lines))

    def __str__(self) -> str:
        return self.message


class LifecycleError(ComfyTuiError):
    """Starting, stopping or inspecting the managed ComfyUI (container or process) failed."""

    exit_code = EXIT_UNREACHABLE
