"""The Textual application: screens ask services; slow work runs in workers; failures become messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from functools import cache
from typing import Any, TypeVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from hubtui.config import Settings
from hubtui.i18n import Labels
from hubtui.services.hub import HubServices
from hubtui.tui.keymap import check_keymap
from hubtui.tui.screens.customers import CustomerListScreen
from hubtui.tui.screens.help import HelpScreen
from hubtui.tui.text import printable

log = logging.getLogger(__name__)
T = TypeVar("T")


@cache
def top_level_screens() -> dict[str, type[Screen[None]]]:
    """The screens the F-keys and the palette go to, by the app action that opens them. Imported when first
    asked: they pull in more than the customer list needs to start."""
    from hubtui.tui.screens.audit import AuditScreen
    from hubtui.tui.screens.orders import OrdersScreen
    from hubtui.tui.screens.rates import RatesScreen
    from hubtui.tui.screens.systems import SystemsScreen
    from hubtui.tui.screens.wizard import WizardScreen

    return {"systems": SystemsScreen, "audit": AuditScreen, "wizard": WizardScreen, "rates": RatesScreen,
            "orders": OrdersScreen}


class HubApp(App[None]):
    TITLE = "hubtui"
    CSS_PATH = "hubtui.tcss"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("f1", "help", "Help", id="app.help"),
        Binding("f2", "systems", "Systems", id="app.systems"),
        Binding("f3", "audit", "Audit log", id="app.audit"),
        Binding("f4", "wizard", "Approve time", id="app.wizard"),
        Binding("f7", "rates", "Rates", id="app.rates"),
        Binding("f8", "orders", "Orders", id="app.orders"),
    ]
    # Our own F1 help replaces Textual's key panel; the palette lists the screen's actions instead.
    ENABLE_COMMAND_PALETTE = True
    COMMAND_PALETTE_BINDING = "ctrl+p"

    def __init__(self, services: HubServices) -> None:
        super().__init__()
        self.services = services  # the one door to everything behind the screens
        self.labels = Labels(services.settings.hubtui_language)
        self.writes: set[asyncio.Task[Any]] = set()  # remote writes under way; see run_write
        if services.settings.hubtui_keymap:
            self.set_keymap(check_keymap(services.settings.hubtui_keymap))

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def demo(self) -> bool:
        return self.services.demo

    def on_mount(self) -> None:
        self.push_screen(CustomerListScreen())

    async def on_unmount(self) -> None:
        await self.services.aclose()

    def run_write(self, write: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run a write as a task the app owns: no key, no screen that is left and no worker's cancellation
        cuts it off between the remote request and its audit row; quitting waits for it."""
        task = asyncio.get_running_loop().create_task(write)
        self.writes.add(task)
        task.add_done_callback(self.writes.discard)
        return task

    def action_quit(self) -> None:
        if not self.writes:
            self.exit()
            return
        self.notify("writing… hubtui quits when the write under way is finished and recorded", markup=False)

        async def quit_when_written() -> None:
            while self.writes:  # a write may start another (an apply re-reads and counts)
                await asyncio.wait(set(self.writes))
            self.exit()

        # A worker, so the screen keeps drawing (and showing the write's outcome) while it waits.
        self.run_worker(quit_when_written(), group="quit", exclusive=True)

    async def _switch(self, name: str) -> None:
        """Go to a top-level screen: back to it when it is open (closing what was opened from it), else in
        place of the top-level screen that is open. So there is at most one of each, and Esc on any of them
        is one step back to the customer list (or the customer opened from it)."""
        if isinstance(self.screen, ModalScreen) and not isinstance(self.screen, HelpScreen):
            return  # a dialog waits for its answer first
        screens = top_level_screens()
        wanted = screens[name]
        stack = self.screen_stack
        at = next((index for index, screen in enumerate(stack) if isinstance(screen, wanted)), None)
        if at is None:  # close the other top-level screen, and what was opened from it
            at = next((index for index, screen in enumerate(stack) if isinstance(screen, tuple(screens.values()))),
                      len(stack))
        else:
            at += 1  # keep it; close what was opened from it
        for _ in range(len(stack) - at):
            await self.pop_screen()
        if not isinstance(self.screen, wanted):
            await self.push_screen(wanted())

    async def action_systems(self) -> None:
        await self._switch("systems")

    async def action_audit(self) -> None:
        await self._switch("audit")

    async def action_wizard(self) -> None:
        await self._switch("wizard")

    async def action_rates(self) -> None:
        await self._switch("rates")

    async def action_orders(self) -> None:
        await self._switch("orders")

    def open_customer(self, customer_id: int) -> None:
        # Imported here: the diff pulls in the connectors, which the list does not need to start.
        from hubtui.tui.screens.diff import DiffScreen

        self.push_screen(DiffScreen(customer_id))

    def customer_checked(self, customer_id: int, discrepancies: int) -> None:
        """A customer was compared again: the list shows its new count without reloading everything."""
        for screen in self.screen_stack:
            if isinstance(screen, CustomerListScreen):
                screen.update_count(customer_id, discrepancies)

    def screen_bindings(self, screen: Screen[object]) -> list[tuple[DOMNode, Binding, str]]:
        """Our own bindings (they all have an id) on `screen`: (node, binding, keys shown)."""
        nodes: list[DOMNode] = [self, screen, *screen.walk_children()]
        found: dict[str, tuple[DOMNode, Binding, list[str]]] = {}
        for node in nodes:
            for _, binding in node._bindings:
                if not binding.id or not binding.description:
                    continue
                node_binding_keys = found.setdefault(binding.id, (node, binding, []))[2]
                display = self.get_key_display(binding)
                if display not in node_binding_keys:
                    node_binding_keys.append(display)
        return [(node, binding, " / ".join(keys)) for node, binding, keys in found.values()]

    def describe(self, binding: Binding) -> str:
        """What a key does, in the UI language (the binding's own English words when there is no label)."""
        key = f"key_{binding.id}"
        return self.labels(key) if self.labels.has(key) else binding.description

    def key_rows(self) -> list[tuple[str, str, str]]:
        """Every key that does something on this screen, for F1: (keys, what it does, binding id)."""
        return [(keys, self.describe(binding), binding.id or "")
                for _, binding, keys in self.screen_bindings(self.screen)]

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.key_rows(), self.labels("help_title")))

    async def action_customers(self) -> None:
        """Back to the customer list, closing whatever was opened on it."""
        if isinstance(self.screen, ModalScreen) and not isinstance(self.screen, HelpScreen):
            return  # a dialog waits for its answer first
        while not isinstance(self.screen, CustomerListScreen) and len(self.screen_stack) > 2:
            await self.pop_screen()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: every screen, then every action of `screen` (the one under the palette), once each."""
        shown: set[str] = set()
        app_keys = {binding.action: keys for node, binding, keys in self.screen_bindings(screen) if node is self}
        for action in ("customers", *top_level_screens()):
            title = self.labels(f"screen_{action}")
            keys = f" ({app_keys[action]})" if action in app_keys else ""
            shown.add(title)
            yield SystemCommand(title, self.labels("palette_go_to", screen=title) + keys,
                                lambda action=action: self.run_action(action))
        for node, binding, keys in self.screen_bindings(screen):
            title = self.describe(binding)
            if (node is self and binding.action in top_level_screens()) or title in shown:
                continue  # the screens are listed above
            shown.add(title)
            yield SystemCommand(title, f"{title} ({keys})",
                                lambda node=node, action=binding.action: self.run_action(action, node))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # One place for failed background work: a readable message on screen and the traceback in the log.
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        log.error("background task %s failed", event.worker.name, exc_info=error)
        self.notify(printable(f"{type(error).__name__}: {error}"), title="Error", severity="error",
                    timeout=10, markup=False)
