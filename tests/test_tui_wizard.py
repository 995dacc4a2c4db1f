"""The time-entry approval wizard (F4) and the order it leads to, driven with keys on the real Postgres."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input
from time_entries import BLAA, GUDENAA, MOLS, Entry, name, seed
from tui_pilot import RAW_CONTROL, answer, notes, quiet, screen_text, settle, wait_for

from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient
from hubtui.sandbox.server import SandboxOptions, serve_sandboxes
from hubtui.services.approval_queue import ApprovalQueue, DecisionRefused
from hubtui.services.hub import HubServices
from hubtui.services.order_export import OrderExport
from hubtui.services.orders import Orders
from hubtui.store.db import Database
from hubtui.tui.app import HubApp
from hubtui.tui.screens.customers import CustomerListScreen
from hubtui.tui.screens.dialogs import Ask, ConfirmWrites
from hubtui.tui.screens.orders import CustomerPicker, OrderScreen, OrdersScreen
from hubtui.tui.screens.wizard import WizardScreen

SIZE = (110, 34)
SUPPORT = (80, 24)  # how support staff see it, in tmux


def wizard(app: HubApp) -> WizardScreen:
    screen = app.screen
    assert isinstance(screen, WizardScreen), f"expected the wizard, got {screen!r}"
    return screen


async def open_wizard(pilot: Pilot[None]) -> WizardScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen) and app.screen.loaded,
                   "the customer list to load")
    await pilot.press("f4")
    await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen), "the wizard to open")
    await settle(pilot)
    return wizard(app)


def shown_id(app: HubApp) -> int | None:
    entry = wizard(app).entry
    return entry.id if entry else None


async def press(pilot: Pilot[None], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def row(db: Database, entry_id: int) -> dict[str, object]:
    record = await db.pool.fetchrow("select * from time_entry where id = $1", entry_id)
    assert record is not None
    return dict(record)


async def statuses(db: Database) -> dict[int, str]:
    return {r["id"]: r["status"] for r in await db.pool.fetch("select id, status from time_entry")}


def card_row(text: str, label: str, value: str) -> bool:
    return re.search(rf"{re.escape(label)}\s+{re.escape(value)}", text) is not None


def table_row(*cells: str) -> str:
    """A regex for one row of a Rich table as plain text: the cells in order, borders and padding between."""
    return r"[\s│]+".join(re.escape(cell) for cell in cells)


# --- the card ---------------------------------------------------------------------------------------


async def test_card_shows_everything_to_check(db: Database, settings: Settings) -> None:
    ids = await seed(db, [
        Entry(MOLS, 95, "Printer setup on 2nd floor", date(2026, 1, 21), "Mette Hansen", "CC123"),
        Entry(MOLS, 20, "Password reset", date(2026, 1, 22)),
        Entry(BLAA, 60, "Server check", date(2026, 1, 20)),
    ])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        # Blå comes first by name; its rate is its own.
        assert shown_id(app) == ids[2]
        text = screen_text(app)
        assert f"1/3 · {name(BLAA)} 1/1" in text
        assert card_row(text, "Billable hours", "1.00 h")
        assert card_row(text, "Hourly rate", "925.50 DKK/h")
        assert "(default rate)" not in text
        assert card_row(text, "Amount", "925.50 DKK")
        await press(pilot, "a")
        assert isinstance(app.screen, ConfirmWrites)  # Blå's last entry: the order is offered
        await press(pilot, "n")

        assert shown_id(app) == ids[0]
        text = screen_text(app)
        assert f"2/3 · {name(MOLS)} 1/2" in text
        assert card_row(text, "Customer", name(MOLS))
        assert card_row(text, "Contact", "Mette Hansen")
        assert card_row(text, "Date", "21.01.2026")
        assert card_row(text, "Duration", "1:35 h (95 min)")
        assert card_row(text, "Billable hours", "1.75 h")  # 95 min rounded up to 105 min
        assert card_row(text, "Hourly rate", "850.00 DKK/h (default rate)")
        assert card_row(text, "Amount", "1487.50 DKK")
        assert card_row(text, "Description", "Printer setup on 2nd floor")
        assert card_row(text, "Related case", "CC123")
        # The safety state is on this screen too.
        assert "time export: READ-ONLY" in text
        await press(pilot, "a")

        text = screen_text(app)
        assert f"3/3 · {name(MOLS)} 2/2" in text
        assert card_row(text, "Duration", "0:20 h (20 min)")
        assert card_row(text, "Billable hours", "0.50 h")  # 20 min rounded up to 30 min
        assert card_row(text, "Amount", "425.00 DKK")


async def test_markup_control_characters_and_missing_values_are_shown_literally(
    db: Database, settings: Settings
) -> None:
    await seed(db, [
        Entry(MOLS, 15, "[bold]x[/ then \x1b[31mred\x1b[0m [link=http://evil]y[/link]", contact="[i]Ann[/i]",
              related_case="\x1b]0;title\x07"),
        Entry(MOLS, 30, "Internal meeting", date(2026, 1, 22), contact=None, related_case=None, billable=False),
    ])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        text = screen_text(app)
        assert "[bold]x[/ then ␛[31mred␛[0m [link=http://evil]y[/link]" in text
        assert card_row(text, "Contact", "[i]Ann[/i]")
        assert card_row(text, "Related case", "␛]0;title␇")
        assert not RAW_CONTROL.search(text)

        await press(pilot, "s")
        text = screen_text(app)
        assert card_row(text, "Contact", "—")
        assert card_row(text, "Related case", "—")
        # Not billable: `a` would approve 0 hours, and the card says so under them.
        assert card_row(text, "Billable hours", "0.00 h")
        assert "marked NOT billable in vTiger: a approves 0 h; e types hours to bill" in text
        assert card_row(text, "Amount", "0.00 DKK")


# --- decisions --------------------------------------------------------------------------------------


async def test_a_approves_with_the_rounded_hours_and_shows_the_next_entry(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 95), Entry(MOLS, 61, work_date=date(2026, 1, 22)),
                          Entry(MOLS, 5, work_date=date(2026, 1, 23))])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        assert shown_id(app) == ids[0]
        await press(pilot, "a")  # one key: no dialog, straight to the next entry
        assert isinstance(app.screen, WizardScreen)
        assert shown_id(app) == ids[1]
        first = await row(db, ids[0])
        assert first["status"] == "approved"
        assert first["billable_hours"] == Decimal("1.75")
        assert first["decided_at"] is not None
        assert first["claimed_by"] is None
        text = screen_text(app)
        assert f"Approved entry {ids[0]}: 1.75 h" in text
        assert f"2/3 · {name(MOLS)} 2/3" in text
        await press(pilot, "a")
        assert (await row(db, ids[1]))["billable_hours"] == Decimal("1.25")  # 61 min → 75 min
        assert shown_id(app) == ids[2]
        events = await db.pool.fetch("select event_type, entity_id from audit_event order by id")
        assert [(e["event_type"], e["entity_id"]) for e in events] == [
            ("entry_approved", str(ids[0])), ("entry_approved", str(ids[1]))]


def send_key(app: HubApp, key: str) -> None:
    """A key as the terminal driver delivers it: at once, without waiting for the screen like pilot.press."""
    app._driver.send_message(events.Key(key, key if len(key) == 1 else None))  # type: ignore[union-attr]


async def audited_approvals(db: Database) -> tuple[list[int], list[int]]:
    """(approved entry ids, entry ids of entry_approved audit events), both sorted."""
    approved = [r["id"] for r in await db.pool.fetch("select id from time_entry where status = 'approved' order by id")]
    events = sorted(int(r["entity_id"]) for r in await db.pool.fetch(
        "select entity_id from audit_event where event_type = 'entry_approved'"))
    return approved, events


async def test_keys_typed_ahead_never_half_decide(db: Database, settings: Settings) -> None:
    """A support person who knows the next entries are fine presses `a a a` without waiting for the screen.

    Whether the extra keys approve the following entries or are ignored is the screen's choice; what must
    never happen is a decision stored without its audit event or reported as someone else's."""
    ids = await seed(db, [Entry(MOLS, 15, work_date=date(2026, 1, day)) for day in range(1, 5)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        for _ in range(3):
            send_key(app, "a")
        await pilot.pause()
        await settle(pilot)
        approved, audited = await audited_approvals(db)
        assert approved and approved == audited
        assert approved == ids[:len(approved)]
        assert shown_id(app) == ids[len(approved)]
        assert [d.entry_id for d in wizard(app).session.decisions] == approved
        assert "someone else" not in screen_text(app)


async def test_a_second_key_during_a_slow_decision_does_not_lose_its_audit(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 15, work_date=date(2026, 1, day)) for day in range(1, 4)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        # A slow moment in the database, made deterministic: the audit table is briefly locked by someone
        # else, so the first `a` has stored the approval and waits to write its audit event.
        async with db.pool.acquire() as blocker:
            lock = blocker.transaction()
            await lock.start()
            await blocker.execute("lock table audit_event in share mode")
            send_key(app, "a")
            deadline = time.monotonic() + 10
            while not await db.pool.fetchval(
                "select count(*) from pg_locks where relation = 'audit_event'::regclass and not granted"
            ):
                assert time.monotonic() < deadline, "the first approval never reached the audit insert"
                await asyncio.sleep(0.005)
            send_key(app, "a")  # pressed again, e.g. because the screen had not changed yet
            await pilot.pause(0.2)
            await lock.rollback()
        await pilot.pause()
        await settle(pilot)
        approved, audited = await audited_approvals(db)
        assert ids[0] in approved
        assert approved == audited, f"approved {approved}, but audit events only for {audited}"
        assert "someone else decided it first" not in screen_text(app)


async def test_r_rejects_only_with_a_reason(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 45), Entry(MOLS, 30, work_date=date(2026, 1, 22))])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        await press(pilot, "r")
        assert isinstance(app.screen, Ask)
        assert f"Why is entry {ids[0]} not billed?" in screen_text(app)
        assert "Write a reason" in await answer(pilot, "")
        assert "Write a reason" in await answer(pilot, "   ")
        assert (await row(db, ids[0]))["status"] == "pending"
        # Esc cancels: nothing decided, the same entry still shown.
        await press(pilot, "escape")
        assert shown_id(app) == ids[0]
        assert (await row(db, ids[0]))["status"] == "pending"

        await press(pilot, "r")
        assert await answer(pilot, "  covered by the service agreement ") == ""
        first = await row(db, ids[0])
        assert first["status"] == "rejected"
        assert first["reject_reason"] == "covered by the service agreement"
        assert first["billable_hours"] is None
        assert shown_id(app) == ids[1]
        assert f"Rejected entry {ids[0]}: covered by the service agreement" in screen_text(app)


