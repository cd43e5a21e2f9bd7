"""Keeping a DataTable in step with a keyed list of rows without losing the user's place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from comfytui.tui.widgets.scrolling import BoxNotSizedByContent

MAX_MOVED_IN_PLACE = 50
"""More rows than this added or removed at once and the table is rebuilt instead."""


def inert(value: object) -> object:
    """A DataTable reads a ``str`` cell as markup: job labels and file names come from the server
    and must show as written, so strings become ``Text``."""
    return Text(value, end="") if isinstance(value, str) else value


class RowTable(DataTable):
    """A DataTable whose cursor picks rows, with Home/End as a list has them. DataTable's scroll
    sideways there (to the first/last column, and the tables here show no horizontal scrollbar):
    in a list of jobs, models or processes they mean the first and the last row."""

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]


class SyncedTable(BoxNotSizedByContent, RowTable):
    """A DataTable for ``sync_rows``. Textual measures new rows' column widths when the table is
    idle, after a paint may already have cached those rows at the old widths; its row cache is
    keyed by an update counter, not by the widths, and only a cell update bumps it. ``sync_rows``
    writes only changed cells, so nothing else would bump it: do it when the measuring changed a
    width. When none changed (the common case: a new job's cells fit), the cached rows are right
    and repainting the whole table again would cost as much as the paint that showed the rows."""

    _moving_rows = False

    def refresh(self, *regions: Any, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Any:
        # ``remove_row`` lays the screen out for the size it changes; see BoxNotSizedByContent
        return super().refresh(*regions, repaint=repaint, layout=layout and not self._moving_rows, recompose=recompose)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        widths = [column.content_width for column in self.columns.values()]
        label_width = self._label_column.content_width
        super()._update_dimensions(new_rows)
        if label_width != self._label_column.content_width or widths != [
            column.content_width for column in self.columns.values()
        ]:
            self._update_count += 1
            self.refresh()

    def measure_now(self) -> None:
        """Measure new and grown cells now, as ``DataTable`` does when idle. Done when idle, the
        table paints its rows first and then, once measured, sets its new size: a second layout
        pass and repaint for every batch of new rows. Measured before the paint, one does both.
        Not after a rebuild: measuring a thousand rows would delay the first frame of a filter."""
        if not self.is_mounted or len(self._new_rows) > MAX_MOVED_IN_PLACE:
            return
        if self._updated_cells:
            updated, self._updated_cells = self._updated_cells, set()
            self._update_column_widths(updated)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def place_rows(self, keys: Sequence[str]) -> None:
        """Show the rows in this order (every key a row of the table) without rebuilding them: what
        ``DataTable.sort`` does, by key. A rebuild (``clear`` and ``add_row`` each) measures every
        cell again, which in a 10,000-row History took longer than anything else a new row costs."""
        by_value = {row_key.value: row_key for row_key in self.rows}
        self._row_locations = TwoWayDict({by_value[key]: index for index, key in enumerate(keys)})
        self._update_count += 1
        self.refresh()


def _same(a: object, b: object) -> bool:
    """Cell equality that sees styles: ``Text.__eq__`` compares only the text and spans, so a row
    whose base style changed (a job that started running) would otherwise keep its old look."""
    if isinstance(a, Text) and isinstance(b, Text):
        return (a.plain == b.plain and a.style == b.style and a.spans == b.spans and a.justify == b.justify
                and a.overflow == b.overflow and a.no_wrap == b.no_wrap)
    return type(a) is type(b) and a == b


def _same_row(a: Sequence[object] | None, b: Sequence[object]) -> bool:
    return a is not None and len(a) == len(b) and all(map(_same, a, b))


def _moved_in_place(
    table: DataTable,
    shown: dict[str, tuple[object, ...]] | None,
    current: list[str],
    order: list[str],
    rows: dict[str, Sequence[object]],
    follow_top: bool,
) -> bool:
    """The common change of a newest-first list, new rows on top and a few gone, made without a
    rebuild: the gone rows removed, the new ones added and placed on top. False (nothing done)
    for any other change."""
    if not isinstance(table, SyncedTable) or shown is None or shown.keys() != set(current):
        return False
    wanted = set(order)
    gone = [key for key in current if key not in wanted]
    kept = [key for key in current if key in wanted]
    fresh = order[: len(order) - len(kept)]
    if order[len(fresh) :] != kept or len(gone) > MAX_MOVED_IN_PLACE or len(fresh) > MAX_MOVED_IN_PLACE:
        return False
    selected = selected_key(table)
    at_top = table.cursor_row == 0
    table._moving_rows = True
    try:
        for key in gone:
            table.remove_row(key)
            del shown[key]
    finally:
        table._moving_rows = False
    for key in fresh:
        cells = tuple(rows[key])
        shown[key] = cells
        table.add_row(*(inert(cell) for cell in cells), key=key)
    table.place_rows(order)
    if follow_top and at_top:
        table.move_cursor(row=0, animate=False)
    elif selected in wanted:
        table.move_cursor(row=order.index(selected), animate=False)  # the same row, not the same place
    else:
        table.move_cursor(row=0, animate=False)  # as after a rebuild
    return True


def selected_key(table: DataTable) -> str | None:
    if table.row_count == 0:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


def sync_rows(
    table: DataTable, order: Sequence[str], rows: dict[str, Sequence[object]], *, follow_top: bool = False
) -> None:
    _sync_rows(table, order, rows, follow_top=follow_top)
    if isinstance(table, SyncedTable):
        table.measure_now()


def _sync_rows(
    table: DataTable, order: Sequence[str], rows: dict[str, Sequence[object]], *, follow_top: bool = False
) -> None:
    """Show ``rows`` in ``order``: cells are updated in place when the keys are unchanged, else the
    table is rebuilt and the cursor stays on the row it was on (if that row is still there).

    Only cells whose value changed are written: each ``update_cell`` costs a refresh, and in a
    10,000-row History nearly every row (a finished job) never changes again.

    With ``follow_top``, a cursor left on the first row stays on the first row: in a newest-first
    list the user who has not moved sees each new arrival selected."""
    shown: dict[str, tuple[object, ...]] | None = _shown.get(table)
    current = [str(row.key.value) for row in table.ordered_rows]
    order = list(order)
    if order != current and not _moved_in_place(table, shown, current, order, rows, follow_top):
        selected = selected_key(table)
        at_top = table.cursor_row == 0
        table.clear()
        shown = {}
        for key in order:
            cells = tuple(rows[key])
            shown[key] = cells
            table.add_row(*(inert(cell) for cell in cells), key=key)
        _shown[table] = shown
        if selected in order and not (follow_top and at_top):
            table.move_cursor(row=order.index(selected), animate=False)
        return
    if shown is None or shown.keys() != set(order):
        shown = {}  # the table was filled elsewhere: write every cell once
        _shown[table] = shown
    columns = list(table.columns)
    for key in order:
        cells = tuple(rows[key])
        before = shown.get(key)
        if _same_row(before, cells):
            continue
        if len(cells) != len(columns):
            raise ValueError(f"row {key!r} has {len(cells)} cells for {len(columns)} columns")
        for i, (column, value) in enumerate(zip(columns, cells, strict=True)):
            if before is None or not _same(before[i], value):
                # update_width: a cell that grew in place (outputs recorded after the row first
                # showed) widens its column as a rebuilt table would
                table.update_cell(key, column, inert(value), update_width=True)
        shown[key] = cells


_shown: WeakKeyDictionary[DataTable, dict[str, tuple[object, ...]]] = WeakKeyDictionary()
"""Per table, the cell values last written for each row key."""
