"""The model browser (``m`` on the dashboard): folders, files, safetensors headers, sha256.

Left, the folders (all, then checkpoints, loras, vae, ... and whatever ``/models`` lists); middle,
the files with size, modified time and flags; right, the highlighted file's details (flags and
warnings, local path, tensor count and dtypes, ``__metadata__``, sha256). Listing runs in a
worker (HTTP plus a walk of the local folders); ``h`` hashes the highlighted file in a thread
with a progress bar while the UI keeps working (``h`` again or Esc cancels); digests are cached
by path, size and mtime, so a file hashed before shows its sha256 at once.

Keys: ``/`` filter (every word, case-insensitive; Enter keeps it, Esc clears it), ``1``/``2``/``3``
sort by name/size/date (again: reverse), ``s`` next sort key, ``v`` reverse, Enter details
(asks ``/view_metadata`` when there is no local copy), ``h`` sha256, ``r`` refresh, Esc back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, get_args

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, OptionList, ProgressBar, Static
from textual.widgets.data_table import CellDoesNotExist
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from comfytui.core.errors import ComfyTuiError
from comfytui.core.lifecycle.hostpaths import server_path_map
from comfytui.core.models.catalog import (
    ModelCatalog,
    ModelEntry,
    ModelListing,
    SortKey,
    filter_entries,
    format_bytes,
    sort_entries,
)
from comfytui.tui.services import Services
from comfytui.tui.widgets.tables import RowTable

SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)
ALL = "__all__"
PROGRESS_EVERY_S = 0.1
FLAG_LABELS = {
    "name_not_checkpoint": "name?",
    "header_not_checkpoint": "not a ckpt",
    "bad_header": "bad header",
    "too_large": "too large",
}


def when(ts: float | None, short: bool = False) -> str:
    if ts is None:
        return "—"
    return time.strftime("%y-%m-%d %H:%M" if short else "%Y-%m-%d %H:%M", time.localtime(ts))


def flags_cell(entry: ModelEntry) -> Text:
    text = Text()
    for i, flag in enumerate(entry.flags):
        if i:
            text.append(", ")
        text.append(FLAG_LABELS.get(flag.kind, flag.kind), style="yellow" if flag.level == "warning" else "cyan")
    return text


def details_text(entry: ModelEntry, sha256: str | None, hashing: bool = False) -> Text:
    """Everything known about one file, for the details pane: what it is first (header, metadata),
    then where it lives and its hash, so a short pane shows what matters most."""
    text = Text()
    text.append(entry.path + "\n", style="bold")
    where = "server+local" if entry.on_server and entry.local_path else ("server" if entry.on_server else "local only")
    text.append(f"{format_bytes(entry.size)} · modified {when(entry.modified)} · {where}\n")
    for flag in entry.flags:
        mark = "!" if flag.level == "warning" else "i"
        text.append(f"{mark} {flag.message}\n", style="yellow" if flag.level == "warning" else "cyan")
    text.append_text(_header_text(entry))
    text.append("sha256: ", style="bold")
    if sha256:
        text.append(sha256 + "\n", style="green")
    elif hashing:
        text.append("hashing…\n", style="dim")
    elif entry.local_path:
        text.append("press h to compute\n", style="dim")
    else:
        text.append("no local copy to hash\n", style="dim")
    text.append("local path: ", style="bold")
    text.append((entry.local_path or "none (no local copy: header from /view_metadata, no hashing)") + "\n",
                style="" if entry.local_path else "dim")
    return text


def _header_text(entry: ModelEntry) -> Text:
    text = Text()
    result = entry.header
    if not entry.is_safetensors:
        text.append("not a safetensors file: no header to show\n", style="dim")
        return text
    if result is None:
        text.append("header: press Enter to read it\n", style="dim")
        return text
    if result.error:
        text.append(f"header: {result.error}\n", style="red")
        return text
    header = result.header
    if header is not None:
        dtypes = ", ".join(f"{k} {v}" for k, v in header.dtypes.items()) or "none"
        text.append("tensors: ", style="bold")
        text.append(f"{header.tensor_count} ({dtypes}), {header.parameter_count:,} parameters\n")
        for warning in header.warnings:
            text.append(f"! {warning}\n", style="yellow")
    else:
        text.append("header from the server's /view_metadata (tensors unknown)\n", style="dim")
    text.append("__metadata__:", style="bold")
    if not result.metadata:
        text.append(" none\n", style="dim")
    else:
        text.append("\n")
        for key, value in sorted(result.metadata.items()):
            shown = value if len(value) <= 300 else value[:297] + "…"
            text.append(f"  {key}: ", style="cyan")
            text.append(shown + "\n")
    return text


MODEL_FOLDER_KEYS = ("checkpoints", "loras", "vae", "text_encoders", "diffusion_models", "controlnet", "upscale_models", "embeddings")


def empty_folders_text(folders: dict[str, list[str]]) -> Text:
    """Where the server looks for models, the common folders first (it has none to show)."""
    text = Text("No model files. The server looks in these folders (put models there, then r):\n\n", style="bold")
    keys = [k for k in MODEL_FOLDER_KEYS if k in folders] + sorted(k for k in folders if k not in MODEL_FOLDER_KEYS)
    for key in keys:
        text.append(f"{key}: ", style="cyan")
        text.append(", ".join(folders[key]) or "—")
        text.append("\n")
    return text


class ModelsScreen(Screen[None]):
    """Browse the server's model files; read headers; hash on demand."""

    DEFAULT_CSS = """
    ModelsScreen #models-status { height: 1; padding: 0 1; background: $boost; }
    ModelsScreen #models-filter { display: none; height: 1; border: none; padding: 0 1; background: $boost; }
    ModelsScreen #models-filter.-open { display: block; }
    ModelsScreen #models-main { height: 1fr; }
    ModelsScreen #models-folders { width: 22; border: round $primary 50%; }
    ModelsScreen #models-right { width: 1fr; }
    ModelsScreen #models-table { height: 1fr; min-height: 5; border: round $primary 50%; }
    ModelsScreen #models-details { height: 45%; min-height: 5; border: round $secondary 60%; padding: 0 1; }
    ModelsScreen #hash-box { height: auto; display: none; padding: 0 1; }
    ModelsScreen #hash-box.-busy { display: block; }
    ModelsScreen #hash-label { width: 1fr; height: 1; }
    ModelsScreen #hash-progress { width: auto; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back", id="models.back", tooltip="Close the filter, cancel hashing, or go back"),
        Binding("slash", "open_filter", "Filter", id="models.filter", tooltip="Filter by words (case-insensitive)"),
        Binding("1", "sort('name')", "Name", id="models.sort_name", tooltip="Sort by name (again: reverse)"),
        Binding("2", "sort('size')", "Size", id="models.sort_size", tooltip="Sort by size (again: reverse)"),
        Binding("3", "sort('date')", "Date", id="models.sort_date", tooltip="Sort by modified date (again: reverse)"),
        Binding("s", "cycle_sort", "Sort", show=False, id="models.sort_next", tooltip="Next sort key"),
        Binding("v", "reverse", "Reverse", show=False, id="models.reverse", tooltip="Reverse the sort order"),
        Binding("h", "hash", "sha256", id="models.hash", tooltip="sha256 of the highlighted file (h again: cancel)"),
        Binding("r", "refresh", "Refresh", id="models.refresh", tooltip="List the folders again"),
    ]

    def __init__(self, services: Services, *, catalog: ModelCatalog | None = None) -> None:
        super().__init__()
        self.services = services
        self._own_catalog = catalog is None
        self.catalog = catalog or ModelCatalog(services.config, path_map=server_path_map(services.config))
        self.listing: ModelListing | None = None
        self.entries: list[ModelEntry] = []
        self.shown: list[ModelEntry] = []
        self.folder: str = ALL
        self.filter_text = ""
        self.sort_by: SortKey = "name"
        self.reverse = False
        self.hashes: dict[str, str] = {}
        """local path -> sha256, from the cache at listing time and from hashing here."""
        self.hashing: ModelEntry | None = None
        self.hash_progress: tuple[int, int] = (0, 0)
        self._hash_worker: Worker[None] | None = None
        self.listing_busy = True
        self.server_folders: dict[str, list[str]] | None = None
        """``/internal/folder_paths``, fetched when there is no model to show: where to put them."""
        self._name_column_width = 40
        self._progress_drawn_at = 0.0

    # -- layout

    def compose(self) -> ComposeResult:
        yield Static("listing models…", id="models-status")
        yield Input(placeholder="filter: every word must match (Enter keeps it, Esc clears it)", id="models-filter")
        with Horizontal(id="models-main"):
            yield OptionList(id="models-folders")
            with Vertical(id="models-right"):
                yield RowTable(id="models-table", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="models-details"):
                    yield Static(Text("no file selected", style="dim"), id="details-text")
        with Horizontal(id="hash-box"):
            yield Static(id="hash-label")
            yield ProgressBar(id="hash-progress", show_eta=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#models-folders").border_title = "Folders"
        self.query_one("#models-details").border_title = "Details"
        table = self.query_one("#models-table", DataTable)
        table.border_title = "Models"
        self._add_columns(table)
        table.focus()
        self.load_listing()

    def _name_width(self, table: DataTable[Any]) -> int:
        # size 9, modified 14, flags about 12, and the cells' padding (2 a column)
        return max(20, (table.content_region.width or 60) - 44)

    def _add_columns(self, table: DataTable[Any]) -> None:
        self._name_column_width = self._name_width(table)
        table.add_column("Name", key="name", width=self._name_column_width)
        table.add_column("Size", key="size", width=9)
        table.add_column("Modified", key="modified", width=14)
        table.add_column("Flags", key="flags")

    def on_resize(self) -> None:
        table = self.query_one("#models-table", DataTable)
        if self._name_width(table) != self._name_column_width:
            table.clear(columns=True)
            self._add_columns(table)
            self._fill_table()

    def on_unmount(self) -> None:
        if self._own_catalog:  # closed by an app worker: awaiting here would hold up the app's teardown
            self.app.run_worker(self.catalog.aclose(), group="models-close", exit_on_error=False,
                                description="closing the model browser's HTTP client")

    # -- listing

    @work(exclusive=True, group="models-list", exit_on_error=False, description="listing models")
    async def load_listing(self) -> None:
        self.listing_busy = True
        self._render_status("listing models…")
        self.catalog.refresh()
        try:
            listing = await self.catalog.list()
        except ComfyTuiError as exc:
            self.listing_busy = False
            self._render_status(f"cannot list models: {exc.message}", error=True)
            return
        catalog = self.catalog

        def cached() -> dict[str, str]:
            out = {}
            for e in listing.entries:
                digest = catalog.cached_sha256(e) if e.local_path else None
                if digest and e.local_path:
                    out[e.local_path] = digest
            return out

        self.hashes.update(await asyncio.to_thread(cached))
        self.listing = listing
        self.entries = listing.entries
        self.listing_busy = False
        self._fill_folders()
        self._fill_table()
        if not self.entries:
            self.load_server_folders()

    @work(exclusive=True, group="models-folder-paths", exit_on_error=False, description="reading the server's model folders")
    async def load_server_folders(self) -> None:
        try:
            self.server_folders = await self.services.session.client.folder_paths()
        except ComfyTuiError as exc:
            self.server_folders = {}
            self._render_status(f"no models, and the server's folders are unknown: {exc.message}", error=True)
            return
        self._render_details()

    def _fill_folders(self) -> None:
        folders = self.query_one("#models-folders", OptionList)
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.folder] = counts.get(e.folder, 0) + 1
        names = list(self.listing.folders if self.listing else [])
        names += sorted(f for f in counts if f not in names)
        folders.clear_options()
        folders.add_option(Option(Text.assemble("all ", (f"{len(self.entries)}", "dim")), id=ALL))
        for name in names:
            n = counts.get(name, 0)
            folders.add_option(Option(Text.assemble(f"{name} ", (str(n), "dim" if n else "dim italic")), id=name))
        if self.folder != ALL and self.folder not in names:
            self.folder = ALL
        index = folders.get_option_index(self.folder)
        with folders.prevent(OptionList.OptionHighlighted):
            folders.highlighted = index

    def _fill_table(self) -> None:
        table = self.query_one("#models-table", DataTable)
        keep = self.selected_entry()
        entries = self.entries if self.folder == ALL else [e for e in self.entries if e.folder == self.folder]
        entries = sort_entries(filter_entries(entries, self.filter_text), self.sort_by, self.reverse)
        self.shown = entries
        table.clear()
        width = self._name_column_width
        for e in entries:
            name = e.path if self.folder == ALL else e.name
            if len(name) > width:
                name = "…" + name[-(width - 1):]
            table.add_row(Text(name), Text(format_bytes(e.size), justify="right"), when(e.modified, short=True), flags_cell(e),
                          key=e.path)
        if keep is not None and any(e.path == keep.path for e in entries):
            table.move_cursor(row=table.get_row_index(keep.path))
        self._render_status()
        self._render_details()

    def _render_status(self, message: str | None = None, error: bool = False) -> None:
        status = self.query_one("#models-status", Static)
        if message is not None:
            status.update(Text(message, style="red" if error else "dim"))
            return
        arrow = "↓" if self.reverse else "↑"
        text = Text()
        text.append(f"{len(self.shown)} of {len(self.entries)} files", style="bold")
        text.append(f" · sort: {self.sort_by} {arrow}")
        if self.filter_text.strip():
            text.append(" · filter: ")
            text.append(self.filter_text.strip(), style="bold cyan")
        if self.listing is not None and self.listing.server_error:
            text.append(f" · server: {self.listing.server_error} (local files only)", style="yellow")
        for note in self.listing.notes if self.listing is not None else ():
            text.append(f" · {note}", style="dim")
        status.update(text)

    # -- details

    def selected_entry(self) -> ModelEntry | None:
        table = self.query_one("#models-table", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None
        return next((e for e in self.shown if e.path == key), None)

    def _render_details(self) -> None:
        entry = self.selected_entry()
        details = self.query_one("#details-text", Static)
        if entry is None:
            if not self.entries and self.server_folders:
                details.update(empty_folders_text(self.server_folders))
                return
            details.update(Text("no file here" if not self.listing_busy else "listing…", style="dim"))
            return
        digest = self.hashes.get(entry.local_path) if entry.local_path else None
        hashing = self.hashing is not None and self.hashing.path == entry.path
        details.update(details_text(entry, digest, hashing))

    @on(DataTable.RowHighlighted, "#models-table")
    def _row_highlighted(self) -> None:
        self._render_details()

    @on(DataTable.RowSelected, "#models-table")
    def _row_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.is_safetensors and entry.header is None:
            self.load_header(entry)
        self._render_details()

    @on(OptionList.OptionHighlighted, "#models-folders")
    def _folder_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        folder = event.option.id or ALL
        if folder != self.folder:
            self.folder = folder
            self._fill_table()

    @work(group="models-header", exit_on_error=False, description="reading a safetensors header")
    async def load_header(self, entry: ModelEntry) -> None:
        updated = await self.catalog.read_header(entry)
        self.entries = [updated if e.path == entry.path else e for e in self.entries]
        self._fill_table()

    # -- filter and sort

    def action_open_filter(self) -> None:
        box = self.query_one("#models-filter", Input)
        box.add_class("-open")
        box.focus()

    def _close_filter(self, clear: bool) -> None:
        box = self.query_one("#models-filter", Input)
        if clear:
            box.value = ""
            self.filter_text = ""
            self._fill_table()
        if not self.filter_text.strip():
            box.remove_class("-open")
        self.query_one("#models-table", DataTable).focus()

    @on(Input.Changed, "#models-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._fill_table()

    @on(Input.Submitted, "#models-filter")
    def _filter_submitted(self) -> None:
        self._close_filter(clear=False)

    def action_sort(self, key: SortKey) -> None:
        if key == self.sort_by:
            self.reverse = not self.reverse
        else:
            self.sort_by, self.reverse = key, False
        self._fill_table()

    def action_cycle_sort(self) -> None:
        self.sort_by = SORT_KEYS[(SORT_KEYS.index(self.sort_by) + 1) % len(SORT_KEYS)]
        self.reverse = False
        self._fill_table()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._fill_table()

    def action_refresh(self) -> None:
        self.load_listing()

    def action_back(self) -> None:
        if self.query_one("#models-filter", Input).has_focus:
            self._close_filter(clear=True)
        elif self.hashing is not None:
            self.cancel_hash()
        else:
            self.app.pop_screen()

    # -- hashing

    def action_hash(self) -> None:
        if self.hashing is not None:
            self.cancel_hash()
            return
        entry = self.selected_entry()
        if entry is None:
            self.notify("no file selected", severity="warning")
            return
        if not entry.local_path:
            self.notify(f"{entry.path}: no local copy to hash (set [models] dirs)", severity="warning", markup=False)
            return
        self.hashing = entry
        self.hash_progress = (0, entry.size or 0)
        box = self.query_one("#hash-box")
        box.add_class("-busy")
        self.query_one("#hash-label", Static).update(Text(f"sha256 {entry.path} (h or Esc: cancel)", style="bold"))
        self.query_one("#hash-progress", ProgressBar).update(total=entry.size or None, progress=0)
        self._render_details()
        self._hash_worker = self.hash_entry(entry)

    def cancel_hash(self) -> None:
        if self._hash_worker is not None:
            self._hash_worker.cancel()

    def _on_hash_progress(self, done: int, total: int) -> None:
        """Progress from the hashing thread (relayed onto the loop); the bar is redrawn at most 10x a second."""
        self.hash_progress = (done, total)
        now = time.monotonic()
        if self.is_mounted and (now - self._progress_drawn_at >= PROGRESS_EVERY_S or done >= total):
            self._progress_drawn_at = now
            self.query_one("#hash-progress", ProgressBar).update(total=total or None, progress=done)

    @work(exclusive=True, group="models-hash", exit_on_error=False, description="sha256 of a model file")
    async def hash_entry(self, entry: ModelEntry) -> None:
        try:
            result = await self.catalog.sha256(entry, progress=self._on_hash_progress)
        except ComfyTuiError as exc:
            self.notify(exc.message, title=f"sha256 of {entry.path} failed", severity="error", markup=False)
            return
        assert entry.local_path is not None
        self.hashes[entry.local_path] = result.sha256
        self.notify(f"sha256 of {entry.path}: {result.sha256[:16]}…" + (" (cached)" if result.cached else ""), markup=False)

    @on(Worker.StateChanged)
    def _hash_worker_changed(self, event: Worker.StateChanged) -> None:
        # cleanup here, not in the worker: a worker cancelled before it ran never reaches a finally
        if event.worker is not self._hash_worker or event.state not in (
            WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED
        ):
            return
        entry = self.hashing
        self.hashing = None
        self._hash_worker = None
        self.query_one("#hash-box").remove_class("-busy")
        self._render_details()
        if event.state == WorkerState.CANCELLED and entry is not None:
            self.notify(f"hashing {entry.path} cancelled", markup=False)
        elif event.state == WorkerState.ERROR:
            self.notify(str(event.worker.error), title="sha256 failed", severity="error", markup=False)