async def test_e_validates_the_hours_in_the_dialog_and_a_saves_a_danish_comma(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 95), Entry(MOLS, 30, work_date=date(2026, 1, 22))])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        await press(pilot, "e", "escape")  # Esc: nothing decided, the same entry still shown
        assert shown_id(app) == ids[0]
        assert (await row(db, ids[0]))["status"] == "pending"
        await press(pilot, "e")
        dialog = app.screen
        assert isinstance(dialog, Ask)
        assert dialog.query_one(Input).value == "1.75"  # starts at the rounded hours
        for typed, message in [
            ("0", "Billable hours must be more than 0"),
            ("25", "Billable hours can be at most 24 for one entry"),
            ("1.234", "Billable hours can have at most 2 decimals, e.g. 1.25"),
            ("abc", "'abc' is not a number of hours; type e.g. 1.5, 1,5 or 1:30"),
            ("-1", "Billable hours must be more than 0"),
            ("", "Type the billable hours"),
        ]:
            assert message in await answer(pilot, typed), typed
            assert app.screen is dialog, typed
            assert message in screen_text(app), typed
            current = await row(db, ids[0])
            assert (current["status"], current["billable_hours"]) == ("pending", None), typed
        assert await answer(pilot, "1,5") == ""
        # `e` only changes the card; `a` decides (this test expected `e` to approve at once before).
        assert shown_id(app) == ids[0]
        current = await row(db, ids[0])
        assert (current["status"], current["billable_hours"]) == ("pending", None)
        assert card_row(screen_text(app), "Billable hours", "1.50 h")
        await press(pilot, "a")
        first = await row(db, ids[0])
        assert (first["status"], first["billable_hours"]) == ("approved", Decimal("1.50"))
        assert shown_id(app) == ids[1]
        assert f"Approved entry {ids[0]}: 1.50 h" in screen_text(app)
        audit = await db.pool.fetchval("select after ->> 'billable_hours' from audit_event "
                                       "where event_type = 'entry_approved' and entity_id = $1", str(ids[0]))
        assert audit == "1.50"


