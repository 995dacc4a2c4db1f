"""Customer hourly rates: list, and edit with Enter. Customers without a rate use TIMETRACKING_DEFAULT_RATE."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from hubtui.services.rates import RateRefused, checked_rate
from hubtui.tui.screens.base import HubScreen
from hubtui.tui.screens.dialogs import Ask
from hubtui.tui.text import printable


def parse_rate(text: str) -> str:
    """A rate as typed ("850", "925,50"), or "" to use the default; ValueError with a message otherwise (the
    service's rule: what the column can hold), so a bad value never leaves the dialog."""
    cleaned = text.strip().replace(" ", "").replace(",", ".")
    if not cleaned:
        return ""
    try:
        rate = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"'{text.strip()[:20]}' is not an amount, e.g. 850 or 925,50") from None
    return str(checked_rate(rate))


class RatesScreen(HubScreen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="rates.back")]
    DEFAULT_CSS = """
    RatesScreen #hint { height: 1; padding: 0 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield self.safety_bar()
        settings = self.hub.settings
        yield Static(Text(f"Enter edits a rate; empty = the default {settings.timetracking_default_rate} "
                          f"{settings.timetracking_currency}/h (TIMETRACKING_DEFAULT_RATE)"), id="hint")
        table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Hourly rates"
        table = self.query_one(DataTable)
        for heading, width in (("Customer", 34), ("Rate/h", 16), ("Pending", 8), ("Approved, no order", 18),
                               ("e-conomic", 10)):
            table.add_column(Text(heading), width=width)
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        currency = self.hub.settings.timetracking_currency
        for customer in await self.hub.services.rates.rates():
            rate = (Text(f"{customer.hourly_rate} {currency}") if customer.hourly_rate is not None
                    else Text(f"{self.hub.settings.timetracking_default_rate} (default)", "dim"))
            table.add_row(Text(printable(customer.name)), rate, Text(str(customer.pending)),
                          Text(str(customer.approved)), Text(str(customer.economic_customer_number or "—")),
                          key=str(customer.id))
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    @on(DataTable.RowSelected)
    def _edit(self, event: DataTable.RowSelected) -> None:
        customer_id = int(str(event.row_key.value))
        current = self.query_one(DataTable).get_row(event.row_key)[1].plain.split(" ")[0]

        def answered(text: str | None) -> None:
            if text is not None:
                self.save(customer_id, Decimal(text) if text else None)

        self.app.push_screen(Ask("Hourly rate (DKK), empty for the default", current, parse_rate), answered)

    @work(exclusive=True, group="save-rate", exit_on_error=False)
    async def save(self, customer_id: int, rate: Decimal | None) -> None:
        try:
            await self.hub.services.rates.set_rate(customer_id, rate)
        except RateRefused as error:
            self.notify(printable(f"Rate not saved: {error}"), severity="error", markup=False, timeout=10)
        else:
            self.notify("Rate saved", markup=False)
        self.load()
