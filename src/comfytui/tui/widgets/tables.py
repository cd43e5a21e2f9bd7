"""Keeping a DataTable in step with a keyed list of rows without losing the user's place."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable


def inert(value: object) -> object:
    """A DataTable reads a ``str`` cell as markup: job labels and file names come from the server
    and must show as written, so strings become ``Text``."""
    return Text(value, end="") if isinstance(value, str) else value


def selected_key(table: DataTable) -> str | None:
    if table.row_count == 0:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


def sync_rows(
    table: DataTable, order: Sequence[str], rows: dict[str, Sequence[object]], *, follow_top: bool = False
) -> None:
    """Show ``rows`` in ``order``: cells are updated in place when the keys are unchanged, else the
    table is rebuilt and the cursor stays on the row it was on (if that row is still there).

    With ``follow_top``, a cursor left on the first row stays on the first row: in a newest-first
    list the user who has not moved sees each new arrival selected."""
    current = [str(k.value) for k in table.rows]
    if list(order) != current:
        selected = selected_key(table)
        at_top = table.cursor_row == 0
        table.clear()
        for key in order:
            table.add_row(*(inert(cell) for cell in rows[key]), key=key)
        if selected in order and not (follow_top and at_top):
            table.move_cursor(row=list(order).index(selected), animate=False)
        return
    for key in order:
        for column, value in zip(table.columns, rows[key], strict=True):
            table.update_cell(key, column, inert(value))