async def test_s_skips_and_leaves_the_entry_pending(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 15), Entry(MOLS, 30, work_date=date(2026, 1, 22))])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        await press(pilot, "s")
        assert shown_id(app) == ids[1]
        assert f"Skipped entry {ids[0]}" in screen_text(app)
        skipped = await row(db, ids[0])
        assert (skipped["status"], skipped["claimed_by"]) == ("pending", None)  # free for someone else
        await press(pilot, "s")
        assert shown_id(app) is None
        text = screen_text(app)
        assert "Queue done" in text
        assert "No pending time entries (you skipped 2; reopen to see them again)" in text
        await press(pilot, "a", "r", "e", "s")  # nothing left to decide: no dialog, no crash
        assert isinstance(app.screen, WizardScreen)
        assert set((await statuses(db)).values()) == {"pending"}


async def test_u_undoes_the_last_decision(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 15, work_date=date(2026, 1, day)) for day in (1, 2, 3)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        await press(pilot, "a")
        await press(pilot, "r")
        await answer(pilot, "internal work")
        assert shown_id(app) == ids[2]
        assert await statuses(db) == {ids[0]: "approved", ids[1]: "rejected", ids[2]: "pending"}

        await press(pilot, "u")  # the rejection
        assert shown_id(app) == ids[1]
        undone = await row(db, ids[1])
        assert (undone["status"], undone["reject_reason"], undone["decided_at"]) == ("pending", None, None)
        text = screen_text(app)
        assert f"Entry {ids[1]} is pending again" in text
        assert f"2/3 · {name(MOLS)} 2/3" in text

        await press(pilot, "u")  # the approval
        assert shown_id(app) == ids[0]
        undone = await row(db, ids[0])
        assert (undone["status"], undone["billable_hours"]) == ("pending", None)
        assert f"1/3 · {name(MOLS)} 1/3" in screen_text(app)

        await press(pilot, "u")
        assert "Nothing to undo in this session" in screen_text(app)
        assert shown_id(app) == ids[0]

        # Deciding again after an undo works, and the queue goes on in order.
        await press(pilot, "a")
        assert shown_id(app) == ids[1]
        await press(pilot, "a")
        assert shown_id(app) == ids[2]
        assert await statuses(db) == {ids[0]: "approved", ids[1]: "approved", ids[2]: "pending"}
        undone_events = await db.pool.fetchval(
            "select count(*) from audit_event where event_type = 'entry_decision_undone'")
        assert undone_events == 2


async def test_e_changes_the_hours_on_the_card_and_leaves_the_decision_to_a_r_or_s(
    db: Database, settings: Settings
) -> None:
    ids = await seed(db, [Entry(MOLS, 95, work_date=date(2026, 1, day)) for day in (1, 2, 3)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        await press(pilot, "e")
        assert await answer(pilot, "2") == ""
        text = screen_text(app)
        assert shown_id(app) == ids[0]  # nothing decided: the same entry, with the typed hours
        assert card_row(text, "Billable hours", "2.00 h")
        assert "typed by you: a approves these" in text
        assert card_row(text, "Amount", "1700.00 DKK")  # 2.00 h at the default 850.00
        assert f"1/3 · {name(MOLS)} 1/3" in text
        assert (f"Entry {ids[0]}: 2.00 h typed, not saved yet; a approves them, s skips and forgets them"
                in re.sub(r"\s+", " ", text)), text
        assert (await row(db, ids[0]))["status"] == "pending"
        assert await db.pool.fetchval("select count(*) from audit_event") == 0

        await press(pilot, "a")  # approves what the card said
        first = await row(db, ids[0])
        assert (first["status"], first["billable_hours"]) == ("approved", Decimal("2.00"))
        assert await db.pool.fetchval("select after ->> 'billable_hours' from audit_event "
                                      "where event_type = 'entry_approved'") == "2.00"

        await press(pilot, "e")
        await answer(pilot, "3")
        await press(pilot, "r")  # r still rejects an entry with typed hours
        await answer(pilot, "internal work")
        second = await row(db, ids[1])
        assert (second["status"], second["billable_hours"]) == ("rejected", None)

        await press(pilot, "e")
        await answer(pilot, "0,5")
        assert card_row(screen_text(app), "Billable hours", "0.50 h")
        await press(pilot, "s")  # skipping forgets the typed hours
        assert shown_id(app) is None
        third = await row(db, ids[2])
        assert (third["status"], third["billable_hours"]) == ("pending", None)
        await press(pilot, "q", "f4")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen), "the wizard to open again")
        await settle(pilot)
        assert shown_id(app) == ids[2]
        text = screen_text(app)
        assert card_row(text, "Billable hours", "1.75 h") and "typed by you" not in text


