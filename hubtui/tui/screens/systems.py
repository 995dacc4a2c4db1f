"""Systems: is each system reachable, as whom, how much rate limit is left, and which safety flags hold."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from hubtui.i18n import Labels
from hubtui.services.safety import SafetyModes, WriteSafety
from hubtui.services.systems import SystemStatus
from hubtui.tui.screens.base import HubScreen
from hubtui.tui.text import printable

SYSTEM_NAMES = {"hub": "Hub (Postgres)", "vtiger": "vTiger", "economic": "e-conomic"}


def safety_lines(system: str, safety: SafetyModes, labels: Labels) -> list[str]:
    """Each system's write flags in words, from the one safety mode of each kind of write."""

    def sync(kind: WriteSafety) -> str:
        return f"sync {labels('off')} ({kind.flag}=false)" if kind.mode == "disabled" else f"sync {labels('on')}"

    def mode(kind: WriteSafety) -> str:
        return labels("off") if kind.mode == "disabled" else labels(kind.mode)

    if system == "vtiger":
        return [sync(safety.vtiger)]
    if system == "economic":
        return [f"customer writes {mode(safety.economic)}", f"draft orders {mode(safety.order_export)}",
                sync(safety.economic)]
    return []


def status_table(statuses: list[SystemStatus], safety: SafetyModes, labels: Labels) -> Table:
    table = Table(expand=True, show_lines=True)
    for heading in ("System", "State", "Connected as", "Rate limit left", "Safety"):
        table.add_column(heading, overflow="fold")
    for status in statuses:
        state = Text("connected", "bold green") if status.connected else Text("unavailable", "bold red")
        who = Text(printable(status.who)) if status.connected else Text(printable(status.error), "red")
        table.add_row(Text(SYSTEM_NAMES[status.system]), state, who, Text(printable(status.budget)),
                      Text("\n".join(safety_lines(status.system, safety, labels))))
    return table


class SystemsScreen(HubScreen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="systems.back"),
        Binding("f5,r", "refresh_status", "Check again", id="systems.refresh"),
    ]
    DEFAULT_CSS = """
    SystemsScreen VerticalScroll { padding: 1 1; }
    """

    statuses: list[SystemStatus] | None = None  # the last check's results, None while checking

    def compose(self) -> ComposeResult:
        yield self.safety_bar()
        with VerticalScroll():
            yield Static(Text("Checking the systems…"), id="statuses")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Systems"
        self.action_refresh_status()

    def action_refresh_status(self) -> None:
        self.check()

    @work(exclusive=True, exit_on_error=False)
    async def check(self) -> None:
        services = self.hub.services
        self.statuses = await services.system_statuses()
        self.query_one("#statuses", Static).update(status_table(self.statuses, services.safety, self.hub.labels))
