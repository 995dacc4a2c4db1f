"""The audit log: every write attempt, import and export, newest first; details, and undo of a field write."""

from __future__ import annotations

import asyncio
import json
import logging
from functools import partial

from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from hubtui.core.fields import field_label, system_name
from hubtui.core.fold import fold
from hubtui.i18n import Labels
from hubtui.services.audit import FIELD_WRITES, AuditEntry
from hubtui.services.consistency import ApplyResult, UndoPreview, UndoRefused
from hubtui.tui.screens.base import HubScreen
from hubtui.tui.screens.dialogs import ConfirmWrites
from hubtui.tui.text import printable
from hubtui.tui.words import outcome_words, write_words

log = logging.getLogger(__name__)

SYSTEM_FILTERS = (None, "hub", "vtiger", "economic")
# The filter folds text as the customer list does, which the database cannot: it searches the newest events
# in memory, and the table shows the newest of those it matches.
LOADED, SHOWN = 5000, 500
OUTCOME_FILTERS = (None, "written", "dry_run", "blocked", "disabled", "failed", "changed", "unknown")


def _value(value: object) -> str:
    return "(empty)" if value in (None, "") else printable(value)


def event_details(event: AuditEntry, labels: Labels) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2), expand=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    rows = [
        ("When", f"{event.created_at:%Y-%m-%d %H:%M:%S %Z}"),
        ("What", event.event_type),
        ("Customer", f"{event.customer_name or '—'} (hub #{event.customer_id})" if event.customer_id else "—"),
        ("System", system_name(event.system) if event.system else "—"),
        ("Outcome", outcome_words(labels, event.outcome, event.message)),
        ("Dry run", "yes" if event.dry_run else "no"),
        ("By", event.actor),
        ("Remote log id", event.remote_log_id or "—"),
        ("Message", event.message or "—"),
    ]
    for label, value in rows:
        table.add_row(Text(label), Text(printable(value)))
    before, after = event.before or {}, event.field_after
    if event.event_type in FIELD_WRITES:
        if event.undoes is not None:
            table.add_row(Text("Undoes"), Text(f"event {event.undoes}"))
        for name in after:
            table.add_row(Text(name), Text(f"{_value(before.get(name))} → {_value(after.get(name))}"))
    else:
        for label, values in (("Before", event.before), ("After", event.after)):
            if values:
                table.add_row(Text(label), Text(printable(json.dumps(values, ensure_ascii=False, default=str))))
    return table


def undo_details(preview: UndoPreview) -> Table:
    """Per field: the value in the system now next to the value the undo would restore."""
    system = system_name(preview.event.system or "")
    table = Table(box=None, padding=(0, 2), expand=True)
    for heading in ("Field", f"Now in {system}", "Undo restores", ""):
        table.add_column(Text(heading), overflow="fold")
    for item in preview.fields:
        if not item.written:
            note = Text(printable(item.why or "already so: left alone"), "dim")
        elif item.changed_since:
            note = Text(printable(f"changed since: now {_value(item.current)} (the event wrote "
                                  f"{_value(item.wrote)}); y overwrites it"), "bold")
        else:
            note = Text("")
        table.add_row(Text(field_label(item.field)), Text(_value(item.current)), Text(_value(item.restore)), note)
    return table


class AuditDetail(ModalScreen[bool]):
    """One event in full; `u` asks to undo it (the screen says why not, when it cannot be undone)."""

    BINDINGS = [
        Binding("escape,q", "dismiss(False)", "Close", id="audit_detail.close"),
        Binding("u", "dismiss(True)", "Undo", id="audit_detail.undo"),
    ]
    DEFAULT_CSS = """
    AuditDetail { align: center middle; }
    AuditDetail > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
                             border: thick $accent; background: $surface; padding: 0 1; }
    AuditDetail VerticalScroll { height: auto; max-height: 30; }
    """

    def __init__(self, event: AuditEntry, refusal: str | None, labels: Labels) -> None:
        super().__init__()
        self.event = event
        self.refusal = refusal
        self.labels = labels

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(event_details(self.event, self.labels))
            hint = "u: undo (write the before values back)   Esc: close" if self.refusal is None \
                else f"No undo: {self.refusal}   Esc: close"
            yield Static(Text(printable(hint), "dim"))