async def test_an_entry_not_billable_in_vtiger_is_approved_at_0_hours_and_put_on_no_order_line(
    db: Database, settings: Settings
) -> None:
    ids = await seed(db, [
        Entry(BLAA, 75, "Internal meeting", billable=False),
        Entry(GUDENAA, 75, "Coffee machine", date(2026, 1, 20), billable=False),
        Entry(GUDENAA, 75, "Firewall", date(2026, 1, 21), billable=False),
        Entry(GUDENAA, 60, "Backup", date(2026, 1, 22)),
    ])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        assert shown_id(app) == ids[0]
        text = screen_text(app)
        assert card_row(text, "Billable hours", "0.00 h")
        assert card_row(text, "Amount", "0.00 DKK")
        assert "marked NOT billable in vTiger: a approves 0 h; e types hours to bill" in re.sub(r"\s+", " ", text)
        await press(pilot, "a")
        assert (await row(db, ids[0]))["billable_hours"] == Decimal("0.00")
        assert f"Approved entry {ids[0]}: 0.00 h" in screen_text(app)
        # Blå's only time is not billable: nothing to order, so no offer.
        assert isinstance(app.screen, WizardScreen)

        assert shown_id(app) == ids[1]  # 1.25 h worked at 1100.00/h: 1,375 DKK if it were billed
        assert card_row(screen_text(app), "Amount", "0.00 DKK")
        await press(pilot, "a")
        assert (await row(db, ids[1]))["billable_hours"] == Decimal("0.00")
        await press(pilot, "e")  # ... unless the person types hours to bill
        assert app.screen.query_one(Input).value == "0.00"
        await answer(pilot, "1,25")
        text = screen_text(app)
        assert card_row(text, "Billable hours", "1.25 h") and card_row(text, "Amount", "1375.00 DKK")
        assert "typed by you: a approves these" in text and "NOT billable" not in text
        await press(pilot, "a")
        assert (await row(db, ids[2]))["billable_hours"] == Decimal("1.25")
        await press(pilot, "a")
        assert isinstance(app.screen, ConfirmWrites)
        await press(pilot, "y")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), "the order preview")
        await settle(pilot)
        order = await db.pool.fetchrow("select * from billing_order")
        assert (order["customer_id"], order["total_amount"]) == (GUDENAA, Decimal("2475.00"))
        lines = await db.pool.fetch("select description, quantity from order_line where order_id = $1 "
                                    "order by line_number", order["id"])
        assert [(line["description"][:10], line["quantity"]) for line in lines] == [
            ("21.01.2026", Decimal("1.25")), ("22.01.2026", Decimal("1.00"))]
        # The 0-hour entry is approved, on no order and no line; nothing to bill is left for Gudenå.
        coffee = await row(db, ids[1])
        assert (coffee["status"], coffee["order_id"]) == ("approved", None)
        assert not await ApprovalQueue(db, settings).ready_for_order(GUDENAA)
        assert not await ApprovalQueue(db, settings).ready_for_order(BLAA)
        assert await db.pool.fetchval("select count(*) from billing_order") == 1


async def test_progress_is_this_sessions_place_after_any_mix_of_approve_reject_skip_and_undo(
    db: Database, settings: Settings
) -> None:
    await seed(db, [Entry(BLAA, 15)] + [Entry(MOLS, 15, work_date=date(2026, 1, day)) for day in range(1, 6)])
    app = HubApp(HubServices(quiet(settings), db))
    blaa, mols = name(BLAA), name(MOLS)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        assert f"1/6 · {blaa} 1/1" in screen_text(app)
        steps = [  # (keys, the entry shown after them by its Mols day (0: Blå's), the progress line)
            (["a", "n"], 1, f"2/6 · {mols} 1/5"),
            (["a"], 2, f"3/6 · {mols} 2/5"),
            (["s"], 3, f"4/6 · {mols} 3/5"),
            (["r", "duplicate"], 4, f"5/6 · {mols} 4/5"),
            (["u"], 3, f"4/6 · {mols} 3/5"),  # the undone rejection gets back its place
            (["s"], 4, f"5/6 · {mols} 4/5"),
            (["a"], 5, f"6/6 · {mols} 5/5"),
            (["u"], 4, f"5/6 · {mols} 4/5"),
            (["a"], 5, f"6/6 · {mols} 5/5"),
        ]
        for keys, day, progress in steps:
            for key in keys:
                if isinstance(app.screen, Ask):
                    await answer(pilot, key)
                else:
                    await press(pilot, key)
            entry = wizard(app).entry
            assert entry is not None and entry.work_date == date(2026, 1, day), (keys, entry)
            assert progress in screen_text(app), (keys, progress, screen_text(app))
        await press(pilot, "a")
        assert "Queue done" in screen_text(app)


