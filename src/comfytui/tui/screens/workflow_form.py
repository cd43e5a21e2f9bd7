"""The parameter form: edit a workflow's inputs, check them, queue a batch, save a copy.

``WorkflowFormScreen(services, entry)`` loads the entry through ``core.workflows.form`` (which
converts editor-format graphs with the server's cached ``/object_info``), shows the editable inputs grouped by node title with typed
widgets (numbers with their ranges, combos with the server's choices: the installed models for
loader inputs, multi-line text areas for prompts), flags bad values inline as they are typed, and
on submit runs the preflight (unknown node types, missing models, missing inputs, incompatible
links) before queueing ``count`` jobs whose seeds follow the seed mode.

Keys: Tab / Shift+Tab move between fields (Enter in a one-line field goes to the next one);
F10 or Ctrl+Enter queues (Enter on the Queue button too); Ctrl+S saves a copy; Esc closes.
Outside a text field, ``r`` queues the values on screen and ``R`` queues them at the front; ``q``
asks before dropping edits. The dashboard's keys are off here (``ComfyTuiApp.check_action``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static, TextArea

from comfytui.core.errors import ComfyTuiError, NodeInputError, PromptRejected
from comfytui.core.workflows.form import (
    FormData,
    apply_edits,
    field_limits,
    format_number,
    is_edit,
    load_form,
    parse_value,
)
from comfytui.core.workflows.library import WorkflowEntry
from comfytui.core.workflows.params import SEED_MODES, Param
from comfytui.core.workflows.preflight import model_folder, preflight
from comfytui.tui.services import Services, refuse_if_readonly


def parse_field(param: Param, raw: Any, choices: tuple[Any, ...] | None = None) -> tuple[Any, str | None]:
    """``parse_value`` for a widget's value (a blank Select means nothing chosen)."""
    return parse_value(param, None if raw is Select.NULL else raw, choices)


@dataclass
class Field:
    """One editable input in the form."""

    index: int
    param: Param
    choices: tuple[Any, ...] | None = None

    @property
    def widget_id(self) -> str:
        return f"field-{self.index}"

    @property
    def error_id(self) -> str:
        return f"field-error-{self.index}"


