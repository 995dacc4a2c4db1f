"""The time-entry approval wizard: one pending entry at a time, one key per decision.

Every decision is committed as it is made, so quitting (or a dropped SSH connection) loses nothing and
reopening continues where the queue stands. The entry on screen, and the one after it (claimed ahead so a
key shows it at once while the decision is saved), are leased to this session; nobody else sees them until
they are decided, skipped, or the lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from hubtui.core.billing import InvalidHours, parse_hours
from hubtui.services.approval_queue import ApprovalQueue, DecisionRefused, QueueEntry, WizardSession
from hubtui.services.orders import OrderRefused
from hubtui.tui.screens.base import HubScreen
from hubtui.tui.screens.dialogs import Ask, ConfirmWrites
from hubtui.tui.text import printable


def _duration(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d} h ({minutes} min)"


def entry_card(entry: QueueEntry, currency: str, labels: Callable[..., str]) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2), expand=True)
    table.add_column(style="bold", no_wrap=True, width=18)
    table.add_column(ratio=1)
    rate = f"{entry.hourly_rate} {currency}/h" + (" (default rate)" if entry.rate_is_default else "")
    # Under the hours, why they are what `a` will approve when that is not the rounded worked time.
    if entry.hours_edited:
        hours_note = labels("wizard_hours_typed")
    else:
        hours_note = "" if entry.billable else labels("wizard_not_billable")
    rows = [
        ("Customer", entry.customer_name, ""),
        ("Contact", entry.contact or "—", ""),
        ("Date", f"{entry.work_date:%d.%m.%Y}", ""),
        ("Duration", _duration(entry.duration_minutes), ""),
        ("Billable hours", f"{entry.billable_hours} h", "bold yellow" if hours_note else ""),
        ("", hours_note, "yellow"),
        ("Hourly rate", rate, ""),
        ("Amount", f"{entry.amount} {currency}", ""),
        ("Description", entry.description or "—", ""),
        ("Related case", entry.related_case or "—", ""),
    ]
    for label, value, style in rows:
        if label or value:
            table.add_row(Text(label), Text(printable(value), style))
    return table


class WizardScreen(HubScreen):
    BINDINGS = [
        Binding("a", "approve", "Approve", id="wizard.approve"),
        Binding("r", "reject", "Reject", id="wizard.reject"),
        Binding("e", "edit_hours", "Edit hours", id="wizard.edit_hours"),
        Binding("s", "skip", "Skip", id="wizard.skip"),
        Binding("u", "undo", "Undo last", id="wizard.undo"),
        Binding("q,escape", "leave", "Leave", id="wizard.leave"),
    ]
    DEFAULT_CSS = """
    WizardScreen #progress { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    WizardScreen VerticalScroll { padding: 1 2; }
    WizardScreen #message { height: auto; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.session = WizardSession()
        self.entry: QueueEntry | None = None
        self.upcoming: QueueEntry | None = None  # claimed ahead, shown the moment the current one is decided
        self.busy = False

    @property
    def queue(self) -> ApprovalQueue:
        return self.hub.services.approval_queue

    def compose(self) -> ComposeResult:
        yield self.safety_bar()
        yield Static(id="progress")
        with VerticalScroll():
            yield Static(Text("Finding the next pending time entry…"), id="card")
        yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Approve time"
        self.busy = True
        self.show_next()

    async def on_unmount(self) -> None:
        await self.queue.release(self.session)

    @work(group="wizard-decide", exit_on_error=False)
    async def show_next(self) -> None:
        try:
            if self.upcoming is not None:
                self.entry, self.upcoming = self.upcoming, None
            else:
                self.entry = await self.queue.next_entry(self.session)
            self._draw()
            await self._claim_ahead()
        finally:
            self.busy = False

    async def _claim_ahead(self) -> None:
        """Claim the entry after the one on screen (releasing any other claim of this session)."""
        keep = [self.entry.id] if self.entry else []
        self.upcoming = await self.queue.next_entry(self.session, keep=keep) if self.entry else None

    def _draw(self) -> None:
        entry = self.entry
        progress = self.query_one("#progress", Static)
        card = self.query_one("#card", Static)
        if entry is None:
            skipped = len(self.session.skipped)
            progress.update(Text("Queue done"))
            card.update(Text("No pending time entries" + (f" (you skipped {skipped}; reopen to see them again)"
                                                           if skipped else ""), "green"))
            return
        # An entry claimed ahead was numbered before the keys since; its N is counted again from the session.
        self.entry = entry = self.queue.placed(entry, self.session)
        progress.update(Text(printable(f"{entry.position}/{entry.total} · {entry.customer_name} "
                                       f"{entry.customer_position}/{entry.customer_total}")))
        card.update(entry_card(entry, self.hub.settings.timetracking_currency, self.hub.labels))

    def _say(self, text: str, style: str = "") -> None:
        self.query_one("#message", Static).update(Text(printable(text), style))

    def _start(self) -> QueueEntry | None:
        """The entry a key acts on, or None while the previous key is still being saved (keys typed ahead
        are dropped rather than applied to an entry the person has not seen yet)."""
        if self.busy or self.entry is None:
            return None
        self.busy = True
        return self.entry

    def action_approve(self) -> None:
        entry = self._start()
        if entry is not None:
            self.decide(entry, "approve")

    def action_reject(self) -> None:
        entry = self.entry
        if entry is None:
            return

        def answered(reason: str | None) -> None:
            if reason and self._start() is entry:
                self.decide(entry, "reject", reason=reason)

        self.app.push_screen(Ask(f"Why is entry {entry.id} not billed?", "", _reason_check), answered)

    def action_edit_hours(self) -> None:
        entry = self.entry
        if entry is None:
            return

        def answered(text: str | None) -> None:
            # Only the card changes: the decision stays with `a` (or `r`, or `s`, which forgets the hours).
            if text and self.entry is not None and self.entry.id == entry.id:
                try:
                    self.entry = self.queue.edit_hours(self.entry, parse_hours(text), self.session)
                except DecisionRefused as error:
                    self._say(f"Not changed: {error}", "bold red")
                    return
                self._draw()
                self._say(self.hub.labels("wizard_hours_set", id=entry.id, hours=self.entry.billable_hours),
                          "green")

        self.app.push_screen(Ask("Billable hours (e.g. 1.25, 1,5 or 1:30)", str(entry.billable_hours),
                                 _hours_check), answered)

    # Not exclusive: a decision that has started is never cancelled halfway by the next key.
    @work(group="wizard-decide", exit_on_error=False)
    async def decide(self, entry: QueueEntry, decision: str, *, reason: str | None = None) -> None:
        queue = self.queue
        try:
            shown_ahead = self.upcoming
            if shown_ahead is not None:
                # The next card at once; the decision is saved while the person reads it.
                self.entry, self.upcoming = shown_ahead, None
                self._draw()
            try:
                if decision == "approve":
                    hours = await queue.approve(entry.id, self.session)
                    message, style = f"Approved entry {entry.id}: {hours} h", "green"
                else:
                    await queue.reject(entry.id, reason or "", self.session)
                    message, style = f"Rejected entry {entry.id}: {reason}", "yellow"
            except DecisionRefused as error:
                message, style = f"Not saved: {error}", "bold red"
            if shown_ahead is None:
                self.entry = await queue.next_entry(self.session)
            elif self.entry is not None:
                # Its progress was counted before this decision landed.
                self.entry = await queue.describe(self.entry.id, self.session)
            self._draw()
            self._say(message, style)
            await self._claim_ahead()
            if await queue.ready_for_order(entry.customer_id):
                self._offer_order(entry.customer_id, entry.customer_name)
        finally:
            self.busy = False

    def _offer_order(self, customer_id: int, name: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.make_order(customer_id)

        lines = [Text(printable(f"{name} has no more pending time entries."))]
        self.app.push_screen(ConfirmWrites(lines, any_live=False, question="Create the order for the approved time?"),
                             answered)

    @work(group="wizard-order", exit_on_error=False)
    async def make_order(self, customer_id: int) -> None:
        try:
            order_id = await self.hub.services.orders.generate_order(customer_id)
        except OrderRefused as error:
            self._say(str(error), "yellow")
            return
        from hubtui.tui.screens.orders import OrderScreen

        self.app.push_screen(OrderScreen(order_id))

    def action_skip(self) -> None:
        entry = self._start()
        if entry is not None:
            self.queue.skip(entry, self.session)
            self._say(f"Skipped entry {entry.id}")
            self.show_next()  # claiming the one after releases the skipped entry for others

    def action_undo(self) -> None:
        if not self.busy:
            self.busy = True
            self.undo()

    @work(group="wizard-decide", exit_on_error=False)
    async def undo(self) -> None:
        try:
            try:
                entry_id = await self.queue.undo_last(self.session)
            except DecisionRefused as error:
                self._say(str(error), "bold red")
                return
            if entry_id is None:
                self._say("Nothing to undo in this session")
                return
            # The card that was on screen comes back right after the undone entry (it is still claimed).
            self.upcoming = self.entry
            self.entry = await self.queue.describe(entry_id, self.session)
            self._draw()
            self._say(f"Entry {entry_id} is pending again")
        finally:
            self.busy = False

    def action_leave(self) -> None:
        self.app.pop_screen()


def _reason_check(text: str) -> str:
    if not text.strip():
        raise ValueError("Write a reason, e.g. 'internal work' or 'covered by the service agreement'")
    return text.strip()


def _hours_check(text: str) -> str:
    try:
        return str(parse_hours(text))
    except InvalidHours as error:
        raise ValueError(error.message) from None