async def test_keys_typed_ahead_into_the_order_offer_never_create_the_order(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(BLAA, 60), Entry(MOLS, 15)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        # Blå's last entry, then `a` and Enter typed ahead before the offer is even drawn.
        for key in ("a", "a", "enter", "a", "enter"):
            send_key(app, key)
        await pilot.pause()
        await settle(pilot)
        assert isinstance(app.screen, ConfirmWrites)
        await press(pilot, "enter", "a", "space")  # pressed while reading the offer
        assert isinstance(app.screen, ConfirmWrites)
        assert await db.pool.fetchval("select count(*) from billing_order") == 0
        assert await statuses(db) == {ids[0]: "approved", ids[1]: "pending"}  # the keys decided nothing else
        await press(pilot, "n")
        assert isinstance(app.screen, WizardScreen) and shown_id(app) == ids[1]
        assert await db.pool.fetchval("select count(*) from billing_order") == 0


# --- leaving and coming back ------------------------------------------------------------------------


async def test_q_keeps_the_decisions_and_reopening_continues(
    db: Database, database_url: str, settings: Settings
) -> None:
    ids = await seed(db, [Entry(MOLS, 15, work_date=date(2026, 1, day)) for day in (1, 2, 3, 4)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        await press(pilot, "a", "r")
        await answer(pilot, "duplicate")
        assert shown_id(app) == ids[2]
        await press(pilot, "q")
        assert isinstance(app.screen, CustomerListScreen)
        assert await statuses(db) == {ids[0]: "approved", ids[1]: "rejected", ids[2]: "pending", ids[3]: "pending"}
        # Leaving gives the entry on screen back at once, not after the lease runs out.
        assert await db.pool.fetchval("select count(*) from time_entry where claimed_by is not null") == 0

        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen), "the wizard to open again")
        await settle(pilot)
        assert shown_id(app) == ids[2]
        assert f"1/2 · {name(MOLS)} 1/2" in screen_text(app)  # progress counts this pass
        await press(pilot, "a")
    # The app ends without `q` (as when the SSH connection drops): the decision is already stored.
    assert (await row(db, ids[2]))["status"] == "approved"

    other_db = await Database.connect(database_url)
    try:
        again = HubApp(HubServices(quiet(settings), other_db))
        async with again.run_test(size=SIZE) as pilot:
            await open_wizard(pilot)
            assert shown_id(again) == ids[3]
            await press(pilot, "u")  # a new session has nothing of its own to undo
            assert "Nothing to undo in this session" in screen_text(again)
            assert (await row(db, ids[2]))["status"] == "approved"
    finally:
        await other_db.close()


async def test_two_people_never_see_the_same_entry(db: Database, database_url: str, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 15, work_date=date(2026, 1, day)) for day in (1, 2, 3, 4, 5)])
    second_db = await Database.connect(database_url)
    first, second = HubApp(HubServices(quiet(settings), db)), HubApp(HubServices(quiet(settings), second_db))
    try:
        async with first.run_test(size=SIZE) as one:
            await open_wizard(one)
            assert shown_id(first) == ids[0]
            async with second.run_test(size=SIZE) as two:
                await open_wizard(two)
                # Each wizard holds the entry on screen and the one after it (claimed ahead).
                assert shown_id(second) == ids[2]
                claims = dict(await db.pool.fetch("select id, claimed_by from time_entry where claimed_by is not null"))
                assert set(claims) == {ids[0], ids[1], ids[2], ids[3]}
                assert claims[ids[0]] == claims[ids[1]] != claims[ids[2]] == claims[ids[3]]

                await press(two, "s")  # a skipped entry is free for the others at once
                assert shown_id(second) == ids[3]
                assert await db.pool.fetchval("select claimed_by from time_entry where id = $1", ids[2]) is None
                await press(one, "a")
                assert shown_id(first) == ids[1]
                await press(one, "a")
                assert shown_id(first) == ids[2]  # the entry the other person skipped
                await press(two, "a")
                assert shown_id(second) == ids[4]
                await press(two, "a")
                assert shown_id(second) is None  # the only pending entry left is on the first screen
                await press(one, "a")  # Mols's last pending entry: the first person is offered the order
                assert isinstance(first.screen, ConfirmWrites)
                assert not isinstance(second.screen, ConfirmWrites)
                await press(one, "n")
                assert shown_id(first) is None
            assert set((await statuses(db)).values()) == {"approved"}
            decided_by = await db.pool.fetchval("select count(distinct decided_by) from time_entry")
            assert decided_by == 1  # the same OS user in both; the sessions differ by their lease token
    finally:
        await second_db.close()


async def test_a_decision_that_lost_a_race_says_so(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 15), Entry(MOLS, 30, work_date=date(2026, 1, 22))])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        assert shown_id(app) == ids[0]
        queue = ApprovalQueue(db, settings)
        # While the entry is on screen nobody else can decide it ...
        with pytest.raises(DecisionRefused, match=r"open in .*'s wizard right now"):
            await queue.approve(ids[0])
        # ... but once the lease has run out (a long coffee break) someone else can.
        await db.pool.execute("update time_entry set claimed_until = now() - interval '1 minute' where id = $1",
                              ids[0])
        await queue.reject(ids[0], "billed by phone")
        await press(pilot, "a")
        text = screen_text(app)
        assert re.search(rf"Not saved: time entry {ids[0]} was already\s+rejected by .*someone else decided it",
                         text), text
        assert (await row(db, ids[0]))["reject_reason"] == "billed by phone"
        assert shown_id(app) == ids[1]


# --- the order at the end of a customer -------------------------------------------------------------


