"""Orders made from approved time, their preview, and the export to e-conomic as a draft order."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from hubtui.core.safety import write_mode
from hubtui.services.order_export import ExportResult, OrderExport
from hubtui.services.timetracking import TimeTracking
from hubtui.tui.screens.base import HubScreen
from hubtui.tui.screens.dialogs import ConfirmWrites
from hubtui.tui.text import printable

_MODE_WORDS = {
    "read_only": "READ-ONLY: the export is blocked (TIMETRACKING_ECONOMIC_READ_ONLY=true)",
    "dry_run": "DRY-RUN: the export shows the payload and sends nothing (TIMETRACKING_ECONOMIC_DRY_RUN=true)",
    "live": "LIVE: the export creates a real draft order in e-conomic",
}
_OUTCOME_STYLE = {"exported": "bold green", "dry_run": "bold yellow", "blocked": "bold red", "refused": "bold red",
                  "failed": "bold red"}


class OrderScreen(HubScreen):
    """One order: its lines and totals, the export mode, and `x` to export."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="order.back"),
        Binding("x", "export", "Export to e-conomic", id="order.export"),
    ]
    DEFAULT_CSS = """
    OrderScreen #mode { height: auto; padding: 0 1; }
    OrderScreen VerticalScroll { padding: 0 1; }
    """

    def __init__(self, order_id: int) -> None:
        super().__init__()
        self.order_id = order_id
        self.result: ExportResult | None = None

    def compose(self) -> ComposeResult:
        yield self.safety_bar()
        yield Static(id="mode")
        with VerticalScroll():
            yield Static(id="order")
            yield Static(id="result")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Order"
        settings = self.hub.settings
        mode = write_mode(settings.timetracking_economic_read_only, settings.timetracking_economic_dry_run)
        style = "bold red" if mode == "live" else "bold yellow"
        self.query_one("#mode", Static).update(Text(_MODE_WORDS[mode], style))
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        order = await TimeTracking(self.hub.db, self.hub.settings).order(self.order_id)
        target = self.query_one("#order", Static)
        if order is None:
            target.update(Text(f"Order {self.order_id} does not exist", "bold red"))
            return
        row = order.row
        head = Text()
        head.append(f"{row['order_number']}  ", "bold")
        head.append(printable(row["customer_name"]))
        head.append(f"  e-conomic customer {row['economic_customer_number'] or '— (none: cannot export)'}")
        status = row["status"] + (f", e-conomic draft {row['economic_draft_number']}"
                                  if row["economic_draft_number"] else "")
        head.append(f"\nstatus: {status}", "green" if row["status"] == "exported" else "")
        table = Table(expand=True)
        for heading, justify in (("#", "right"), ("Date and description", "left"), ("Hours", "right"),
                                 ("Rate", "right"), ("Amount", "right")):
            table.add_column(heading, justify=justify)  # type: ignore[arg-type]
        for line in order.lines:
            table.add_row(str(line["line_number"]), Text(printable(line["description"])), str(line["quantity"]),
                          str(line["unit_price"]), str(line["amount"]))
        table.add_row("", Text("Total", "bold"), "", "", Text(f"{row['total_amount']} {row['currency']}", "bold"))
        target.update(head)
        self.query_one("#result", Static).update(table)

    def action_export(self) -> None:
        settings = self.hub.settings
        mode = write_mode(settings.timetracking_economic_read_only, settings.timetracking_economic_dry_run)
        if mode != "live":
            self.export()  # blocked and dry-run send nothing: no need to ask
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.export()

        self.app.push_screen(ConfirmWrites([Text("A real draft order will be created in e-conomic.")], any_live=True,
                                           question="Export this order to e-conomic?"), answered)

    @work(exclusive=True, group="export", exit_on_error=False)
    async def export(self) -> None:
        self.notify("Exporting…", markup=False)
        result = await OrderExport(self.hub.db, self.hub.settings, self.hub.economic).export(self.order_id)
        self.result = result
        text = Text(printable(result.message), _OUTCOME_STYLE[result.outcome])
        for problem in result.details.get("errors") or []:
            text.append(printable(f"\n  {problem}"))
        if result.details.get("log_id"):
            text.append(printable(f"\n  e-conomic logId {result.details['log_id']}"), "dim")
        if result.outcome == "dry_run":
            text.append("\nPayload that would be sent:\n", "bold")
            text.append(printable(json.dumps(result.details.get("payload"), indent=2, ensure_ascii=False)))
        self.query_one("#mode", Static).update(text)
        self.load()


class OrdersScreen(HubScreen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="orders.back"),
                Binding("f5", "reload", "Reload", id="orders.reload")]

    def compose(self) -> ComposeResult:
        yield self.safety_bar()
        table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Orders"
        table = self.query_one(DataTable)
        for heading, width in (("Order", 13), ("Customer", 30), ("Lines", 5), ("Total", 14), ("Status", 10),
                               ("e-conomic draft", 15)):
            table.add_column(Text(heading), width=width)
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    @work(exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for row in await TimeTracking(self.hub.db, self.hub.settings).orders():
            table.add_row(
                Text(row["order_number"]), Text(printable(row["customer_name"])), Text(str(row["line_count"])),
                Text(f"{row['total_amount']} {row['currency']}"), Text(row["status"]),
                Text(str(row["economic_draft_number"] or "—")), key=str(row["id"]),
            )

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(OrderScreen(int(event.row_key.value)))
