"""The audit log (F3) and its undo, driven with keys against the real sandboxes and a real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sandbox_hub import COMPANIES, LIVE, N, seeded
from textual.pilot import Pilot
from textual.widgets import DataTable, Input
from tui_pilot import notes, quiet, screen_text, start, wait_for

from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient
from hubtui.connectors.vtiger import VtigerClient
from hubtui.core.plan import FieldChoice, build_plan
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.consistency import ConsistencyService
from hubtui.services.demo import replace_all_customers
from hubtui.services.hub import HubServices
from hubtui.store.audit import AuditRecord, record
from hubtui.store.db import Database
from hubtui.tui.app import HubApp
from hubtui.tui.screens.audit import AuditScreen
from hubtui.tui.screens.customers import CustomerListScreen
from hubtui.tui.screens.dialogs import ConfirmWrites

SIZE = (120, 34)
CUSTOMER = 1  # company index 0: nothing planted, the three systems agree
NEW_CITY = "Nyborg"


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=N)) as running:
        yield running


async def write_city(db: Database, settings: Settings, city: str) -> dict[str, int]:
    """The customer's city written to every system under `settings`; the audit event id per system."""
    async with VtigerClient(settings) as vtiger, EconomicClient(settings) as economic:
        service = ConsistencyService(db, settings, vtiger, economic)
        reading = await service.read(CUSTOMER)
        result = await service.apply(reading, build_plan(reading.comparison, [FieldChoice.custom("city", city)]))
    return {system: outcome.audit_id for system, outcome in result.results.items() if outcome.audit_id}


async def open_audit(pilot: Pilot[None]) -> AuditScreen:
    await start(pilot)
    await pilot.press("f3")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen) and bool(app.screen.events),
                   "the audit log to load")
    screen = app.screen
    assert isinstance(screen, AuditScreen)
    return screen


async def cursor_to(pilot: Pilot[None], screen: AuditScreen, event_id: int) -> None:
    """Arrow up or down to the event's row."""
    table = screen.query_one(DataTable)
    target = table.get_row_index(str(event_id))
    while table.cursor_row != target:
        await pilot.press("down" if table.cursor_row < target else "up")


async def test_u_on_a_blocked_write_says_why_and_opens_no_dialog_u_on_a_written_one_shows_now_and_restore(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    live = await seeded(db, settings, sandbox, **LIVE)
    written = await write_city(db, live, NEW_CITY)
    # Then a write that e-conomic blocks (READ-ONLY) and vTiger skips (sync off); the hub takes it.
    blocked_settings = live.model_copy(update={"economic_read_only": True, "vtiger_sync_enabled": False})
    blocked = await write_city(db, blocked_settings, "Blokeret By")
    # Someone changes vTiger's city after the write: the undo dialog must say so.
    account_id = COMPANIES[CUSTOMER - 1].vtiger_id
    sandbox.vtiger.accounts[account_id] = {**sandbox.vtiger.accounts[account_id], "bill_city": "Svendborg"}
    sandbox.vtiger.reset_log()
    sandbox.economic.reset_log()
    original = COMPANIES[CUSTOMER - 1].city

    app = HubApp(HubServices(live, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_audit(pilot)

        await cursor_to(pilot, screen, blocked["economic"])
        await pilot.press("u")
        await wait_for(pilot, lambda: any("it was BLOCKED" in note for note in notes(app)), "the reason")
        assert isinstance(app.screen, AuditScreen)  # no dialog
        assert any(f"No undo of event {blocked['economic']}: nothing was written: it was BLOCKED" in note
                   for note in notes(app))

        await cursor_to(pilot, screen, written["vtiger"])
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmWrites), "the undo dialog")
        text = screen_text(app)
        assert "vTiger  [LIVE]" in text and "LIVE: this changes real data in the remote systems." in text
        assert "Svendborg" in text and original in text  # now, and what it would restore
        assert f"changed since: now Svendborg (the event wrote {NEW_CITY})" in text

        await pilot.press("enter")  # Enter alone never confirms a LIVE undo
        await pilot.pause()
        assert isinstance(app.screen, ConfirmWrites) and sandbox.vtiger.write_log == []
        await pilot.press("y")
        await wait_for(pilot, lambda: any(note.startswith("Undo vTiger: written") for note in notes(app)),
                       "the undo to be written")
        (revise,) = sandbox.vtiger.write_log
        assert revise.body["element"]["bill_city"] == original
        assert sandbox.vtiger.accounts[account_id]["bill_city"] == original

        # The same event again: already undone, says by which event, no dialog.
        await app.workers.wait_for_complete()
        await cursor_to(pilot, screen, written["vtiger"])
        await pilot.press("u")
        await wait_for(pilot, lambda: any("already undone by event" in note for note in notes(app)), "the reason")
        assert isinstance(app.screen, AuditScreen) and len(sandbox.vtiger.write_log) == 1


async def test_typing_on_the_table_filters_folding_danish_letters_and_q_goes_back(
    db: Database, settings: Settings
) -> None:
    await replace_all_customers(db, COMPANIES)
    names = {customer_id: COMPANIES[customer_id - 1].name for customer_id in (1, 7, 20)}
    assert [names[7], names[20]] == ["Sønderborg Advokater A/S", "Sønderborg Bager IVS"] and "ø" in names[1]
    for customer_id in names:
        await record(db.pool, AuditRecord(event_type="customer_update", entity_type="customer",
                                          customer_id=customer_id, system="hub", outcome="written"))
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_audit(pilot)
        table = screen.query_one(DataTable)
        assert table.has_focus and table.row_count == 3
        await pilot.press(*"sonderborg")  # typed on the table: the letters go to the filter
        await wait_for(pilot, lambda: table.row_count == 2, "the filter to leave the two Sønderborg customers")
        assert screen.query_one("#audit-filter", Input).value == "sonderborg"
        assert {event.customer_name for event in screen.events} == {names[7], names[20]}
        await pilot.press("down")  # the arrows move the table while the filter has the keys
        assert table.cursor_row == 1
        await pilot.press("enter")  # Enter leaves the filter for the table; still two
        assert table.has_focus and table.row_count == 2
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the list after q")

        screen = await open_audit(pilot)  # Esc goes back too, even while typing in the filter
        await pilot.press(*"SOENDERBORG")
        await wait_for(pilot, lambda: screen.query_one(DataTable).row_count == 2, "the folded filter")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the list after Esc")