async def test_last_entry_of_a_customer_offers_the_order_and_y_previews_it(db: Database, settings: Settings) -> None:
    ids = await seed(db, [
        Entry(BLAA, 95, "Printer setup [bold]x[/ \x1b[2J", date(2026, 1, 22)),
        Entry(BLAA, 30, "Mail migration", date(2026, 1, 20)),
        Entry(BLAA, 15, "Spam", date(2026, 1, 21)),
        Entry(MOLS, 60, "Backup", date(2026, 1, 20)),
    ])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        assert shown_id(app) == ids[1]  # the customer's entries in date order
        await press(pilot, "a")
        assert not isinstance(app.screen, ConfirmWrites)  # the customer still has pending time
        await press(pilot, "r")
        await answer(pilot, "not our fault")
        assert shown_id(app) == ids[0]
        await press(pilot, "a")
        offer = app.screen
        assert isinstance(offer, ConfirmWrites)
        text = screen_text(app)
        assert f"{name(BLAA)} has no more pending time entries." in text
        assert "Create the order for the approved time?" in text
        assert "LIVE" not in text

        await press(pilot, "y")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), "the order preview")
        await settle(pilot)
        order = await db.pool.fetchrow("select * from billing_order")
        assert order["customer_id"] == BLAA
        assert order["order_number"] == f"ORD-{datetime.now(UTC).year}-001"
        assert order["total_amount"] == Decimal("2082.38")  # 0.50 h + 1.75 h at 925.50
        text = screen_text(app)
        assert f"{order['order_number']}  {name(BLAA)}  e-conomic customer 10003" in text
        assert re.search(table_row("1", "20.01.2026 Mail migration (case CC123)", "0.50", "925.50", "462.75"), text)
        assert re.search(table_row("2", "22.01.2026 Printer setup [bold]x[/ ␛[2J (case CC123)", "1.75", "925.50",
                                   "1619.63"), text)
        assert "Spam" not in text  # rejected time is not billed
        assert re.search(table_row("Total", "2082.38 DKK"), text)
        assert not RAW_CONTROL.search(text)
        assert await db.pool.fetchval("select count(*) from time_entry where order_id = $1", order["id"]) == 2

        # Back in the wizard the queue goes on with the next customer; the order's time cannot be undone.
        await press(pilot, "q")
        assert shown_id(app) == ids[3]
        await press(pilot, "u")
        assert f"time entry {ids[0]} can no longer be undone: it is on an order" in screen_text(app)
        printer = await row(db, ids[0])
        assert (printer["status"], printer["order_id"]) == ("approved", order["id"])
        assert shown_id(app) == ids[3]


async def test_n_declines_the_order_and_a_customer_without_approved_time_gets_no_offer(
    db: Database, settings: Settings
) -> None:
    await seed(db, [Entry(BLAA, 15), Entry(GUDENAA, 15), Entry(MOLS, 15)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        await press(pilot, "a")
        assert isinstance(app.screen, ConfirmWrites)
        await press(pilot, "n")
        assert isinstance(app.screen, WizardScreen)
        await press(pilot, "r")
        await answer(pilot, "warranty")
        assert isinstance(app.screen, WizardScreen)  # only rejected time: nothing to order
        assert await db.pool.fetchval("select count(*) from billing_order") == 0
        # The approved time waits for an order (the rates screen and `orders generate` can make it later).
        assert await ApprovalQueue(db, settings).ready_for_order(BLAA)


async def test_x_in_the_order_preview_is_blocked_by_default_and_the_mode_stays_visible(
    db: Database, settings: Settings
) -> None:
    await seed(db, [Entry(BLAA, 95)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await open_wizard(pilot)
        await press(pilot, "a", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), "the order preview")
        await settle(pilot)
        text = screen_text(app)
        assert "READ-ONLY: the export is blocked (TIMETRACKING_ECONOMIC_READ_ONLY=true)" in text
        assert "time export: READ-ONLY" in text

        await press(pilot, "x")
        assert isinstance(app.screen, OrderScreen)  # blocked: no confirmation asked, nothing sent
        text = screen_text(app)
        assert re.search(r"BLOCKED: TIMETRACKING_ECONOMIC_READ_ONLY=true blocks all writes to\s+e-conomic; set\s+"
                         r"TIMETRACKING_ECONOMIC_READ_ONLY=false to export", text), text
        assert "time export: READ-ONLY" in text  # the mode is still on screen after the message
        assert "status: open" in text
        order = await db.pool.fetchrow("select status, economic_draft_number, key_first_sent_at from billing_order")
        assert (order["status"], order["economic_draft_number"], order["key_first_sent_at"]) == ("open", None, None)
        events = [r["event_type"] for r in await db.pool.fetch("select event_type from audit_event order by id")]
        assert events[-1] == "export_blocked"
        assert "export_started" not in events


async def test_the_order_preview_says_the_export_mode(db: Database, settings: Settings) -> None:
    await seed(db, [Entry(BLAA, 60)])
    queue = ApprovalQueue(db, settings)
    orders = Orders(db, settings)
    await queue.approve(await db.pool.fetchval("select id from time_entry"))
    order_id = await orders.generate_order(BLAA)
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the customer list")
        for changes, words in [
            ({}, ["READ-ONLY: the export is blocked (TIMETRACKING_ECONOMIC_READ_ONLY=true)",
                  "time export: READ-ONLY"]),
            ({"timetracking_economic_read_only": False},
             ["DRY-RUN: the export shows the payload and sends nothing (TIMETRACKING_ECONOMIC_DRY_RUN=true)",
              "time export: DRY-RUN"]),
            ({"timetracking_economic_read_only": False, "timetracking_economic_dry_run": False},
             ["LIVE: the export creates a real draft order in e-conomic", "time export: LIVE"]),
        ]:
            app.services = HubServices(quiet(settings, **changes), db)  # as if started with these flags
            app.push_screen(OrderScreen(order_id))
            await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), "the order preview")
            await settle(pilot)
            text = screen_text(app)
            for word in words:
                assert word in text, (changes, word)
            assert re.search(table_row("Total", "925.50 DKK"), text)
            await press(pilot, "escape")


LIVE_EXPORT = {"auto_check_consistency": False, "timetracking_economic_read_only": False,
               "timetracking_economic_dry_run": False, "http_max_retries": 0}


async def order_for_the_sandbox(db: Database, settings: Settings) -> int:
    """An order of BLAA's approved hour, BLAA being e-conomic customer 10003 in the sandbox."""
    await seed(db, [Entry(BLAA, 60)])
    queue = ApprovalQueue(db, settings)
    orders = Orders(db, settings)
    await queue.approve(await db.pool.fetchval("select id from time_entry"))
    return await orders.generate_order(BLAA)


async def test_keys_during_a_live_export_start_nothing_and_leaving_the_screen_does_not_cut_it_off(
    db: Database, settings: Settings
) -> None:
    async with serve_sandboxes(SandboxOptions(companies=8)) as sandbox:
        sandbox.economic.faults.latency_ms = 400  # the POST is in flight while the keys below arrive
        live = Settings(**{k.lower(): v for k, v in sandbox.env().items()}, **LIVE_EXPORT,
                        hubtui_data_dir=settings.hubtui_data_dir)
        order_id = await order_for_the_sandbox(db, live)
        app = HubApp(HubServices(live, db))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the customer list")
            app.push_screen(OrderScreen(order_id))
            await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), "the order")
            await settle(pilot)
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmWrites), "the LIVE confirmation")
            await pilot.press("y")
            await wait_for(pilot, lambda: bool(app.writes), "the export to start")
            await pilot.press("x", "n", "t")  # while writing: ignored, no dialog
            assert isinstance(app.screen, OrderScreen)
            await pilot.press("escape")  # leave the screen mid-write
            await wait_for(pilot, lambda: not app.writes, "the export to finish", within=20)
        assert len(sandbox.economic.drafts) == 1
        posts = [w for w in sandbox.economic.write_log if w.method == "POST"]
        assert len(posts) == 1 and posts[0].applied
        row = await db.pool.fetchrow("select status, economic_draft_number from billing_order")
        assert (row["status"], row["economic_draft_number"]) == ("exported", next(iter(sandbox.economic.drafts)))
        events = [r["event_type"] for r in await db.pool.fetch(
            "select event_type from audit_event where event_type like 'export_%' order by id")]
        assert events == ["export_started", "export_completed"]


