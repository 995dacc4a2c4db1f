"""One customer's hub record (the three-system diff grows from here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from hubtui.store.customers import get_customer
from hubtui.store.models import Customer
from hubtui.tui.text import literal
from hubtui.tui.widgets.safety_bar import SafetyBar

if TYPE_CHECKING:
    from hubtui.tui.app import HubApp

HUB_FIELDS = (
    "name", "cvr_number", "address", "postal_code", "city", "country", "phone", "mobile_phone", "email",
    "website", "invoice_email", "vtiger_id", "economic_customer_number", "hourly_rate",
)


def record_table(customer: Customer, labels, checked_never: str) -> Table:  # type: ignore[no-untyped-def]
    table = Table(show_header=False, box=None, padding=(0, 2), expand=True)
    table.add_column(style="bold", no_wrap=True, width=18)
    table.add_column(ratio=1)
    for field in HUB_FIELDS:
        value = getattr(customer, field)
        table.add_row(Text(labels(field)), literal(value) if value not in (None, "") else Text("—", "dim"))
    count = customer.discrepancy_count
    table.add_row(Text(labels("discrepancy_count")),
                  Text(checked_never if count is None else str(count), "dim" if count is None else ""))
    for key, stamp in (("created", customer.created_at), ("updated", customer.updated_at)):
        table.add_row(Text(labels(key)), Text(f"{stamp:%Y-%m-%d %H:%M}" if stamp else "—"))
    return table


class CustomerDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="customer.back"),
        Binding("f5", "reload", "Reload", id="customer.reload"),
    ]
    DEFAULT_CSS = """
    CustomerDetailScreen #title { height: 1; text-style: bold; padding: 0 1; background: $boost; }
    CustomerDetailScreen VerticalScroll { padding: 1 2; }
    """

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id

    @property
    def hub(self) -> HubApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield SafetyBar(self.hub.settings, self.hub.labels, self.hub.demo)
        yield Static(id="title")
        with VerticalScroll():
            yield Static(id="record")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        labels = self.hub.labels
        customer = await get_customer(self.hub.db, self.customer_id)
        title = self.query_one("#title", Static)
        record = self.query_one("#record", Static)
        if customer is None:
            title.update(Text(labels("customer_not_found", id=self.customer_id), "bold red"))
            record.update("")
            return
        self.sub_title = customer.name
        title.update(literal(f"{labels('hub_record')}: {customer.name}"))
        record.update(record_table(customer, labels, labels("never")))
