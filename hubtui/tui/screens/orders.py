"""Orders made from approved time, their preview, and the export to e-conomic as a draft order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from hubtui.core.fold import fold
from hubtui.services.order_export import ExportResult, OrderExport
from hubtui.services.orders import OrderRefused, ReadyCustomer
from hubtui.tui.screens.base import HubScreen
from hubtui.tui.screens.dialogs import Ask, ConfirmWrites
from hubtui.tui.text import printable

_MODE_WORDS = {
    "read_only": "READ-ONLY: the export is blocked (TIMETRACKING_ECONOMIC_READ_ONLY=true)",
    "dry_run": "DRY-RUN: the export shows the payload and sends nothing (TIMETRACKING_ECONOMIC_DRY_RUN=true)",
    "live": "LIVE: the export creates a real draft order in e-conomic",
}
_OUTCOME_STYLE = {"exported": "bold green", "dry_run": "bold yellow", "blocked": "bold red", "refused": "bold red",
                  "failed": "bold red", "unknown": "bold red"}
_STATUS_STYLE = {"exported": "green", "unknown": "bold red"}


class OrderScreen(HubScreen):
    """One order: its lines and totals, the export mode, `x` to export; for an export whose outcome is
    unknown, `t` attaches the draft the person found in e-conomic and `n` declares that none exists."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="order.back"),
        Binding("x", "export", "Export to e-conomic", id="order.export"),
        Binding("t", "attach", "Attach draft", id="order.attach"),
        Binding("n", "none_exists", "None exists", id="order.none_exists"),
    ]
    DEFAULT_CSS = """
    OrderScreen #mode { height: auto; padding: 0 1; }
    OrderScreen VerticalScroll { padding: 0 1; }
    OrderScreen #outcome { height: auto; }
    """

    def __init__(self, order_id: int) -> None:
        super().__init__()
        self.order_id = order_id
        self.result: ExportResult | None = None
        self.status: str | None = None
        self.draft_number: int | None = None
        self.order_number = ""
        # The running export, owned here rather than by a worker: a key or leaving the screen never cancels it.
        self.writing: asyncio.Task[ExportResult] | None = None

    def compose(self) -> ComposeResult:
        yield self.safety_bar()
        yield Static(id="mode")
        # The outcome (a dry run's whole payload) scrolls with the order, so the mode line always stays in view.
        with VerticalScroll(id="body"):
            yield Static(id="outcome")
            yield Static(id="order")
            yield Static(id="result")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Order"
        mode = self.hub.services.safety.order_export.mode
        style = "bold red" if mode == "live" else "bold yellow"
        self.query_one("#mode", Static).update(Text(_MODE_WORDS[mode], style))
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        order = await self.hub.services.orders.order(self.order_id)
        target = self.query_one("#order", Static)
        if order is None:
            target.update(Text(f"Order {self.order_id} does not exist", "bold red"))
            return
        self.status, self.draft_number, self.order_number = order.status, order.economic_draft_number, order.number
        head = Text()
        head.append(f"{order.number}  ", "bold")
        head.append(printable(order.customer_name))
        head.append(f"  e-conomic customer {order.economic_customer_number or '— (none: cannot export)'}")
        status = order.status + (f", e-conomic draft {order.economic_draft_number}"
                                 if order.economic_draft_number else "")
        head.append(f"\nstatus: {status}", _STATUS_STYLE.get(order.status, ""))
        if order.status == "unknown":
            if self.result is None or self.result.outcome != "unknown":  # else it is on screen already, above
                head.append("\n")
                head.append(printable(order.export_problem or ""), "red")
            head.append("\nt: attach the draft you found in e-conomic    n: none exists, export again", "bold")
        table = Table(expand=True)
        for heading, justify in (("#", "right"), ("Date and description", "left"), ("Hours", "right"),
                                 ("Rate", "right"), ("Amount", "right")):
            table.add_column(heading, justify=justify)  # type: ignore[arg-type]
        for line in order.lines:
            table.add_row(str(line.line_number), Text(printable(line.description)), str(line.quantity),
                          str(line.unit_price), str(line.amount))
        table.add_row("", Text("Total", "bold"), "", "", Text(f"{order.total_amount} {order.currency}", "bold"))
        target.update(head)
        self.query_one("#result", Static).update(table)

    def _busy(self) -> bool:
        if self.writing is not None and not self.writing.done():
            self.notify("writing… wait for the export to finish", markup=False)
            return True
        return False

    def action_export(self) -> None:
        if self._busy():
            return
        if self.status == "exported":  # said before any dialog: nothing will be sent
            self.notify(f"{self.order_number} was already exported as e-conomic draft {self.draft_number}",
                        markup=False)
            return
        if not self.hub.services.safety.order_export.live:
            self._start(lambda export: export.export(self.order_id))  # blocked and dry-run send nothing
            return
        warning = "A real draft order will be created in e-conomic."
        if self.status == "unknown":
            warning = ("The last export's outcome is UNKNOWN: this looks the draft up again and creates nothing "
                       "unless e-conomic answers that none exists.")
        self._confirm(warning, "Export this order to e-conomic?", lambda export: export.export(self.order_id))

    def action_none_exists(self) -> None:
        if self._busy():
            return
        if self.status != "unknown":
            self.notify("Only for an order whose export is UNKNOWN", markup=False)
            return
        self._confirm(f"You checked e-conomic and NO draft with reference {self.order_number} exists: a new "
                      "draft order will be created (this is audited).", "Export again with a new key?",
                      lambda export: export.export(self.order_id, none_exists=True))

    def action_attach(self) -> None:
        if self._busy():
            return
        if self.status not in ("unknown", "open"):
            self.notify(f"{self.order_number} is {self.status}: there is nothing to attach", markup=False)
            return

        def draft_number(value: str) -> str:
            if not value.strip().isdigit():
                raise ValueError("an e-conomic draft order number, e.g. 1042")
            return value.strip()

        def answered(value: str | None) -> None:
            if value:
                self._start(lambda export: export.attach(self.order_id, int(value)))

        self.app.push_screen(Ask(f"Number of the e-conomic draft you found for {self.order_number}:", "",
                                 draft_number), answered)

    def _confirm(self, warning: str, question: str, run: Callable[[OrderExport], Awaitable[ExportResult]]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._start(run)

        self.app.push_screen(ConfirmWrites([Text(warning)], any_live=True, question=question), answered)

    def _start(self, run: Callable[[OrderExport], Awaitable[ExportResult]]) -> None:
        self.notify("writing…", markup=False)
        self.writing = self.hub.run_write(run(self.hub.services.order_export))
        self.writing.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[ExportResult]) -> None:
        if task.cancelled() or not self.is_attached:
            return
        if (error := task.exception()) is not None:
            self.notify(printable(f"The export could not finish: {error}"), severity="error", markup=False)
            return
        result = task.result()
        self.result = result
        text = Text(printable(result.message), _OUTCOME_STYLE[result.outcome])
        for problem in result.details.get("errors") or []:
            text.append(printable(f"\n  {problem}"))
        if result.details.get("log_id"):
            text.append(printable(f"\n  e-conomic logId {result.details['log_id']}"), "dim")
        if result.outcome == "dry_run":
            text.append("\nPayload that would be sent:\n", "bold")
            # printable per line: it makes a line break visible (␊), and the JSON's own breaks must stay breaks.
            payload = json.dumps(result.details.get("payload"), indent=2, ensure_ascii=False)
            text.append("\n".join(printable(line) for line in payload.splitlines()))
        self.query_one("#outcome", Static).update(text)
        body = self.query_one("#body", VerticalScroll)
        body.scroll_home(animate=False)
        body.focus()  # ↑ ↓ PgUp PgDn scroll a payload longer than the screen
        self.load()