async def test_an_unknown_export_shows_what_to_check_and_t_attaches_the_draft_the_person_found(
    db: Database, settings: Settings
) -> None:
    async with serve_sandboxes(SandboxOptions(companies=8)) as sandbox:
        live = Settings(**{k.lower(): v for k, v in sandbox.env().items()}, **LIVE_EXPORT,
                        hubtui_data_dir=settings.hubtui_data_dir)
        order_id = await order_for_the_sandbox(db, live)
        # The first export's answer was lost long ago; e-conomic now refuses the look-up that would settle it.
        async with EconomicClient(live) as economic:
            dry = live.model_copy(update={"timetracking_economic_dry_run": True})
            payload = (await OrderExport(db, dry, economic).export(order_id)).details["payload"]
            key = await db.pool.fetchval("select idempotency_key from billing_order")
            draft = (await economic.create_draft_order(payload, key)).response["orderNumber"]
        await db.pool.execute("update billing_order set key_first_sent_at = now() - interval '2 hours'")
        faults = sandbox.economic.faults
        faults.reject_next, faults.fault_method, faults.fault_path = 1, "GET", "/orders/drafts"
        app = HubApp(HubServices(live, db))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the customer list")
            app.push_screen(OrderScreen(order_id))
            await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), "the order")
            await settle(pilot)
            await press(pilot, "x")
            assert "The last export's outcome is UNKNOWN" not in screen_text(app)  # not unknown yet: asks as usual
            await press(pilot, "y")
            await wait_for(pilot, lambda: not app.writes, "the export to finish")
            await settle(pilot)
            text = re.sub(r"\s+", " ", screen_text(app))
            assert "status: unknown" in text
            assert f"Check e-conomic's draft orders for reference ORD-{datetime.now(UTC).year}-001" in text
            assert "t: attach the draft you found in e-conomic" in text
            assert len(sandbox.economic.drafts) == 1  # nothing was posted

            await press(pilot, "t")
            assert isinstance(app.screen, Ask)
            await answer(pilot, str(draft))
            await wait_for(pilot, lambda: not app.writes, "the attach to finish")
            await settle(pilot)
            text = re.sub(r"\s+", " ", screen_text(app))
            assert f"Exported to e-conomic draft {draft} (attached by a person" in text
            assert f"status: exported, e-conomic draft {draft}" in text

            await press(pilot, "x")  # already exported: said at once, no dialog
            assert isinstance(app.screen, OrderScreen)
            assert f"ORD-{datetime.now(UTC).year}-001 was already exported as e-conomic draft {draft}" in [
                notification.message for notification in app._notifications]
        assert len(sandbox.economic.drafts) == 1
        events = [r["event_type"] for r in await db.pool.fetch(
            "select event_type from audit_event where event_type like 'export_%' order by id")]
        assert events == ["export_dry_run", "export_unknown", "export_completed"]


# --- orders from the orders list (F8, g) ------------------------------------------------------------


async def approve_all(db: Database, settings: Settings, customer_id: int) -> None:
    queue = ApprovalQueue(db, settings)
    for entry_id in await db.pool.fetch("select id from time_entry where customer_id = $1", customer_id):
        await queue.approve(entry_id["id"])


async def open_orders(pilot: Pilot[None]) -> OrdersScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the customer list")
    await press(pilot, "f8")
    await wait_for(pilot, lambda: isinstance(app.screen, OrdersScreen), "the orders list")
    await settle(pilot)
    assert isinstance(app.screen, OrdersScreen)
    return app.screen


