"""One customer, three systems, side by side: pick the right value per field and write it everywhere.

Each row is a field; the chosen source is marked like a radio button (● chosen, ○ not). Suggestions are
pre-selected with their reason on the row. `s` shows exactly what will be written where, under which
safety flag, and asks before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from functools import partial
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Static

from hubtui.core.char_diff import Span, highlights
from hubtui.core.compare import NOT_IN_SYSTEM, FieldComparison
from hubtui.core.fields import SYSTEMS, system_name
from hubtui.core.plan import FieldChoice, WritePlan, build_plan
from hubtui.core.validate import InvalidValue, validate
from hubtui.services.consistency import (
    CONFIRMED,
    ApplyResult,
    CustomerGone,
    CustomerReading,
    SystemResult,
)
from hubtui.tui.format import age
from hubtui.tui.screens.base import HubScreen
from hubtui.tui.screens.dialogs import Ask, ConfirmWrites
from hubtui.tui.text import printable
from hubtui.tui.words import outcome_words, write_words

CHOSEN, NOT_CHOSEN = "● ", "○ "
DIFFERENT = "reverse"  # the characters that differ from the chosen value, as diff tools mark them
FIELD_WIDTH, WHY_WIDTH, CELL_PADDING, SCROLLBAR = 13, 19, 2, 2
_OUTCOME_STYLE = {"written": "green", "dry_run": "yellow", "blocked": "bold red", "disabled": "dim",
                  "failed": "bold red", "changed": "bold red", "unknown": "bold yellow"}
log = logging.getLogger(__name__)


class DiffScreen(HubScreen):
    BINDINGS = [
        Binding("escape,q", "back", "Back", id="diff.back"),
        Binding("j", "cursor('down')", "Down", show=False, id="diff.down"),
        Binding("k", "cursor('up')", "Up", show=False, id="diff.up"),
        Binding("1,h", "pick('hub')", "Hub", id="diff.pick_hub"),
        Binding("2,v", "pick('vtiger')", "vTiger", id="diff.pick_vtiger"),
        Binding("3,e", "pick('economic')", "e-conomic", id="diff.pick_economic"),
        Binding("c", "custom", "Type value", id="diff.custom"),
        Binding("space", "keep", "Leave unchanged", id="diff.keep"),
        Binding("n", "jump(1)", "Next diff", id="diff.next"),
        Binding("p", "jump(-1)", "Previous diff", show=False, id="diff.previous"),
        Binding("a", "toggle_all", "All fields", id="diff.all"),
        Binding("s", "review", "Review & apply", id="diff.apply"),
        Binding("r", "retry", "Retry failed", id="diff.retry"),
        Binding("f5", "reload", "Read again", id="diff.reload"),
    ]
    DEFAULT_CSS = """
    DiffScreen #title { height: auto; padding: 0 1; background: $boost; }
    DiffScreen DataTable { height: 1fr; }
    DiffScreen #focus { height: auto; max-height: 8; padding: 0 1; border-top: solid $accent 40%; }
    DiffScreen #results { height: auto; max-height: 10; padding: 0 1; }
    """

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.reading: CustomerReading | None = None
        self.choices: dict[str, FieldChoice] = {}
        self.show_all = False
        self.last_result: ApplyResult | None = None
        self.rows: list[FieldComparison] = []
        self.widths: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield self.safety_bar()
        yield Static(Text("Reading the customer from the hub, vTiger and e-conomic…"), id="title")
        with Vertical():
            table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True, id="fields")
            yield table
            yield Static(id="focus")
            yield Static(id="results")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Compare"
        self.load()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#fields", DataTable)

    @work(exclusive=True, group="diff-read", exit_on_error=False)
    async def load(self) -> None:
        try:
            reading = await self.hub.services.consistency.read(self.customer_id)
        except CustomerGone as error:
            self.query_one("#title", Static).update(Text(str(error), "bold red"))
            return
        self.reading = reading
        if reading.complete:  # else the read kept the stored count, and so does the list
            self.hub.customer_checked(self.customer_id, reading.comparison.discrepancy_count)
        if reading.settled:
            earlier = ApplyResult({result.system: result for result in reading.settled.values()})
            # Not for r: that re-sends this screen's choices, not what the earlier write sent.
            self._show_results(earlier, "Earlier writes whose outcome was unknown, settled by reading them back:",
                               retry_hint=False)
        # Suggestions are pre-selected; everything else starts as "leave unchanged".
        self.choices = {
            f.field: FieldChoice.pick(f.field, f.suggested) if f.suggested else FieldChoice.keep(f.field)
            for f in reading.comparison.fields
        }
        self._draw()

    def _draw(self) -> None:
        reading = self.reading
        if reading is None:
            return
        labels = self.hub.labels
        comparison = reading.comparison
        title = Text()
        title.append(printable(reading.name), "bold")
        title.append(f"  hub #{reading.customer_id}")
        title.append(f" · vTiger {reading.vtiger_id or '—'} · e-conomic {reading.economic_number or '—'}")
        count = comparison.discrepancy_count
        noun = "discrepancy" if count == 1 else "discrepancies"
        title.append(f"  {count} {noun}", "bold yellow" if count else "green")
        for system in ("vtiger", "economic"):
            read = reading.reads[system]
            if not read.available:
                title.append(f"\n{system_name(system)} unavailable: {printable(read.reason)}", "red")
                if read.cached is not None:
                    title.append(f" — showing values read {age(read.cached_at)}, greyed", "dim")
        self.query_one("#title", Static).update(title)

        table = self.table
        cursor = table.cursor_row
        table.clear(columns=True)
        # Every column gets a fixed width that fits the screen, so nothing is cut without an ellipsis.
        room = max(80, self.size.width) - SCROLLBAR - CELL_PADDING * (2 + len(SYSTEMS)) - FIELD_WIDTH
        value_width = max(12, (room - WHY_WIDTH) // len(SYSTEMS))
        self.widths = {"field": FIELD_WIDTH, **dict.fromkeys(SYSTEMS, value_width),
                       "why": max(WHY_WIDTH, room - value_width * len(SYSTEMS))}
        table.add_column(_cut(Text(labels("diff_field")), FIELD_WIDTH), key="field", width=FIELD_WIDTH)
        for system in SYSTEMS:
            table.add_column(_cut(Text(system_name(system)), value_width), key=system, width=value_width)
        table.add_column(_cut(Text(labels("diff_why")), self.widths["why"]), key="why", width=self.widths["why"])
        self.rows = list(comparison.discrepancies_first() if self.show_all else comparison.discrepancies)
        for field_comparison in self.rows:
            table.add_row(*self._cells(field_comparison, labels), key=field_comparison.field)
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        self._draw_focus()

    def _cells(self, comparison: FieldComparison, labels) -> list[Text]:  # type: ignore[no-untyped-def]
        choice = self.choices.get(comparison.field, FieldChoice.keep(comparison.field))
        reading = self.reading
        assert reading is not None
        spans = self._differences(comparison, choice)
        cells = [Text(labels(comparison.field), "bold" if comparison.differs else "")]
        for system in SYSTEMS:
            value = comparison.values.get(system)
            if value is NOT_IN_SYSTEM:
                cells.append(Text(f"not in {system_name(system)}", "dim italic"))
                continue
            if system not in comparison.values:
                cached = (reading.reads[system].cached or {}).get(comparison.field)
                cells.append(Text(printable(f"{cached or ''} (unavailable)").strip(), "dim strike"))
                continue
            mark = CHOSEN if choice.source == system else NOT_CHOSEN
            cell = Text(mark, "bold" if choice.source == system else "")
            cell.append_text(_marked(value, spans.get(system, ())))
            if choice.source == system:
                cell.stylize("bold")
            cells.append(cell)
        cells.append(self._why(comparison, choice))
        return [_cut(cell, self.widths[column]) for column, cell in zip(("field", *SYSTEMS, "why"), cells,
                                                                         strict=True)]

    def _differences(self, comparison: FieldComparison, choice: FieldChoice) -> dict[str, tuple[Span, ...]]:
        """Per system, the spans of its value that differ from the chosen value (typed, picked or
        suggested, else the hub's or the first one read): nothing where the check finds no difference."""
        values = {system: comparison.value(system) for system in comparison.compared}
        if not comparison.differs or not values:
            return {}
        if choice.source == "custom":
            return highlights(comparison.field, {**values, "custom": choice.value}, "custom")
        for reference in (choice.source, comparison.suggested, "hub", next(iter(values))):
            if reference in values:
                return highlights(comparison.field, values, reference)
        return {}

    def _why(self, comparison: FieldComparison, choice: FieldChoice) -> Text:
        if choice.source == "custom":
            return Text(printable(f"typed: {choice.value}"), "bold cyan")
        if choice.source == "keep":
            return Text("leave unchanged" if comparison.differs else comparison.reason, "dim")
        suggested = comparison.suggested == choice.source
        text = f"{system_name(choice.source)}: {comparison.reason}" if suggested else \
            f"{system_name(choice.source)} (your pick)"
        return Text(printable(text), "" if suggested else "cyan")

    def _focused(self) -> FieldComparison | None:
        row = self.table.cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def _draw_focus(self) -> None:
        """The focused row in full, since columns truncate at 80 columns."""
        comparison = self._focused()
        focus = self.query_one("#focus", Static)
        if comparison is None:
            focus.update(Text("No discrepancies: the systems that could be read agree (a shows all fields)",
                              "green"))
            return
        choice = self.choices.get(comparison.field, FieldChoice.keep(comparison.field))
        spans = self._differences(comparison, choice)
        text = Text()
        text.append(f"{self.hub.labels(comparison.field)}: ", "bold")
        for system in SYSTEMS:
            value = comparison.values.get(system, None)
            text.append(f"{system_name(system)} ", "dim")
            if value is NOT_IN_SYSTEM:
                text.append("not in system")
            elif system not in comparison.values:
                text.append("unavailable")
            else:
                text.append_text(_marked(value, spans.get(system, ())))
            text.append("   ")
        text.append(f"\n{printable(comparison.reason)}", "italic")
        focus.update(text)

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._draw_focus()

    def _redraw_row(self, comparison: FieldComparison) -> None:
        cells = self._cells(comparison, self.hub.labels)
        for column, cell in zip(("field", *SYSTEMS, "why"), cells, strict=True):
            self.table.update_cell(comparison.field, column, cell)
        self._draw_focus()

    def action_cursor(self, direction: str) -> None:
        getattr(self.table, f"action_cursor_{direction}")()

    def action_pick(self, system: str) -> None:
        comparison = self._focused()
        if comparison is None:
            return
        if system not in comparison.values or comparison.values[system] is NOT_IN_SYSTEM:
            self.notify(f"{system_name(system)} cannot be picked for this field: "
                        f"{'not in that system' if system in comparison.values else 'unavailable'}",
                        severity="warning", markup=False)
            return
        self.choices[comparison.field] = FieldChoice.pick(comparison.field, system)  # type: ignore[arg-type]
        self._redraw_row(comparison)

    def action_keep(self) -> None:
        comparison = self._focused()
        if comparison is not None:
            self.choices[comparison.field] = FieldChoice.keep(comparison.field)
            self._redraw_row(comparison)

    def action_custom(self) -> None:
        comparison = self._focused()
        if comparison is None:
            return
        current = self.choices.get(comparison.field)
        start = current.value if current and current.source == "custom" else (
            comparison.value(comparison.suggested) if comparison.suggested else comparison.value("hub")) or ""

        def typed(value: str | None) -> None:
            if value is not None:
                self.choices[comparison.field] = FieldChoice.custom(comparison.field, value)
                self._redraw_row(comparison)

        # The dialog edits text: control characters (which validation refuses anyway) must not reach the terminal.
        start = "".join(char for char in start if char.isprintable())
        label = self.hub.labels(comparison.field)
        self.app.push_screen(Ask(f"New value for {label}", start, partial(validate, comparison.field)), typed)

    def action_jump(self, step: int) -> None:
        if not self.rows:
            return
        row = self.table.cursor_row
        for offset in range(1, len(self.rows) + 1):
            candidate = (row + step * offset) % len(self.rows)
            if self.rows[candidate].differs:
                self.table.move_cursor(row=candidate)
                return

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._draw()

    def action_reload(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_review(self) -> None:
        if self.reading is None or self._busy():
            return
        try:
            plan = build_plan(self.reading.comparison, self.choices)
        except InvalidValue as error:
            self.notify(printable(str(error.message)), title="Invalid value", severity="error", markup=False)
            return
        if plan.is_empty:
            why = "; ".join(printable(s.reason) for s in plan.skipped)
            self.notify("Nothing to write: every system already holds the chosen values"
                        + (f" ({why})" if why else ""), markup=False)
            return
        lines = self._plan_lines(plan)

        def confirmed(yes: bool | None) -> None:
            if yes and not self._busy():
                self.apply(plan)

        any_live = any(self.hub.services.safety.of_system(system).live for system in plan.systems)
        self.app.push_screen(ConfirmWrites(lines, any_live=any_live), confirmed)

    def _plan_lines(self, plan: WritePlan) -> list[Text]:
        labels = self.hub.labels
        lines = []
        for system in plan.systems:
            header = Text()
            header.append(system_name(system), "bold")
            header.append(f"  [{write_words(labels, self.hub.services.safety.of_system(system))}]", "bold yellow")
            lines.append(header)
            before, after = plan.audit_values(system)
            for name in after:
                old, new = before[name] or "(empty)", after[name] or "(empty)"
                lines.append(Text(printable(f"   {labels(name)}: {old} → {new}")))
        for skipped in plan.skipped:
            where = system_name(skipped.system)
            why = f"{where} not written: {labels(skipped.field)} — {skipped.reason}"
            lines.append(Text(printable(why), "dim"))
        return lines

    def _busy(self) -> bool:
        """While a write runs, a key that would start another is ignored, and the screen says so."""
        if not self.hub.writes:
            return False
        self.notify("writing… the write under way finishes first; then press the key again", markup=False)
        return True

    def apply(self, plan: WritePlan, only: list[str] | None = None) -> None:
        assert self.reading is not None
        self._start(self.hub.services.consistency.apply(self.reading, plan, only=only))

    def _start(self, write: Coroutine[Any, Any, ApplyResult]) -> None:
        """Run `write` as the app's task: neither a key, nor leaving this screen, nor ctrl+q cancels it."""
        self.query_one("#results", Static).update(Text("Writing…", "bold"))
        self.hub.run_write(write).add_done_callback(self._written)

    def _written(self, task: asyncio.Task[ApplyResult]) -> None:
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or error is not None:
            log.error("writing customer %s did not finish", self.customer_id, exc_info=error)
            self.app.notify(printable(f"The write did not finish: {error or 'cancelled'}; the audit log (F3) "
                                      "says what was sent, and opening the customer settles it"),
                            severity="error", markup=False)
            if self.is_attached:
                self.query_one("#results", Static).update(Text("The write did not finish", "bold red"))
            return
        result = task.result()
        if not self.is_attached:
            # The person left the screen meanwhile: tell them how it went wherever they are.
            summary = "; ".join(f"{system_name(s)} {outcome_words(self.hub.labels, r.outcome, r.message)}"
                                for s, r in result.results.items())
            self.app.notify(printable(f"{self.reading.name if self.reading else ''}: {summary}"), markup=False)
            return
        self.last_result = result
        self._show_results(result)
        if result.reading is not None:
            # The choices stay: fields now written agree, so a retry plans only what is still missing.
            self.reading = result.reading
            self._draw()
            if result.reading.complete:
                self.hub.customer_checked(self.customer_id, result.reading.comparison.discrepancy_count)

    def _show_results(self, result: ApplyResult, heading: str = "", *, retry_hint: bool = True) -> None:
        text = Text(heading + "\n" if heading else "", "bold")
        for system, outcome in result.results.items():
            text.append(f"{system_name(system)}: ", "bold")
            text.append(outcome_words(self.hub.labels, outcome.outcome, outcome.message),
                        _OUTCOME_STYLE[outcome.outcome])
            fields = ", ".join(self.hub.labels(name) for name in outcome.fields)
            text.append(printable(f" ({fields})"))
            # "written (confirmed by re-read)" says it already: the message goes on with what happened.
            message = outcome.message.removeprefix(CONFIRMED).lstrip("; ")
            if message:
                text.append(printable(f" — {message}"), "dim" if outcome.outcome == "written" else "")
            if outcome.outcome == "dry_run" and outcome.payload:
                text.append("\n  would send: ", "dim")
                text.append(printable(json.dumps(outcome.payload, ensure_ascii=False, default=str)), "dim")
            text.append("\n")
        if retry_hint and result.failed_systems:
            text.append("Press r to retry the failed system(s) alone (an UNKNOWN one is read back and settled "
                        "before anything is sent); F5 reads the customer again.", "bold")
        self.query_one("#results", Static).update(text)

    def action_retry(self) -> None:
        if self._busy():
            return
        if self.reading is None or self.last_result is None or not self.last_result.failed_systems:
            self.notify("Nothing to retry", markup=False)
            return
        self._start(self._retry(self.last_result, self.last_result.failed_systems))

    async def _retry(self, last: ApplyResult, systems: list[str]) -> ApplyResult:
        """Read again (which settles a write whose outcome was unknown), then send again only what did not
        land: the plan starts from what the systems hold now, and the lost-update guard compares with that."""
        reading = await self.hub.services.consistency.read(self.customer_id)
        kept: dict[str, SystemResult] = {}
        for system in systems:
            earlier = last.results[system]
            settled = reading.settled.get(earlier.audit_id or 0)
            if settled is not None and settled.outcome != "failed":
                kept[system] = settled  # written after all, or changed by someone: nothing is sent
            elif settled is None and earlier.outcome == "unknown":
                kept[system] = earlier  # still unknown (unreadable, or in flight elsewhere): nothing is sent
        for system in systems:
            if system not in kept and not reading.reads[system].available:
                kept[system] = SystemResult(system, "failed", last.results[system].fields,
                                            f"still unavailable: {reading.reads[system].reason}")
        again = [system for system in systems if system not in kept]
        if not again:
            return ApplyResult(kept, reading)
        result = await self.hub.services.consistency.apply(reading, build_plan(reading.comparison, self.choices),
                                                  only=again)
        return ApplyResult({**kept, **result.results}, result.reading)


def _marked(value: str | None, spans: tuple[Span, ...]) -> Text:
    """The value as plain text with its differing characters marked; `printable` keeps every character one
    character, so the spans still point at the right ones."""
    text = Text(printable(value) if value is not None else "(empty)")
    for start, end in spans if value is not None else ():
        text.stylize(DIFFERENT, start, end)
    return text


def _cut(text: Text, width: int) -> Text:
    """`text` in one line of `width` cells; a longer one is cut and ends in "…", marked when what was cut
    holds a difference, so a difference beyond the column's edge is still seen."""
    text.no_wrap = True
    if text.cell_len <= width:
        return text
    hidden = any(span.style == DIFFERENT and span.end > width - 1 for span in text.spans)
    text.truncate(width - 1)
    text.append("…", DIFFERENT if hidden else "")
    return text
