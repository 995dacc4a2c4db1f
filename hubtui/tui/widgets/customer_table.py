"""The customer list: a line-API widget that draws only the visible rows of a CustomerIndex view.

Textual's DataTable keeps every row as renderables (15 s and 143 MB for 100k customers); this widget
keeps a list of row positions and builds a Strip per visible line on demand.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.cells import cell_len
from rich.segment import Segment
from textual.binding import Binding
from textual.events import Click, Key
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hubtui.core.customer_index import COLUMNS, Column, CustomerIndex
from hubtui.tui.text import fit, printable

# Fixed widths for the narrow columns, each wide enough for its label and the sort arrow ("e-conomic ↓");
# the name column takes what is left.
_WIDTHS: dict[Column, int] = {
    Column.CVR: 10,
    Column.CITY: 16,
    Column.VTIGER_ID: 9,
    Column.ECONOMIC_NUMBER: 11,
    Column.DISCREPANCIES: 7,
}
_GAP = " "
_RIGHT_ALIGNED = {Column.ECONOMIC_NUMBER, Column.DISCREPANCIES}


def column_widths(total: int) -> dict[Column, int]:
    fixed = sum(_WIDTHS.values()) + len(_GAP) * (len(COLUMNS) - 1)
    return {Column.NAME: max(12, total - fixed), **_WIDTHS}


def _cell(text: str, width: int, right: bool) -> str:
    padding = width - cell_len(text)
    return " " * padding + text if right and padding > 0 else fit(text, width)


def render_cells(cells: dict[Column, str], widths: dict[Column, int]) -> str:
    return _GAP.join(
        _cell(printable(cells[column]), widths[column], column in _RIGHT_ALIGNED) for column in COLUMNS
    )


class CustomerTable(ScrollView, can_focus=True):
    """Rows of customers; the cursor is a position within the current view."""

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False, id="customers.cursor_up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="customers.cursor_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="customers.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="customers.page_down"),
        Binding("home", "first", "First", show=False, id="customers.first"),
        Binding("end", "last", "Last", show=False, id="customers.last"),
        Binding("enter", "open", "Open", id="customers.open"),
    ]

    COMPONENT_CLASSES = {"customer-table--cursor", "customer-table--row", "customer-table--warn"}

    DEFAULT_CSS = """
    CustomerTable { height: 1fr; overflow-x: hidden; }
    CustomerTable > .customer-table--cursor { background: $accent; color: $text; text-style: bold; }
    CustomerTable:blur > .customer-table--cursor { background: $accent 60%; }
    CustomerTable > .customer-table--warn { color: $warning; }
    """

    # repaint=False: a move repaints the two rows it changes (watch_cursor), not every row on screen.
    cursor: reactive[int] = reactive(0, repaint=False)

    class Opened(Message):
        def __init__(self, customer_id: int) -> None:
            super().__init__()
            self.customer_id = customer_id

    class TypedText(Message):
        """A printable key pressed on the list: the screen moves it to the filter box."""

        def __init__(self, character: str) -> None:
            super().__init__()
            self.character = character

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.index = CustomerIndex([])
        self.positions: list[int] = []
        self.on_cursor_moved: Callable[[], None] | None = None

    def show(self, index: CustomerIndex, positions: list[int]) -> None:
        """Display `positions` of `index`; keep the cursor on the same customer when it is still shown."""
        current = self.current_customer_id()
        self.index = index
        self.positions = positions
        self.virtual_size = Size(self.size.width, len(positions))
        new_cursor = 0
        if current is not None and len(positions) < 5000:
            # Cheap enough for small views; on a huge view the cursor simply returns to the top.
            ids = index.ids
            new_cursor = next((n for n, p in enumerate(positions) if ids[p] == current), 0)
        self.cursor = new_cursor
        self._scroll_to_cursor()
        self.refresh()

    def current_customer_id(self) -> int | None:
        if not self.positions or self.cursor >= len(self.positions):
            return None
        return self.index.ids[self.positions[self.cursor]]

    def render_line(self, y: int) -> Strip:
        scroll_y = self.scroll_offset.y
        line = scroll_y + y
        width = self.scrollable_content_region.width
        if line >= len(self.positions):
            return Strip.blank(width, self.rich_style)
        position = self.positions[line]
        text = render_cells(self.index.cells(position), column_widths(width))
        if line == self.cursor:
            style = self.get_component_rich_style("customer-table--cursor")
        elif self.index.discrepancies[position] > 0:
            style = self.rich_style + self.get_component_rich_style("customer-table--warn")
        else:
            style = self.rich_style
        return Strip([Segment(fit(text, width), style)], width)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.positions))

    def watch_cursor(self, old: int, new: int) -> None:
        top = self.scroll_offset.y
        for line in (old, new):
            # A row off screen is drawn when the list scrolls to it; refreshing it now would repaint
            # whatever the screen shows there (the status line).
            if top <= line < top + self.size.height:
                self.refresh_line(line)
        if self.on_cursor_moved is not None:
            self.on_cursor_moved()

    def _move(self, to: int) -> None:
        if not self.positions:
            return
        self.cursor = max(0, min(len(self.positions) - 1, to))
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        top = self.scroll_offset.y
        height = max(1, self.size.height)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_page_up(self) -> None:
        self._move(self.cursor - max(1, self.size.height - 1))

    def action_page_down(self) -> None:
        self._move(self.cursor + max(1, self.size.height - 1))

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self.positions) - 1)

    def action_open(self) -> None:
        customer_id = self.current_customer_id()
        if customer_id is not None:
            self.post_message(self.Opened(customer_id))

    def on_click(self, event: Click) -> None:
        self._move(self.scroll_offset.y + event.y)
        if event.chain == 2:
            self.action_open()

    def on_key(self, event: Key) -> None:
        # j, k and / are keys of the list itself; any other letter starts filtering.
        if event.is_printable and event.character and event.character not in "jk/":
            event.stop()
            self.post_message(self.TypedText(event.character))


def header_text(widths: dict[Column, int], labels: dict[Column, str]) -> str:
    return render_cells(labels, widths)