class SaveAsScreen(ModalScreen[str | None]):
    """Ask for the new file's name; Enter saves, Esc cancels."""

    DEFAULT_CSS = """
    SaveAsScreen { align: center middle; }
    SaveAsScreen > Vertical { width: 72; height: auto; border: thick $accent; background: $panel; padding: 1 2; }
    SaveAsScreen #save-hint { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, suggestion: str, where: str) -> None:
        super().__init__()
        self.suggestion = suggestion
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Save the edited workflow as a new file ({self.where})")
            yield Input(self.suggestion, id="save-name")
            yield Static("Enter = save · Esc = cancel", id="save-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class WorkflowFormScreen(Screen[None]):
    DEFAULT_CSS = """
    WorkflowFormScreen { layout: vertical; }
    WorkflowFormScreen #form-title { height: auto; padding: 0 1; background: $boost; }
    WorkflowFormScreen #form-body { height: 1fr; border: round $primary 60%; padding: 0 1; }
    WorkflowFormScreen #form-body:focus-within { border: round $accent; }
    WorkflowFormScreen .node-title { margin-top: 1; color: $accent; }
    WorkflowFormScreen .field-input:focus { background: $boost; }
    WorkflowFormScreen .field-row { height: auto; }
    WorkflowFormScreen .field-row { margin-bottom: 0; }
    WorkflowFormScreen .field-label { width: 22; }
    WorkflowFormScreen .field-row Input, WorkflowFormScreen .field-row Select { width: 1fr; }
    WorkflowFormScreen .field-row TextArea { width: 1fr; height: 5; }
    WorkflowFormScreen .field-row Checkbox { width: 1fr; }
    WorkflowFormScreen .field-hint { width: 26; padding-left: 1; color: $text-muted; }
    WorkflowFormScreen .field-error { color: $error; padding-left: 22; height: auto; }
    WorkflowFormScreen .field-error.-empty { display: none; }
    WorkflowFormScreen #batch-row { height: auto; border: round $primary 60%; padding: 0 1; }
    WorkflowFormScreen #batch-row Label { padding: 0 1 0 1; }
    WorkflowFormScreen #batch-row Checkbox { margin-left: 2; }
    WorkflowFormScreen #count { width: 10; }
    WorkflowFormScreen #seed-mode { width: 18; }
    WorkflowFormScreen #batch-name { width: 1fr; }
    WorkflowFormScreen #problems { height: auto; max-height: 10; color: $error; padding: 0 1; }
    WorkflowFormScreen #problems.-empty { display: none; }
    WorkflowFormScreen #buttons { height: auto; align-horizontal: right; }
    WorkflowFormScreen #buttons Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="form.close"),
        Binding("f10,ctrl+enter", "submit", "Queue", id="form.submit", tooltip="Check and queue the batch"),
        Binding("ctrl+s", "save", "Save as…", id="form.save", tooltip="Save the edited workflow as a new file"),
        Binding("r", "submit", "Queue", show=False, id="form.run", tooltip="Queue the values on screen (outside a text field)"),
        Binding("R", "submit(True)", "Queue at front", show=False, id="form.run_front", tooltip="Queue them ahead of pending jobs"),
    ]
    HELP_TITLE = "Workflow form"

    def __init__(self, services: Services, entry: WorkflowEntry) -> None:
        super().__init__()
        self.services = services
        self.entry = entry
        self.data: FormData | None = None
        """The loaded workflow (None while loading or when it cannot be opened)."""
        self.fields: list[Field] = []
        self.problems: list[NodeInputError] = []
        self.ready = False
        self.busy = False
        self.queued: list[str] = []
        """Prompt ids of the jobs the last submit queued."""
        self.saved_to = ""

    # -- layout

    def compose(self) -> ComposeResult:
        yield Static(self._title_text(), id="form-title")
        with VerticalScroll(id="form-body"):
            yield Static("loading the workflow…", id="form-status")
        with Horizontal(id="batch-row"):
            yield Label("count")
            yield Input("1", id="count", type="integer", tooltip="How many jobs to queue", compact=True)
            yield Label("seed mode")
            yield Select([(m, m) for m in SEED_MODES], value="fixed", allow_blank=False, id="seed-mode", compact=True)
            yield Checkbox("at the front", id="front", tooltip="Queue ahead of pending jobs", compact=True)
            yield Label("batch")
            yield Input(placeholder="batch name (optional)", id="batch-name", compact=True)
        yield Static("", id="problems", classes="-empty")
        with Horizontal(id="buttons"):
            yield Button(Text("Queue (F10)"), id="submit", variant="primary")
            yield Button(Text("Save as… (Ctrl+S)"), id="save")
            yield Button(Text("Close (Esc)"), id="close")
        yield Footer()

    def _title_text(self) -> Text:
        text = Text()
        text.append(self.entry.name, style="bold")  # Text: a file name is never markup
        text.append(f"  {self.entry.source}", style="dim")
        if self.data is not None:
            text.append(f" · {self.data.loaded.format}", style="dim")
            text.append(f" · {len(self.data.base_prompt)} nodes · {len(self.fields)} inputs", style="dim")
        return text

    def on_mount(self) -> None:
        self.load()

    # -- loading

    @work(exclusive=True, group="form-load", exit_on_error=False, description="loading a workflow")
    async def load(self) -> None:
        status = self.query_one("#form-status", Static)
        try:
            data = await load_form(
                self.entry, self.services.session.client, object_info_ttl_s=self.services.config.workflows.object_info_ttl_s
            )
        except ComfyTuiError as exc:
            status.update(Text(f"cannot open {self.entry.name}:\n{exc}", style="bold red"))
            self.notify(str(exc), title=f"cannot open {self.entry.name}", severity="error", timeout=12, markup=False)
            return
        self.data = data
        self.fields = [Field(i, p, data.choices_for(p)) for i, p in enumerate(data.params)]
        await status.remove()
        body = self.query_one("#form-body", VerticalScroll)
        await body.mount_all(self._field_widgets())
        if not self.fields:
            await body.mount(Static("this workflow has no literal inputs to edit", classes="node-title"))
        self.query_one("#form-title", Static).update(self._title_text())
        self.ready = True
        for warning in data.warnings:
            self.notify(warning, severity="warning", timeout=8, markup=False)
        self.query_one("#batch-name", Input).placeholder = f"default: {self.entry.name} ×N HH:MM:SS"
        for field in self.fields:  # flag what is already wrong (a model that is not installed)
            self._validate_field(field)
        self._show_problems(preflight(data.base_prompt, data.object_info, data.models_by_folder), quiet=True)
        first = next(iter(self.query(".field-input")), None)
        (first or self.query_one("#count", Input)).focus()

    def _field_widgets(self) -> Iterable[Widget]:
        title = None
        for field in self.fields:
            param = field.param
            if param.node_id != title:
                title = param.node_id
                heading = Text(f"{param.title}  ", style="bold")
                heading.append(f"#{param.node_id} {param.class_type}", style="dim")
                yield Static(heading, classes="node-title")
            yield Horizontal(
                Label(Text(param.input_name), classes="field-label"),
                self._input_widget(field),
                Static(Text(self._hint(field)), classes="field-hint"),
                classes="field-row",
            )
            yield Static("", id=field.error_id, classes="field-error -empty")

    def _input_widget(self, field: Field) -> Widget:
        param, wid = field.param, field.widget_id
        tip = f"{param.title} · {param.input_name}"
        if param.kind == "COMBO":
            choices = field.choices or ()
            options: list[tuple[str | Text, Any]] = [(Text(str(c)), c) for c in choices]  # model names are not markup
            if param.value not in choices:
                options.insert(0, (Text(f"{param.value} (not available)", style="red"), param.value))
            return Select(options, value=param.value, allow_blank=False, id=wid, classes="field-input", tooltip=tip, compact=True)
        if param.kind == "BOOLEAN":
            return Checkbox(param.input_name, bool(param.value), id=wid, classes="field-input", tooltip=tip, compact=True)
        if param.kind == "STRING" and (param.multiline or "\n" in str(param.value)):
            return TextArea(str(param.value), id=wid, classes="field-input", tooltip=tip, compact=True)
        kind = {"INT": "integer", "FLOAT": "number"}.get(param.kind, "text")
        return Input(_fmt_value(param.value), id=wid, type=kind, classes="field-input", tooltip=tip, compact=True)  # type: ignore[arg-type]

    def _hint(self, field: Field) -> str:
        param = field.param
        if param.kind in ("INT", "FLOAT"):
            lo, hi = field_limits(param)
            parts = [f"{format_number(lo) if lo is not None else '…'}–{format_number(hi) if hi is not None else '…'}"]
            if param.control_after_generate:
                parts.append("seed")
            return " ".join(parts)
        if param.kind == "COMBO":
            folder = model_folder(param.class_type, param.input_name)
            n = len(field.choices or ())
            return f"{n} {folder}" if folder else f"{n} choices"
        return ""

    # -- values and inline validation

    def _field_by_widget(self, widget: Widget) -> Field | None:
        if widget.id and widget.id.startswith("field-") and widget.id[6:].isdigit():
            index = int(widget.id[6:])
            return self.fields[index] if index < len(self.fields) else None
        return None

    def _raw(self, field: Field) -> Any:
        widget = self.query_one(f"#{field.widget_id}")
        if isinstance(widget, Select):
            return widget.value
        if isinstance(widget, Checkbox):
            return widget.value
        if isinstance(widget, TextArea):
            return widget.text
        assert isinstance(widget, Input)
        return widget.value

    def _validate_field(self, field: Field) -> tuple[Any, str | None]:
        value, error = parse_field(field.param, self._raw(field), field.choices)
        label = self.query_one(f"#{field.error_id}", Static)
        label.update(Text(f"⚠ {error}") if error else "")
        label.set_class(not error, "-empty")
        return value, error

    def field_errors(self) -> dict[str, str]:
        """``{"<title>.<input>": message}`` for every field that is wrong now."""
        found: dict[str, str] = {}
        for field in self.fields:
            _value, error = self._validate_field(field)
            if error:
                found[f"{field.param.title}.{field.param.input_name}"] = error
        return found

    @on(Input.Changed)
    @on(Select.Changed)
    @on(TextArea.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event: Any) -> None:
        widget = getattr(event, "control", None) or getattr(event, "text_area", None)
        field = self._field_by_widget(widget) if widget is not None else None
        if field is not None and self.ready:
            self._validate_field(field)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def edits(self) -> dict[str, dict[str, Any]]:
        """``{node id: {input: value}}`` of the fields whose value differs from the workflow's."""
        changed: dict[str, dict[str, Any]] = {}
        for field in self.fields:
            value, _error = parse_field(field.param, self._raw(field), field.choices)
            if is_edit(field.param, value):
                changed.setdefault(field.param.node_id, {})[field.param.input_name] = value
        return changed

    def edited_prompt(self) -> dict[str, Any]:
        assert self.data is not None
        return apply_edits(self.data.base_prompt, self.edits())

    def _show_problems(self, problems: list[NodeInputError], header: str = "", quiet: bool = False) -> None:
        self.problems = problems
        widget = self.query_one("#problems", Static)
        widget.set_class(not problems, "-empty")
        if not problems:
            widget.update("")
            return
        text = Text()
        text.append((header or "cannot queue: the workflow cannot run on this server") + "\n", style="bold")
        for problem in problems:
            text.append(f"  • {problem.describe()}\n")
        widget.update(text)
        if not quiet:
            self.notify(
                "\n".join(p.describe() for p in problems[:6]), title=header or "cannot queue", severity="error", timeout=12, markup=False
            )

    # -- actions

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        elif event.button.id == "save":
            self.action_save()
        elif event.button.id == "close":
            self.action_close()

    def action_close(self) -> None:
        self.dismiss(None)

    def has_unsaved_edits(self) -> bool:
        """True when a field or the batch settings differ from what the form opened with (and the
        edits were neither queued nor saved): ``q`` then asks before quitting."""
        if not self.ready or self.queued or self.saved_to:
            return False
        batch_changed = (
            self.query_one("#count", Input).value.strip() != "1"
            or self.query_one("#seed-mode", Select).value != "fixed"
            or bool(self.query_one("#front", Checkbox).value)
            or bool(self.query_one("#batch-name", Input).value.strip())
        )
        return batch_changed or bool(self.edits())

    def _batch_settings(self) -> tuple[int, str, bool, str] | None:
        raw = self.query_one("#count", Input).value.strip()
        try:
            count = int(raw)
        except ValueError:
            count = 0
        if not 1 <= count <= 1000:
            self.notify(f"count must be a whole number from 1 to 1000 (got '{raw}')", severity="error")
            self.query_one("#count", Input).focus()
            return None
        mode = self.query_one("#seed-mode", Select).value
        front = self.query_one("#front", Checkbox).value
        name = self.query_one("#batch-name", Input).value
        return count, str(mode), bool(front), name

    def action_submit(self, front: bool | None = None) -> None:
        """Queue the values on screen; ``front`` (from ``R``) overrides the "at the front" box."""
        if not self.ready or self.busy:
            self.notify("the workflow is still loading" if not self.ready else "already queueing", severity="warning")
            return
        if refuse_if_readonly(self.services, self):
            return
        errors = self.field_errors()
        if errors:
            lines = [f"{where}: {msg}" for where, msg in errors.items()]
            self.notify(
                "\n".join(lines[:6]), title=f"fix {len(errors)} field(s) before queueing", severity="error", timeout=10, markup=False
            )
            bad = next(f for f in self.fields if f"{f.param.title}.{f.param.input_name}" in errors)
            self.query_one(f"#{bad.widget_id}").focus()
            return
        settings = self._batch_settings()
        if settings is None:
            return
        if front is not None:
            settings = (settings[0], settings[1], front, settings[3])
        assert self.data is not None
        prompt = self.edited_prompt()
        problems = preflight(prompt, self.data.object_info, self.data.models_by_folder)
        self._show_problems(problems)
        if problems:
            return
        self.busy = True
        self.submit_batch(prompt, *settings)

    @work(exclusive=True, group="form-submit", exit_on_error=False, description="queueing a batch")
    async def submit_batch(self, prompt: dict[str, Any], count: int, mode: str, front: bool, name: str) -> None:
        from comfytui.core.queue.submit import submit_batch
        from comfytui.core.workflows.sources import editor_with_values

        assert self.data is not None
        data = self.data
        label = self.entry.name
        queued: list[str] = []
        try:
            workflow = None
            if data.loaded.workflow is not None:
                workflow, _notes = editor_with_values(data.loaded.workflow, self.edits(), data.object_info)
            try:
                submitted = await submit_batch(
                    self.services.session, prompt, count=count, seed_mode=mode, object_info=data.object_info,
                    front=front, label=label, batch=name, workflow=workflow,
                    on_queued=lambda job, _label: queued.append(job.prompt_id),
                )
            except PromptRejected as exc:
                header = f"the server refused the prompt: {exc.error_message}"
                if queued:
                    header += f" ({len(queued)} of {count} jobs were queued)"
                self._show_problems(list(exc.errors) or [], header)
                if not exc.errors:
                    self.notify(str(exc), title="the server refused the prompt", severity="error", timeout=12, markup=False)
                return
            except ComfyTuiError as exc:
                self.notify(str(exc), title=f"cannot queue {label}", severity="error", timeout=12, markup=False)
                return
            self.queued = submitted.prompt_ids
            what = f"{count} jobs" if count > 1 else "1 job"
            extra = f" as batch '{submitted.batch}'" if submitted.batch else ""
            self.app.notify(f"queued {what} of {label}{extra}" + (" at the front" if front else ""), markup=False)
            self.dismiss(None)
        finally:
            self.busy = False

    def action_save(self) -> None:
        if not self.ready or self.data is None:
            self.notify("the workflow is still loading", severity="warning")
            return
        bad = {k: v for k, v in self.field_errors().items() if v.startswith(("not ", "enter "))}
        if bad:
            self.notify("\n".join(f"{k}: {v}" for k, v in bad.items()), title="cannot save", severity="error", markup=False)
            return
        from pathlib import PurePosixPath

        name = PurePosixPath(self.entry.name)
        suggestion = name.with_name(f"{name.stem}-edited.json")
        if self.entry.source == "server":  # keep the folder under the server's workflows/
            where = "in the server's workflows folder"
        else:
            suggestion = PurePosixPath(suggestion.name)
            where = "next to the original" if self.entry.source == "user" else "in your workflows folder"
        self.app.push_screen(SaveAsScreen(str(suggestion), where), self._save_named)

    def _save_named(self, name: str | None) -> None:
        if name:
            self.save_as(name)

    @work(exclusive=True, group="form-save", exit_on_error=False, description="saving a workflow")
    async def save_as(self, name: str) -> None:
        from comfytui.core.workflows.sources import save_workflow

        assert self.data is not None
        try:
            where, notes = await save_workflow(
                self.entry,
                self.data.loaded,
                self.edited_prompt(),
                self.edits(),
                self.data.object_info,
                name,
                config=self.services.config,
                client=self.services.session.client,
            )
        except ComfyTuiError as exc:
            self.notify(str(exc), title="cannot save", severity="error", timeout=10, markup=False)
            return
        self.saved_to = where
        for note in notes:
            self.notify(note, severity="warning", markup=False)
        self.notify(f"saved {where}", markup=False)


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else f"{value:.1f}"
    return str(value)