class CustomerPicker(ModalScreen[int | None]):
    """Which customer's approved time to order: typing filters by name, ↑ ↓ move, Enter picks, Esc cancels.
    The filter keeps the focus, so a typed letter always filters and never picks."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="pick.cancel"),
        Binding("down", "move('cursor_down')", "Down", show=False, id="pick.down"),
        Binding("up", "move('cursor_up')", "Up", show=False, id="pick.up"),
        Binding("pagedown", "move('page_down')", "Page down", show=False, id="pick.page_down"),
        Binding("pageup", "move('page_up')", "Page up", show=False, id="pick.page_up"),
    ]
    DEFAULT_CSS = """
    CustomerPicker { align: center middle; }
    CustomerPicker > Vertical { width: 100%; max-width: 100; height: auto; max-height: 100%;
                                border: thick $accent; background: $surface; padding: 0 1; }
    CustomerPicker OptionList { height: auto; max-height: 12; border: none; padding: 0; }
    /* The list never has the focus (the filter keeps it): show the pick as a focused list would. */
    CustomerPicker OptionList > .option-list--option-highlighted {
        color: $block-cursor-foreground; background: $block-cursor-background; text-style: $block-cursor-text-style;
    }
    CustomerPicker #none { color: $text-muted; height: auto; }
    """

    def __init__(self, customers: list[ReadyCustomer], labels: Callable[..., str]) -> None:
        super().__init__()
        self.customers = customers
        self.labels = labels
        self.folded = [fold(customer.name) for customer in customers]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.labels("order_pick_title"), "bold"))
            yield Input(placeholder=self.labels("order_pick_filter"), id="filter")
            options = OptionList()
            options.can_focus = False
            yield options
            yield Static(id="none")
            yield Static(Text(self.labels("order_pick_keys"), "dim"))

    def on_mount(self) -> None:
        self._show("")

    def _option(self, customer: ReadyCustomer) -> Option:
        text = Text(printable(customer.name), "bold")
        text.append("  " + self.labels("order_pick_time", entries=customer.entries, hours=customer.hours))
        if customer.pending:
            text.append("  " + self.labels("order_pick_pending", pending=customer.pending), "yellow")
        return Option(text, id=str(customer.id))

    @on(Input.Changed)
    def _filter(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, query: str) -> None:
        wanted = fold(query.strip())
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([self._option(customer) for customer, name in zip(self.customers, self.folded,
                                                                              strict=True) if wanted in name])
        options.highlighted = 0 if options.option_count else None
        self.query_one("#none", Static).update(
            "" if options.option_count else Text(self.labels("order_pick_no_match")))

    def action_move(self, action: str) -> None:
        getattr(self.query_one(OptionList), f"action_{action}")()

    @on(Input.Submitted)
    def _pick(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            picked = options.get_option_at_index(options.highlighted).id
            self.dismiss(int(picked) if picked is not None else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class OrdersScreen(HubScreen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="orders.back"),
                Binding("f5", "reload", "Reload", id="orders.reload"),
                Binding("g", "generate", "New order", id="orders.generate")]

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
        for order in await self.hub.services.orders.orders():
            table.add_row(
                Text(order.number), Text(printable(order.customer_name)), Text(str(order.line_count)),
                Text(f"{order.total_amount} {order.currency}"), Text(order.status),
                Text(str(order.economic_draft_number or "—")), key=str(order.id),
            )

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(OrderScreen(int(event.row_key.value)))

    @work(group="orders-generate", exit_on_error=False)
    async def action_generate(self) -> None:
        customers = await self.hub.services.orders.ready_customers()
        if not customers:
            self.notify(self.hub.labels("order_none_ready"), markup=False)
            return

        def picked(customer_id: int | None) -> None:
            if customer_id is not None:
                self.generate(customer_id)

        self.app.push_screen(CustomerPicker(customers, self.hub.labels), picked)

    @work(group="orders-generate", exit_on_error=False)
    async def generate(self, customer_id: int) -> None:
        try:
            order_id = await self.hub.services.orders.generate_order(customer_id)
        except OrderRefused as error:
            self.notify(printable(self.hub.labels("order_refused", reason=error)), severity="warning",
                        markup=False)
            return
        self.app.push_screen(OrderScreen(order_id))
