"""The customer list: type to filter, sort by any column, Enter opens a customer."""

from __future__ import annotations

import gc
import logging
import time
from datetime import UTC, datetime
from functools import cached_property

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Input, ProgressBar, Static

from hubtui.core.customer_index import COLUMNS, Column, CustomerIndex
from hubtui.services.customer_list import CustomerListService
from hubtui.tui.format import age
from hubtui.tui.screens.base import HubScreen
from hubtui.tui.text import printable
from hubtui.tui.widgets.customer_table import CustomerTable, column_widths, header_text

log = logging.getLogger(__name__)

FIRST_PAGE = 120


class FilterBox(Input):
    """The filter; the list's movement keys keep working while you type (like fzf)."""

    BINDINGS = [
        Binding("up", "screen.table('cursor_up')", "Up", show=False, id="customers.filter_up"),
        Binding("down", "screen.table('cursor_down')", "Down", show=False, id="customers.filter_down"),
        Binding("pageup", "screen.table('page_up')", "Page up", show=False, id="customers.filter_page_up"),
        Binding("pagedown", "screen.table('page_down')", "Page down", show=False,
                id="customers.filter_page_down"),
    ]


class CustomerListScreen(HubScreen):
    BINDINGS = [
        # priority: the filter box must not swallow these (Input binds ctrl+d itself).
        Binding("ctrl+s", "next_sort", "Sort", priority=True, id="customers.sort"),
        Binding("ctrl+r", "reverse_sort", "Reverse", priority=True, id="customers.reverse"),
        Binding("ctrl+d", "toggle_discrepancies", "Only discrepancies", priority=True,
                id="customers.only_discrepancies"),
        Binding("f5", "reload", "Reload", id="customers.reload"),
        Binding("f6", "check_all", "Check all", id="customers.check_all"),
        Binding("slash", "focus_filter", "Filter", show=False, id="customers.focus_filter"),
        Binding("escape", "escape", "Clear filter / go to list", show=False, id="customers.escape"),
        Binding("tab", "focus_table", "Go to list", show=False, id="customers.focus_table"),
    ]

    DEFAULT_CSS = """
    CustomerListScreen #filter { margin: 0 0; border: tall $accent 40%; }
    CustomerListScreen #filter:focus { border: tall $accent; }
    CustomerListScreen #columns { height: 1; text-style: bold; background: $boost; }
    CustomerListScreen #filter { height: 3; }
    CustomerListScreen #status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    CustomerListScreen #checking { height: 1; display: none; padding: 0 1; }
    CustomerListScreen #checking.running { display: block; }
    CustomerListScreen #check-label { width: auto; margin-right: 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.index = CustomerIndex([])
        self.sort_column = Column.NAME
        self.descending = False
        self.only_discrepancies = False
        self.loaded = False
        self.last_checked: datetime | None = None

    def compose(self) -> ComposeResult:
        labels = self.hub.labels
        yield self.safety_bar()
        # select_on_focus=False: a letter typed on the list moves here and must not be selected (and then
        # replaced by the next letter).
        box = FilterBox(placeholder=labels("filter_placeholder"), id="filter", select_on_focus=False)
        # A blinking cursor repaints twice a second while nobody types: lag over SSH (HUBTUI_CURSOR_BLINK).
        box.cursor_blink = self.hub.settings.hubtui_cursor_blink
        yield box
        yield Static(id="columns")
        yield CustomerTable(id="table")
        with Horizontal(id="checking"):
            yield Static(id="check-label")
            yield ProgressBar(id="check-progress", show_eta=False)
        yield Static(labels("loading"), id="status")
        yield Footer()

    @cached_property
    def customers(self) -> CustomerListService:
        return self.hub.services.customer_list

    @property
    def table(self) -> CustomerTable:
        return self.query_one(CustomerTable)

    @property
    def filter_box(self) -> FilterBox:
        return self.query_one(FilterBox)

    def on_mount(self) -> None:
        self.title = self.hub.labels("customers")
        self.filter_box.focus()
        self.load_customers()

    def on_resize(self) -> None:
        self._draw_header()

    @work(exclusive=True, group="load-customers", exit_on_error=False)
    async def load_customers(self) -> None:
        started = time.perf_counter()
        if not self.loaded:
            # Draw the first screenful at once; at 100k customers the whole index takes a moment longer.
            self.index = await self.customers.index(first=FIRST_PAGE)
            self.apply_view()
        self.index = await self.customers.index()
        # The index lives as long as the screen: keep its ~300,000 objects out of the garbage collector's
        # rounds, which otherwise stall a keystroke now and then. (It holds no cycles, so a replaced index is
        # still freed by reference counting.)
        gc.freeze()
        self.last_checked = await self.customers.last_checked()
        self.loaded = True
        log.info("loaded %d customers in %.0f ms", len(self.index), (time.perf_counter() - started) * 1000)
        self.apply_view()
        settings = self.hub.settings
        if settings.auto_check_consistency and settings.remote_configured and not self.hub.services.fleet_checked \
                and len(self.index):
            self.action_check_all()

    def apply_view(self) -> None:
        positions = self.index.view(
            self.filter_box.value,
            sort=self.sort_column,
            descending=self.descending,
            only_discrepancies=self.only_discrepancies,
        )
        self.table.show(self.index, positions)
        self._draw_header()
        self._draw_status()

    def _draw_header(self) -> None:
        labels = self.hub.labels
        width = self.table.scrollable_content_region.width or self.size.width
        names = {column: labels(f"column_{column.value}") for column in COLUMNS}
        arrow = " ↓" if self.descending else " ↑"
        names[self.sort_column] = names[self.sort_column] + arrow
        self.query_one("#columns", Static).update(Text(header_text(column_widths(width), names)))

    def _draw_status(self) -> None:
        labels = self.hub.labels
        if not self.loaded:
            self.query_one("#status", Static).update(Text(labels("loading")))
            return
        shown, total = len(self.table.positions), len(self.index)
        if total == 0:
            self.query_one("#status", Static).update(Text(labels("no_customers")))
            return
        parts = [labels("shown_of", shown=f"{shown:,}", total=f"{total:,}")]
        if shown == 0 and total:
            parts = [labels("no_match"), *parts]
        parts.append(labels("sorted_by", column=labels(self.sort_column.value)))
        if self.only_discrepancies:
            parts.append(labels("only_discrepancies"))
        checked = age(self.last_checked) if self.last_checked else labels("never")
        parts.append(labels("checked_age", age=checked))
        self.query_one("#status", Static).update(Text(" · ".join(parts)))

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self.apply_view()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.table.action_open()

    @on(CustomerTable.TypedText)
    def _typed_on_list(self, event: CustomerTable.TypedText) -> None:
        box = self.filter_box
        box.focus()
        box.insert_text_at_cursor(event.character)

    @on(CustomerTable.Opened)
    def _open_customer(self, event: CustomerTable.Opened) -> None:
        self.hub.open_customer(event.customer_id)

    def action_check_all(self) -> None:
        self.check_all()

    @work(exclusive=True, group="fleet-check", exit_on_error=False)
    async def check_all(self) -> None:
        box = self.query_one("#checking")
        label = self.query_one("#check-label", Static)
        bar = self.query_one("#check-progress", ProgressBar)

        def progress(what: str, done: int, total: int | None) -> None:
            label.update(Text(f"Checking consistency: {what}"))
            bar.update(total=total, progress=done)

        box.add_class("running")
        try:
            result = await self.hub.services.check_fleet(progress)
        finally:
            box.remove_class("running")
        self.hub.services.fleet_checked = True
        if not (result.systems_available["vtiger"] or result.systems_available["economic"]):
            # Nothing was compared: the stored counts stay, and so does their age.
            reasons = "; ".join(result.unavailable_reasons.values())
            self.notify(printable(f"The consistency check could not run: {reasons}"), severity="error",
                        markup=False)
            return
        # Only customers compared with every system they are linked to got a new count; the rest kept theirs.
        self.index.set_discrepancies(
            {check.customer_id: check.comparison.discrepancy_count for check in result.customers if check.compared}
        )
        summary = result.summary
        if summary["compared"]:
            self.last_checked = datetime.now(UTC)
        self.apply_view()
        message = (f"Checked {summary['checked']:,} customers in {summary['seconds']:.1f} s: "
                   f"{summary['with_discrepancies']:,} with discrepancies")
        if result.incomplete:
            message += (f"; {summary['kept']:,} not compared with every system kept their count. "
                        + " ".join(f"{text}." for text in result.incomplete.values()))
            # Long enough to read which system and page failed.
            self.notify(printable(message), title="Check incomplete", severity="error", timeout=30, markup=False)
            return
        note = "; ".join(f"{s} unavailable: {r}" for s, r in result.unavailable_reasons.items())
        message += f". {note}" if note else ""
        self.notify(printable(message), severity="warning" if note else "information", markup=False)

    def update_count(self, customer_id: int, discrepancies: int) -> None:
        self.index.set_discrepancies({customer_id: discrepancies})
        self.table.refresh()

    def action_table(self, action: str) -> None:
        getattr(self.table, f"action_{action}")()

    def action_focus_filter(self) -> None:
        self.filter_box.focus()

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_escape(self) -> None:
        if self.filter_box.value:
            self.filter_box.value = ""
        elif self.filter_box.has_focus:
            self.table.focus()

    def action_next_sort(self) -> None:
        self.sort_column = COLUMNS[(COLUMNS.index(self.sort_column) + 1) % len(COLUMNS)]
        self.descending = False
        self.apply_view()

    def sort_by(self, column: Column) -> None:
        self.descending = self.sort_column == column and not self.descending
        self.sort_column = column
        self.apply_view()

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending
        self.apply_view()

    def action_toggle_discrepancies(self) -> None:
        self.only_discrepancies = not self.only_discrepancies
        self.apply_view()

    def action_reload(self) -> None:
        self.load_customers()
