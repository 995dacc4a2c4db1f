"""The hourly rates screen (F7), driven with keys on the real Postgres."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from time_entries import BLAA, Entry, seed
from tui_pilot import answer, quiet, screen_text, settle, wait_for

from hubtui.config import Settings
from hubtui.services.hub import HubServices
from hubtui.store.db import Database
from hubtui.tui.app import HubApp
from hubtui.tui.screens.customers import CustomerListScreen
from hubtui.tui.screens.dialogs import Ask
from hubtui.tui.screens.rates import RatesScreen

SIZE = (110, 34)


async def open_rates(pilot: Pilot[None]) -> RatesScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen) and app.screen.loaded,
                   "the customer list to load")
    await pilot.press("f7")
    await wait_for(pilot, lambda: isinstance(app.screen, RatesScreen), "the rates screen to open")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, RatesScreen)
    return screen


async def edit_rate_of(pilot: Pilot[None], screen: RatesScreen, customer_id: int) -> Ask:
    """Arrow down to the customer's row and press Enter: the rate dialog."""
    table = screen.query_one(DataTable)
    for _ in range(table.row_count):
        if table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == str(customer_id):
            break
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, Ask), f"expected the rate dialog, got {dialog!r}"
    return dialog


def notes(app: HubApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def rate(db: Database, customer_id: int) -> Decimal | None:
    return await db.pool.fetchval("select hourly_rate from customer where id = $1", customer_id)


async def audit(db: Database) -> list[dict[str, Any]]:
    rows = await db.pool.fetch("select event_type, customer_id, before, after from audit_event order by id")
    return [{**row, "before": json.loads(row["before"]), "after": json.loads(row["after"])} for row in rows]


async def test_f7_refuses_a_rate_the_column_cannot_hold_in_the_dialog_and_keeps_the_old_one(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await seed(db, [Entry(BLAA, 60)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rates(pilot)
        dialog = await edit_rate_of(pilot, screen, BLAA)

        message = await answer(pilot, "999999999999")
        assert "999999999999 is too large" in message and "at most 9,999,999,999.99" in message
        assert app.screen is dialog  # still asking: nothing was sent to the database
        assert "at most 9,999,999,999.99" in caplog.text
        assert await rate(db, BLAA) == Decimal("925.50") and await audit(db) == []

        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and await audit(db) == []
        assert "925.50 DKK" in screen_text(app)


async def test_f7_saves_a_rate_with_one_audit_row_and_says_so_when_the_customer_is_gone(
    db: Database, settings: Settings
) -> None:
    await seed(db, [Entry(BLAA, 60)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rates(pilot)
        await edit_rate_of(pilot, screen, BLAA)
        assert await answer(pilot, "1 250,75") == ""
        await settle(pilot)
        assert await rate(db, BLAA) == Decimal("1250.75")
        assert await audit(db) == [{"event_type": "rate_changed", "customer_id": BLAA,
                                    "before": {"hourly_rate": "925.50"}, "after": {"hourly_rate": "1250.75"}}]
        assert "1250.75 DKK" in screen_text(app) and "Rate saved" in notes(app)

        # Someone removes the customer while the list is on screen: the save says so, nothing is written.
        await edit_rate_of(pilot, screen, BLAA)
        await db.pool.execute("delete from time_entry where customer_id = $1", BLAA)
        await db.pool.execute("delete from customer where id = $1", BLAA)
        assert await answer(pilot, "900") == ""
        await settle(pilot)
        assert any(f"customer {BLAA} no longer exists in the hub; nothing was saved" in note for note in notes(app))
        assert len(await audit(db)) == 1