class AuditFilter(Input):
    """The filter; the table's movement keys keep working while you type (as on the customer list)."""

    BINDINGS = [
        Binding("up", "screen.table('cursor_up')", "Up", show=False, id="audit.filter_up"),
        Binding("down", "screen.table('cursor_down')", "Down", show=False, id="audit.filter_down"),
        Binding("pageup", "screen.table('page_up')", "Page up", show=False, id="audit.filter_page_up"),
        Binding("pagedown", "screen.table('page_down')", "Page down", show=False, id="audit.filter_page_down"),
    ]


def event_text(event: AuditEntry, labels: Labels) -> str:
    """What the filter searches in an event, folded as the customer list folds its names."""
    fields = " ".join(event.field_after) if event.event_type in FIELD_WRITES else ""
    words = outcome_words(labels, event.outcome, event.message)
    system = system_name(event.system) if event.system else ""
    return fold(" ".join(filter(None, (event.customer_name, event.event_type, system, words, fields))))


class AuditScreen(HubScreen):
    BINDINGS = [
        Binding("escape,q", "back", "Back", id="audit.back"),
        Binding("u", "undo", "Undo", id="audit.undo"),
        Binding("ctrl+y", "cycle_system", "System filter", priority=True, id="audit.system"),
        Binding("ctrl+o", "cycle_outcome", "Outcome filter", priority=True, id="audit.outcome"),
        Binding("f5", "reload", "Reload", id="audit.reload"),
    ]
    DEFAULT_CSS = """
    AuditScreen #audit-filter { height: 3; }
    AuditScreen #filters { height: 1; padding: 0 1; color: $text-muted; }
    AuditScreen DataTable { height: 1fr; }
    """

    def __init__(self, customer_id: int | None = None) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.system: str | None = None
        self.outcome: str | None = None
        self.loaded: list[tuple[AuditEntry, str]] = []  # the newest events, each with its folded text
        self.events: list[AuditEntry] = []  # those the filter shows, in the table's order

    def compose(self) -> ComposeResult:
        yield self.safety_bar()
        # select_on_focus=False: a letter typed on the table moves here and must not be replaced by the next.
        yield AuditFilter(placeholder="Filter by customer name or event", id="audit-filter", select_on_focus=False)
        yield Static(id="filters")
        table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True, id="events")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Audit log"
        table = self.query_one(DataTable)
        for label, width in (("When", 19), ("Event", 16), ("Customer", 24), ("System", 9), ("Outcome", 18),
                             ("Fields", 24)):
            table.add_column(Text(label), width=width)
        table.focus()
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        newest = await self.hub.services.audit_events(customer_id=self.customer_id, system=self.system,
                                                      outcome=self.outcome, limit=LOADED)
        self.loaded = [(event, event_text(event, self.hub.labels)) for event in newest]
        self.show()

    def show(self) -> None:
        """The loaded events the filter matches; typing filters without asking the database again."""
        query = fold(self.query_one("#audit-filter", Input).value.strip())
        self.events = [event for event, text in self.loaded if query in text][:SHOWN]
        table = self.query_one(DataTable)
        table.clear()
        for event in self.events:
            fields = ", ".join(event.field_after) if event.event_type in FIELD_WRITES else ""
            outcome = outcome_words(self.hub.labels, event.outcome, event.message)
            table.add_row(
                Text(f"{event.created_at.astimezone():%Y-%m-%d %H:%M:%S}"),
                Text(printable(event.event_type)),
                Text(printable(event.customer_name or "—")),
                Text(system_name(event.system) if event.system else "—"),
                Text(printable(outcome + (" (dry run)" if event.dry_run and "DRY" not in outcome else ""))),
                Text(printable(fields)),
                key=str(event.id),
            )
        shown = [f"{len(self.events)} events"]
        shown.append(f"system: {system_name(self.system) if self.system else 'all'} (ctrl+y)")
        shown.append(f"outcome: {self.outcome or 'all'} (ctrl+o)")
        if self.customer_id:
            shown.append(f"customer #{self.customer_id} only")
        self.query_one("#filters", Static).update(Text(" · ".join(shown)))

    def on_key(self, event: events.Key) -> None:
        # A letter typed on the table starts filtering; a key bound here (q back, u undo) keeps its binding.
        table = self.query_one(DataTable)
        if table.has_focus and event.is_printable and event.character and event.key not in self.active_bindings:
            event.stop()
            box = self.query_one("#audit-filter", Input)
            box.focus()
            box.insert_text_at_cursor(event.character)

    def action_table(self, action: str) -> None:
        getattr(self.query_one(DataTable), f"action_{action}")()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_details()

    @on(Input.Changed, "#audit-filter")
    def _filter(self) -> None:
        self.show()

    @on(Input.Submitted, "#audit-filter")
    def _to_table(self) -> None:
        self.query_one(DataTable).focus()

    def _current(self) -> AuditEntry | None:
        row = self.query_one(DataTable).cursor_row
        return self.events[row] if 0 <= row < len(self.events) else None

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.load()

    def action_cycle_system(self) -> None:
        self.system = SYSTEM_FILTERS[(SYSTEM_FILTERS.index(self.system) + 1) % len(SYSTEM_FILTERS)]
        self.load()

    def action_cycle_outcome(self) -> None:
        self.outcome = OUTCOME_FILTERS[(OUTCOME_FILTERS.index(self.outcome) + 1) % len(OUTCOME_FILTERS)]
        self.load()

    def action_details(self) -> None:
        event = self._current()
        if event is not None:
            self.details(event)

    @work(exclusive=True, group="details", exit_on_error=False)
    async def details(self, event: AuditEntry) -> None:
        refusal = await self.hub.services.why_not_undoable(event)

        def closed(undo: bool | None) -> None:
            if undo:
                self.preview_undo(event.id)

        self.app.push_screen(AuditDetail(event, refusal, self.hub.labels), closed)

    def action_undo(self) -> None:
        event = self._current()
        if event is not None:
            self.preview_undo(event.id)

    @work(exclusive=True, group="undo-preview", exit_on_error=False)
    async def preview_undo(self, event_id: int) -> None:
        """Read the record now and show what the undo would overwrite; or say why there is no undo."""
        if self.hub.writes:
            self.notify("writing… the write under way finishes first; then press u again", markup=False)
            return
        try:
            preview = await self.hub.services.consistency.undo_preview(event_id)
        except UndoRefused as error:
            self.notify(printable(f"No undo of event {event_id}: {error}"), severity="warning", markup=False,
                        timeout=10)
            return
        system = preview.event.system or ""
        heading = Text(f"{system_name(system)}  [{write_words(self.hub.labels, preview.safety)}]  ·  "
                       f"{printable(preview.reading.name)} (hub #{preview.reading.customer_id})", "bold")

        def confirmed(yes: bool | None) -> None:
            if yes:
                # The app's task: neither a key nor leaving this screen cuts the write off before its audit row.
                write = self.hub.run_write(self.hub.services.consistency.undo(event_id, preview))
                write.add_done_callback(partial(self._undone, event_id))

        self.app.push_screen(ConfirmWrites(undo_details(preview), any_live=preview.safety.live, heading=heading,
                                           question=f"Undo event {event_id}: write the before values back?",
                                           yes="undo"), confirmed)

    def _undone(self, event_id: int, task: asyncio.Task[ApplyResult]) -> None:
        error = None if task.cancelled() else task.exception()
        if isinstance(error, UndoRefused):
            self.app.notify(printable(f"No undo of event {event_id}: {error}"), severity="warning", markup=False,
                            timeout=10)
            return
        if task.cancelled() or error is not None:
            log.error("undo of audit event %s did not finish", event_id, exc_info=error)
            self.app.notify(printable(f"The undo of event {event_id} did not finish: {error or 'cancelled'}; the "
                                      "audit log says what was sent, and opening the customer settles it"),
                            severity="error", markup=False)
            return
        result = task.result()
        for system, outcome in result.results.items():
            words = outcome_words(self.hub.labels, outcome.outcome, outcome.message)
            self.app.notify(printable(f"Undo {system_name(system)}: {words}"
                                      + (f" — {outcome.message}" if outcome.message else "")),
                            severity="information" if outcome.outcome == "written" else "warning", markup=False)
        if result.reading is not None and result.reading.complete:  # else the stored count was kept
            self.hub.customer_checked(result.reading.customer_id, result.reading.comparison.discrepancy_count)
        if self.is_attached:
            self.load()