async def test_g_on_the_orders_list_makes_an_order_for_the_customer_picked_by_typing_part_of_the_name(
    db: Database, settings: Settings
) -> None:
    await seed(db, [Entry(BLAA, 60), Entry(GUDENAA, 30, "Router"), Entry(GUDENAA, 45, "VPN"), Entry(GUDENAA, 15),
                    Entry(MOLS, 15, billable=False)])
    await approve_all(db, settings, BLAA)
    await approve_all(db, settings, MOLS)  # approved at 0 h: nothing to bill
    queue = ApprovalQueue(db, settings)
    gudenaa = [r["id"] for r in await db.pool.fetch(
        "select id from time_entry where customer_id = $1 order by id", GUDENAA)]
    await queue.approve(gudenaa[0])
    await queue.approve(gudenaa[1])  # the third stays pending: it waits for a later order
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SUPPORT) as pilot:
        await open_orders(pilot)
        await press(pilot, "g")
        assert isinstance(app.screen, CustomerPicker)
        text = screen_text(app)
        assert f"{name(BLAA)}  1 approved, 1.00 h" in text
        assert f"{name(GUDENAA)}  2 approved, 1.25 h  1 pending: left for later" in text
        assert name(MOLS) not in text
        await press(pilot, "g", "u", "d", "e", "n", "a")  # å typed as a, as on a keyboard without it
        text = screen_text(app)
        assert name(GUDENAA) in text and name(BLAA) not in text
        await press(pilot, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), "the new order")
        await settle(pilot)
        order = await db.pool.fetchrow("select * from billing_order")
        assert order["customer_id"] == GUDENAA
        assert order["total_amount"] == Decimal("1375.00")  # 1.25 h at 1100.00
        assert await db.pool.fetchval("select count(*) from time_entry where order_id = $1", order["id"]) == 2
        text = screen_text(app)
        assert f"{order['order_number']}  {name(GUDENAA)}" in text
        assert re.search(table_row("Total", "1375.00 DKK"), text)

        await press(pilot, "escape")  # back on the list, the new order is there
        assert isinstance(app.screen, OrdersScreen)
        assert order["order_number"] in screen_text(app)
        await press(pilot, "g")  # Gudenå's approved time is ordered: only Blå is left to pick
        text = screen_text(app)
        assert name(BLAA) in text and name(GUDENAA) not in text
        await press(pilot, "escape")
        assert isinstance(app.screen, OrdersScreen)
    assert await db.pool.fetchval("select count(*) from billing_order") == 1


async def test_g_says_when_no_customer_has_approved_time_and_esc_in_the_picker_makes_nothing(
    db: Database, settings: Settings
) -> None:
    await seed(db, [Entry(BLAA, 60), Entry(MOLS, 15)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SUPPORT) as pilot:
        await open_orders(pilot)
        await press(pilot, "g")
        assert isinstance(app.screen, OrdersScreen)  # no picker with nobody in it
        assert "No customer has approved time that is on no order: approve time entries first (F4)" in notes(app)

        await approve_all(db, settings, MOLS)
        await press(pilot, "g")
        assert isinstance(app.screen, CustomerPicker)
        await press(pilot, "x", "y", "z")
        assert "No customer with approved time matches; Backspace widens the filter" in screen_text(app)
        await press(pilot, "enter")  # nothing highlighted: Enter picks nothing
        assert isinstance(app.screen, CustomerPicker)
        await press(pilot, "escape")
        assert isinstance(app.screen, OrdersScreen)
    assert await db.pool.fetchval("select count(*) from billing_order") == 0


async def test_a_customer_ordered_meanwhile_by_someone_else_is_refused_with_a_message(
    db: Database, settings: Settings
) -> None:
    await seed(db, [Entry(BLAA, 60)])
    await approve_all(db, settings, BLAA)
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SUPPORT) as pilot:
        await open_orders(pilot)
        await press(pilot, "g")
        assert isinstance(app.screen, CustomerPicker)
        await Orders(db, settings).generate_order(BLAA)  # a colleague (or the CLI) was faster
        await press(pilot, "enter")
        await settle(pilot)
        assert isinstance(app.screen, OrdersScreen)
        assert (f"No order was made: {name(BLAA)} has no approved time entries that are not on an order"
                in notes(app))
    assert await db.pool.fetchval("select count(*) from billing_order") == 1


async def test_a_dry_run_export_shows_the_payload_line_by_line_and_it_scrolls_at_80x24(
    db: Database, settings: Settings
) -> None:
    async with serve_sandboxes(SandboxOptions(companies=8)) as sandbox:
        dry = Settings(**{k.lower(): v for k, v in sandbox.env().items()}, auto_check_consistency=False,
                       timetracking_economic_read_only=False, hubtui_data_dir=settings.hubtui_data_dir)
        await seed(db, [Entry(BLAA, 60, "Printer \x9b setup"), *(Entry(BLAA, 30, f"Visit {n}") for n in range(6))])
        await approve_all(db, dry, BLAA)
        order_id = await Orders(db, dry).generate_order(BLAA)
        app = HubApp(HubServices(dry, db))
        async with app.run_test(size=SUPPORT) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the customer list")
            app.push_screen(OrderScreen(order_id))
            await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen), "the order")
            await settle(pilot)
            await press(pilot, "x")
            await wait_for(pilot, lambda: not app.writes, "the dry run to finish")
            await settle(pilot)
            text = screen_text(app)
            assert "Payload that would be sent:" in text
            assert "time export: DRY-RUN" in text  # the mode stays in view above the payload
            assert "␊" not in text
            assert re.search(r'^\W*"currency": "DKK",\W*$', text, re.MULTILINE), text  # one JSON line per line
            assert not RAW_CONTROL.search(text)
            assert "Visit 5" not in text  # the payload goes on below the screen

            await press(pilot, "end")
            text = screen_text(app)
            assert "Visit 5" in text and "Payload that would be sent:" not in text
            await press(pilot, "home", "pagedown")
            assert "Printer � setup" in screen_text(app)  # the C1 control inside a value, shown visibly
        assert not sandbox.economic.write_log  # a dry run sends nothing
