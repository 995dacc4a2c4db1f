"""The three-system diff screen, driven with keys against the real sandboxes and a real Postgres.

The hub is seeded with `demo_companies(N)` and the sandboxes hold the same companies with their planted
differences (see `hubtui.sandbox.remote_data`). Customer THREE gets two more differences here, one per
system, so that each system has exactly one field to write:

    address  e-conomic has another street (planted)    → suggested hub,    e-conomic gets the write
    city     the hub has a wrong city (this file)       → suggested vTiger, the hub gets the write
    phone    vTiger has another number (this file)      → suggested hub,    vTiger gets the write
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from rich.segment import Segment
from sandbox_hub import COMPANIES, LIVE, N, seeded
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Input, Static
from tui_pilot import _console, assert_no_raw_control, notes, screen_text, start, visible, wait_for

from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient
from hubtui.connectors.vtiger import VtigerClient
from hubtui.core.fields import FIELDS
from hubtui.core.plan import FieldChoice, build_plan
from hubtui.sandbox.demo_data import DemoCompany
from hubtui.sandbox.remote_data import MISSING_FROM_ECONOMIC_INDEX
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.consistency import ConsistencyService
from hubtui.services.demo import pointed_at_sandbox, replace_all_customers
from hubtui.services.hub import HubServices
from hubtui.store.db import Database
from hubtui.tui import app as app_module
from hubtui.tui.app import HubApp
from hubtui.tui.screens.customers import CustomerListScreen
from hubtui.tui.screens.dialogs import ConfirmWrites
from hubtui.tui.screens.diff import DiffScreen

SIZE = (100, 30)
VTIGER_STREET = 7  # planted: vTiger has another street
THREE = 18  # planted: e-conomic has another street; `three_discrepancies` adds a city and a phone
MISSING = MISSING_FROM_ECONOMIC_INDEX  # not in e-conomic at all
WRONG_CITY = "Forkert By"
WRONG_PHONE = "11 22 33 44"


def hub_id(index: int) -> int:
    """`replace_all_customers` restarts the ids: company i is hub customer i + 1."""
    return index + 1


# --- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=N)) as running:
        yield running


def three_discrepancies(sandbox: RunningSandbox) -> list[DemoCompany]:
    """The hub's companies with THREE's city wrong, and THREE's phone changed in the vTiger sandbox."""
    company = COMPANIES[THREE]
    accounts = sandbox.vtiger.accounts
    # The sandbox replaces record dicts, never changes them: do the same.
    accounts[company.vtiger_id] = {**accounts[company.vtiger_id], "phone": WRONG_PHONE}
    return [*COMPANIES[:THREE], replace(company, city=WRONG_CITY), *COMPANIES[THREE + 1:]]


async def diff_loaded(pilot: Pilot[None]) -> DiffScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.reading is not None,
                   "the diff to read the customer")
    screen = app.screen
    assert isinstance(screen, DiffScreen)
    return screen


async def open_diff(pilot: Pilot[None], customer_id: int) -> DiffScreen:
    await start(pilot)
    pilot.app.open_customer(customer_id)  # type: ignore[attr-defined]
    return await diff_loaded(pilot)


def cells(screen: DiffScreen, field: str) -> list[str]:
    """One row as the table holds it: Field | hub | vTiger | e-conomic | Choice · why."""
    return [cell.plain for cell in screen.table.get_row(field)]


def marks(screen: DiffScreen, field: str) -> list[str]:
    """Which system cells carry the radio mark: e.g. ['●', '○', '○']; '' for a cell without one."""
    return [cell[0] if cell[:1] in ("●", "○") else "" for cell in cells(screen, field)[1:4]]


def focused(screen: DiffScreen) -> str:
    return screen.rows[screen.table.cursor_row].field


def static_text(screen: DiffScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


def row_pattern(*parts: str) -> re.Pattern[str]:
    return re.compile(r"\s+".join(re.escape(part) for part in parts))


async def press_until(pilot: Pilot[None], key: str, condition: Callable[[], bool], limit: int = 15) -> None:
    for _ in range(limit):
        if condition():
            return
        await pilot.press(key)
    assert condition(), f"pressing {key} {limit} times did not get there"


async def applied(pilot: Pilot[None], screen: DiffScreen, previous: object = None) -> str:
    """Wait for an apply (or retry) to finish; the inline results."""
    await wait_for(pilot, lambda: screen.last_result is not None and screen.last_result is not previous
                   and not static_text(screen, "#results").startswith("Writing"), "the writes to finish")
    return static_text(screen, "#results")


async def review(pilot: Pilot[None]) -> ConfirmWrites:
    app = pilot.app
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmWrites), "the review dialog")
    dialog = app.screen
    assert isinstance(dialog, ConfirmWrites)
    return dialog


def typing_dialog(app: HubApp) -> ModalScreen[object] | None:
    """The open dialog that asks for a value (a modal screen with an input box), if any."""
    screen = app.screen
    return screen if isinstance(screen, ModalScreen) and screen.query(Input) else None


async def custom_dialog(pilot: Pilot[None]) -> ModalScreen[object]:
    app = pilot.app
    await pilot.press("c")
    await wait_for(pilot, lambda: typing_dialog(app) is not None, "the custom value dialog")
    dialog = typing_dialog(app)
    assert dialog is not None
    return dialog


def writes(sandbox: RunningSandbox) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(method, path) of every write request each sandbox received: vTiger, e-conomic."""
    return ([(w.method, w.path) for w in sandbox.vtiger.write_log],
            [(w.method, w.path) for w in sandbox.economic.write_log])


def list_count(screen: CustomerListScreen, customer_id: int) -> int | None:
    index = screen.table.index
    return index.discrepancies[index.ids.index(customer_id)]


# --- what the screen shows --------------------------------------------------------------------------


async def test_a_real_difference_is_one_row_with_its_suggestion(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    company = COMPANIES[VTIGER_STREET]
    other_street = sandbox.vtiger.accounts[company.vtiger_id]["bill_street"]
    assert other_street != company.address
    app = HubApp(HubServices(await seeded(db, settings, sandbox), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(VTIGER_STREET))
        text = screen_text(app)
        assert (f"{company.name}  hub #{hub_id(VTIGER_STREET)} · vTiger {company.vtiger_id} · "
                f"e-conomic {company.economic_customer_number}  1 discrepancy") in text
        assert row_pattern("Field", "hub", "vTiger", "e-conomic", "Choice · why").search(text)
        # Only the discrepancy: the formatting-only differences (`&amp;`, spacing, ...) are not rows.
        assert [row.field for row in screen.rows] == ["address"]
        row = ["Address", f"● {company.address}", f"○ {other_street}", f"○ {company.address}",
               "hub: 2 of 3 agree"]
        assert cells(screen, "address") == row
        assert row_pattern(*row).search(text)
        # The focused row in full below the table, with its reason.
        assert (f"Address: hub {company.address}   vTiger {other_street}   "
                f"e-conomic {company.address}") in text

        await pilot.press("a")
        text = screen_text(app)
        assert [row.field for row in screen.rows] == ["address", *(f for f in FIELDS if f != "address")]
        assert cells(screen, "address") == row  # discrepancies first, choice kept
        cvr = company.cvr_number or ""
        assert cells(screen, "cvr_number") == ["CVR", f"○ {cvr}", f"○ {cvr}", f"○ {cvr}", "3 of 3 agree"]
        assert row_pattern("CVR", f"○ {cvr}", f"○ {cvr}", f"○ {cvr}", "3 of 3 agree").search(text)
        # A field a system lacks is said so, and is not a discrepancy.
        assert cells(screen, "mobile_phone")[2] == "not in vTiger"
        assert cells(screen, "email")[3] == "not in e-conomic"
        assert re.search(r"Mobile\s.*not in vTiger", text)
        assert re.search(r"Email\s.*not in e-conomic", text)
        assert "1 discrepancy" in text

        await pilot.press("a")
        assert [row.field for row in screen.rows] == ["address"]


async def test_keys_move_pick_leave_and_jump(db: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    company = COMPANIES[THREE]
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox)), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(THREE))
        assert "3 discrepancies" in screen_text(app)
        assert [row.field for row in screen.rows] == ["address", "city", "phone"]
        # Suggestions pre-selected, each with its reason on the row.
        assert marks(screen, "address") == ["●", "○", "○"]
        assert marks(screen, "city") == ["○", "●", "○"]
        assert cells(screen, "city") == ["City", f"○ {WRONG_CITY}", f"● {company.city}", f"○ {company.city}",
                                         "vTiger: 2 of 3 agree"]
        assert marks(screen, "phone") == ["●", "○", "○"]
        assert cells(screen, "phone")[-1] == "hub: 2 of 3 agree"

        assert focused(screen) == "address"
        await pilot.press("j")
        assert focused(screen) == "city"
        await pilot.press("down")
        assert focused(screen) == "phone"
        await pilot.press("k")
        assert focused(screen) == "city"
        await pilot.press("up")
        assert focused(screen) == "address"
        assert "Address: hub" in screen_text(app)

        # 1 2 3 and h v e pick hub / vTiger / e-conomic: the mark moves.
        for key, expected in (("2", ["○", "●", "○"]), ("3", ["○", "○", "●"]), ("1", ["●", "○", "○"]),
                              ("v", ["○", "●", "○"]), ("e", ["○", "○", "●"]), ("h", ["●", "○", "○"])):
            await pilot.press(key)
            assert marks(screen, "address") == expected, key
        await pilot.press("v")
        assert cells(screen, "address")[-1] == "vTiger (your pick)"
        assert re.search(r"Address\s.*vTiger \(your pick\)", screen_text(app))
        # Space leaves the field unchanged: no system is chosen.
        await pilot.press("space")
        assert marks(screen, "address") == ["○", "○", "○"]
        assert cells(screen, "address")[-1] == "leave unchanged"
        assert marks(screen, "city") == ["○", "●", "○"]  # other rows untouched

        # A field vTiger does not have cannot be taken from vTiger.
        await pilot.press("a")
        await press_until(pilot, "j", lambda: focused(screen) == "mobile_phone")
        before = cells(screen, "mobile_phone")
        await pilot.press("2")
        await pilot.pause()
        assert cells(screen, "mobile_phone") == before
        assert "vTiger cannot be picked for this field: not in that system" in notes(app)

        # n / p jump between discrepancies only, round the ends.
        await pilot.press("n")
        assert focused(screen) == "address"
        await pilot.press("n")
        assert focused(screen) == "city"
        await pilot.press("n", "n")
        assert focused(screen) == "address"
        await pilot.press("p")
        assert focused(screen) == "phone"
        await pilot.press("p")
        assert focused(screen) == "city"

        # What is left unchanged is not written: the address (e-conomic's write) is out of the plan.
        dialog = await review(pilot)
        assert [line.plain for line in dialog.lines] == [
            "hub  [LIVE]", f"   City: {WRONG_CITY} → {company.city}",
            "vTiger  [LIVE]", f"   Phone: {WRONG_PHONE} → {company.phone}",
        ]
        await pilot.press("n")


async def test_a_system_without_the_customer_cannot_be_picked(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    company = COMPANIES[MISSING]
    app = HubApp(HubServices(await seeded(db, settings, sandbox), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(MISSING))
        text = screen_text(app)
        assert company.name in text
        assert "e-conomic unavailable: not found in e-conomic" in text
        await pilot.press("a")
        assert focused(screen) == "name"
        assert cells(screen, "name")[3] == "(unavailable)"
        before = cells(screen, "name")
        for key in ("3", "e"):
            await pilot.press(key)
            await pilot.pause()
            assert cells(screen, "name") == before, key
        assert "e-conomic cannot be picked for this field: unavailable" in notes(app)
        await pilot.press("2")
        assert marks(screen, "name") == ["○", "●", ""]


async def test_custom_value_is_validated_before_it_is_used(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    company = COMPANIES[THREE]
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox)), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(THREE))
        await pilot.press("a")
        await press_until(pilot, "j", lambda: focused(screen) == "cvr_number")
        dialog = await custom_dialog(pilot)
        box = dialog.query_one(Input)
        assert box.value == company.cvr_number  # starts from the value there is
        assert "New value for CVR" in screen_text(app)

        await pilot.press("ctrl+u", "1", "2", "enter")
        await pilot.pause()
        assert app.screen is dialog  # refused: the dialog stays
        error = "CVR must be 8 digits, e.g. 12345678 (DK in front is ok)"
        assert str(dialog.query_one("#error", Static).content) == error
        assert error in screen_text(app)

        # Esc leaves the choice as it was.
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert cells(screen, "cvr_number")[-1] == "3 of 3 agree"

        await custom_dialog(pilot)
        await pilot.press("ctrl+u", *"DK", "space", *"1234", "space", *"5678", "enter")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        assert cells(screen, "cvr_number")[-1] == "typed: 12345678"  # cleaned as a CVR
        assert marks(screen, "cvr_number") == ["○", "○", "○"]
        assert re.search(r"CVR\s.*typed: 12345678", screen_text(app))

        # The typed value is written everywhere it differs.
        dialog = await review(pilot)
        lines = [line.plain for line in dialog.lines]
        assert lines.count(f"   CVR: {company.cvr_number} → 12345678") == 3
        await pilot.press("n")


# --- review and apply -------------------------------------------------------------------------------


async def test_review_cancel_and_apply(db: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    """Default settings: e-conomic is READ-ONLY."""
    company = COMPANIES[THREE]
    customer_id = hub_id(THREE)
    economic_outcome = ("e-conomic: BLOCKED (Address) — e-conomic: e-conomic customer update blocked: "
                        "ECONOMIC_READ_ONLY=true forbids writing to e-conomic")
    # With the start-up fleet check, so the list has a count to update.
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox),
                              auto_check_consistency=True), db))
    async with app.run_test(size=SIZE) as pilot:
        listing = await start(pilot)
        await wait_for(pilot, lambda: app.services.fleet_checked, "the fleet check")
        assert list_count(listing, customer_id) == 3
        # Filtered to it by its vTiger id, Enter opens it.
        await pilot.press(*company.vtiger_id, "enter")
        screen = await diff_loaded(pilot)
        assert screen.customer_id == customer_id

        expected = [
            "hub  [LIVE]", f"   City: {WRONG_CITY} → {company.city}",
            "vTiger  [LIVE]", f"   Phone: {WRONG_PHONE} → {company.phone}",
            "e-conomic  [READ-ONLY: blocked]",
            f"   Address: {sandbox.economic.customers[company.economic_customer_number or 0]['address']}"
            f" → {company.address}",
        ]
        for cancel in ("n", "escape"):
            dialog = await review(pilot)
            assert [line.plain for line in dialog.lines] == expected
            text = screen_text(app)
            assert "Write these changes?" in text
            assert "LIVE: this changes real data in the remote systems." in text
            for line in expected:
                assert line.strip() in text
            await pilot.press(cancel)
            await wait_for(pilot, lambda: app.screen is screen, f"{cancel} to close the dialog")
            assert writes(sandbox) == ([], [])
            assert await db.pool.fetchval("select city from customer where id = $1", customer_id) == WRONG_CITY
            assert static_text(screen, "#results") == ""

        await review(pilot)
        await pilot.press("y")
        results = await applied(pilot, screen)
        lines = results.splitlines()
        assert lines[:2] == ["hub: written (City)", "vTiger: written (Phone)"]
        assert lines[2].startswith(economic_outcome)
        assert "Press r" not in results
        text = screen_text(app)
        assert "hub: written (City)" in text
        assert economic_outcome.split(" — ")[0] in text

        vtiger_writes, economic_writes = writes(sandbox)
        assert len(vtiger_writes) == 1 and vtiger_writes[0][1].endswith("/revise"), vtiger_writes
        (revise,) = sandbox.vtiger.write_log
        assert revise.body["element"] == {"id": company.vtiger_id, "phone": company.phone}
        assert economic_writes == []  # READ-ONLY: nothing that writes reached e-conomic
        assert sandbox.vtiger.accounts[company.vtiger_id]["phone"] == company.phone
        assert await db.pool.fetchval("select city from customer where id = $1", customer_id) == company.city

        # Read again: only the address e-conomic did not take is left.
        assert [row.field for row in screen.rows] == ["address"]
        assert "1 discrepancy" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is listing, "the list")
        assert list_count(listing, customer_id) == 1
        assert re.search(re.escape(company.name) + r".*\s1\s*$", screen_text(app), re.MULTILINE)


async def test_dry_run_shows_and_sends_nothing_to_economic(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    company = COMPANIES[THREE]
    seeded_settings = await seeded(db, settings, sandbox, three_discrepancies(sandbox), economic_read_only=False)
    app = HubApp(HubServices(seeded_settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(THREE))
        dialog = await review(pilot)
        labels = [line.plain for line in dialog.lines if not line.plain.startswith(" ")]
        assert labels == ["hub  [LIVE]", "vTiger  [LIVE]", "e-conomic  [DRY-RUN: shown, not sent]"]
        assert "e-conomic  [DRY-RUN: shown, not sent]" in screen_text(app)
        await pilot.press("y")
        results = (await applied(pilot, screen)).splitlines()
        assert results[:2] == ["hub: written (City)", "vTiger: written (Phone)"]
        assert results[2] == "e-conomic: DRY-RUN: not sent (Address) — ECONOMIC_DRY_RUN=true"
        vtiger_writes, economic_writes = writes(sandbox)
        assert len(vtiger_writes) == 1 and economic_writes == []
        assert sandbox.economic.customers[company.economic_customer_number or 0]["address"] != company.address
        assert "1 discrepancy" in screen_text(app)


async def test_resolved_in_three_keystrokes_from_the_list(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    company = COMPANIES[THREE]
    customer_id = hub_id(THREE)
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox), **LIVE), db))
    async with app.run_test(size=SIZE) as pilot:
        listing = await start(pilot)
        await pilot.press(*company.vtiger_id)  # filtered to it: the cursor is on it
        await pilot.pause()
        assert listing.table.current_customer_id() == customer_id

        keys: list[str] = []

        async def press(key: str) -> None:
            keys.append(key)
            await pilot.press(key)

        await press("enter")
        screen = await diff_loaded(pilot)
        assert screen.reading is not None and screen.reading.comparison.discrepancy_count == 3
        await press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmWrites), "the review dialog")
        assert "e-conomic  [LIVE]" in screen_text(app)
        await press("y")
        results = await applied(pilot, screen)
        assert len(keys) <= 5, keys
        assert results.splitlines() == ["hub: written (City)", "vTiger: written (Phone)",
                                        "e-conomic: written (Address)"]

        hub = await db.pool.fetchrow("select city, phone, address from customer where id = $1", customer_id)
        assert tuple(hub) == (company.city, company.phone, company.address)
        account = sandbox.vtiger.accounts[company.vtiger_id]
        assert (account["bill_city"], account["phone"], account["bill_street"]) == (
            company.city, company.phone, company.address)
        customer = sandbox.economic.customers[company.economic_customer_number or 0]
        assert customer["address"] == company.address
        vtiger_writes, economic_writes = writes(sandbox)
        assert len(vtiger_writes) == 1
        assert economic_writes == [("PUT", f"/customers/{company.economic_customer_number}")]
        outcomes = await db.pool.fetch("select system, outcome from audit_event where customer_id = $1",
                                       customer_id)
        assert sorted(map(tuple, outcomes)) == [("economic", "written"), ("hub", "written"),
                                                ("vtiger", "written")]

        assert screen.reading.comparison.discrepancy_count == 0
        assert "0 discrepancies" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is listing, "the list")
        assert list_count(listing, customer_id) == 0
        assert await db.pool.fetchval("select discrepancy_count from customer where id = $1", customer_id) == 0


async def fail_economic_write(pilot: Pilot[None], screen: DiffScreen, sandbox: RunningSandbox) -> None:
    """Apply THREE's suggestions while every e-conomic request answers 500; then clear the fault."""
    sandbox.economic.faults.error_rate = 1.0
    await review(pilot)
    await pilot.press("y")
    results = await applied(pilot, screen)
    lines = results.splitlines()
    assert lines[:2] == ["hub: written (City)", "vTiger: written (Phone)"]
    assert lines[2].startswith("e-conomic: failed (Address) — ")
    assert "sandbox fault: error_rate" in lines[2]  # the remote message
    assert "Press r to retry" in results
    assert "e-conomic: failed (Address)" in screen_text(pilot.app)  # type: ignore[arg-type]
    vtiger_writes, economic_writes = writes(sandbox)
    assert len(vtiger_writes) == 1 and economic_writes == []  # the GET before the PUT failed
    sandbox.economic.faults.error_rate = 0.0


def assert_economic_retried_alone(results: str, sandbox: RunningSandbox) -> None:
    company = COMPANIES[THREE]
    assert results.splitlines() == ["e-conomic: written (Address)"]
    vtiger_writes, economic_writes = writes(sandbox)
    assert len(vtiger_writes) == 1  # vTiger was not written again
    assert economic_writes == [("PUT", f"/customers/{company.economic_customer_number}")]
    assert sandbox.economic.customers[company.economic_customer_number or 0]["address"] == company.address


async def test_a_failed_system_shows_why_and_is_retried_alone(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox), http_max_retries=0,
                              **LIVE), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(THREE))
        await fail_economic_write(pilot, screen, sandbox)
        # The read after the failed write could not reach e-conomic either: read again (F5), then retry.
        assert "e-conomic unavailable" in screen_text(app)
        before = screen.reading
        await pilot.press("f5")
        await wait_for(pilot, lambda: screen.reading is not before, "the customer to be read again")
        first = screen.last_result
        await pilot.press("r")
        assert_economic_retried_alone(await applied(pilot, screen, previous=first), sandbox)
        assert screen.reading is not None and screen.reading.comparison.discrepancy_count == 0


async def test_r_retries_the_failed_system_once_it_answers_again(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox), http_max_retries=0,
                              **LIVE), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(THREE))
        await fail_economic_write(pilot, screen, sandbox)
        first = screen.last_result
        await pilot.press("r")
        assert_economic_retried_alone(await applied(pilot, screen, previous=first), sandbox)


# --- small terminals and hostile data ---------------------------------------------------------------


async def test_80x24_shows_the_focused_row_in_full(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    company = COMPANIES[THREE]
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox)), db))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(pilot, hub_id(THREE))
        await pilot.press("a")
        await press_until(pilot, "j", lambda: focused(screen) == "invoice_email")
        text = screen_text(app)
        value = company.invoice_email or ""
        table_line = next(line for line in text.splitlines() if line.startswith(" Invoice email"))
        assert value not in table_line  # too wide for its column at 80x24 ...
        assert text.count(value) == 3  # ... and in full, once per system, below the table
        focus = static_text(screen, "#focus")
        assert focus.startswith(f"Invoice email: hub {value}   vTiger {value}   e-conomic {value}")
        assert app.is_running

        await review(pilot)
        text = screen_text(app)
        assert "Write these changes?" in text
        assert f"Phone: {WRONG_PHONE} → {company.phone}" in text
        await pilot.press("n")


HOSTILE_NAME = "[bold red]x[/ \x1b[31mRød\x1b[0m ApS"
HOSTILE_ADDRESS = "Gade \x1b]0;pwned\x07 1 [link=http://evil]y[/link]"


async def test_markup_and_escape_bytes_show_literally(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    original = COMPANIES[0]
    companies = [replace(original, name=HOSTILE_NAME, address=HOSTILE_ADDRESS), *COMPANIES[1:]]
    app = HubApp(HubServices(await seeded(db, settings, sandbox, companies), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(0))
        text = screen_text(app)
        assert f"{visible(HOSTILE_NAME)}  hub #1" in text
        assert [row.field for row in screen.rows] == ["name", "address"]
        for cell, whole in zip(cells(screen, "name")[1:3], [f"○ {visible(HOSTILE_NAME)}", f"● {original.name}"],
                               strict=True):
            assert cell.endswith("…") and whole.startswith(cell[:-1])  # cut, marked; whole in the focus line
        assert f"Name: hub {visible(HOSTILE_NAME)}   vTiger {original.name}" in text
        assert_no_raw_control(app)

        # Pasted into the custom value dialog, the same bytes are refused with a reason.
        dialog = await custom_dialog(pilot)
        box = dialog.query_one(Input)
        box.value = HOSTILE_NAME
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog
        assert "Name contains a control character" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        assert cells(screen, "name")[-1] == "vTiger: 2 of 3 agree"

        await pilot.press("j")
        text = screen_text(app)
        assert f"Address: hub {visible(HOSTILE_ADDRESS)}   vTiger {original.address}" in text
        assert_no_raw_control(app)

        dialog = await review(pilot)
        assert f"   Name: {visible(HOSTILE_NAME)} → {original.name}" in [line.plain for line in dialog.lines]
        assert f"Name: {visible(HOSTILE_NAME)} → {original.name}" in screen_text(app)
        assert_no_raw_control(app)
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running


async def test_custom_value_dialog_starting_value_shows_no_raw_escape(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    # vTiger has another e-mail and e-conomic has no such field: no majority, so the dialog starts from
    # the hub's value.
    hostile = "kontakt@\x1b[2Jbyg.dk"
    companies = [replace(COMPANIES[0], email=hostile), *COMPANIES[1:]]
    app = HubApp(HubServices(await seeded(db, settings, sandbox, companies), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(0))
        assert [row.field for row in screen.rows] == ["email"]
        assert cells(screen, "email")[-1] == "leave unchanged"
        dialog = await custom_dialog(pilot)
        # The control byte is left out of the text to edit (validation would refuse it anyway).
        assert dialog.query_one(Input).value == "kontakt@[2Jbyg.dk"
        assert_no_raw_control(app)


class SnapshotApp(HubApp):
    """The app with its own database connection and sandboxes, opened inside the loop `snap_compare` runs
    it in (it runs the app with `App.run`, not in pytest-asyncio's loop)."""

    CSS_PATH = str(Path(app_module.__file__).with_name("hubtui.tcss"))  # relative paths follow the subclass

    def __init__(self, settings: Settings, database_url: str) -> None:
        super().__init__(HubServices(settings, None))  # type: ignore[arg-type]
        self.database_url = database_url
        self.resources = AsyncExitStack()

    async def on_mount(self) -> None:  # runs before HubApp.on_mount opens the list
        db = await Database.connect(self.database_url)
        self.resources.push_async_callback(db.close)
        sandbox = await self.resources.enter_async_context(serve_sandboxes(SandboxOptions(companies=N)))
        await replace_all_customers(db, three_discrepancies(sandbox))
        self.services = HubServices(pointed_at_sandbox(self.settings, sandbox.env()), db)

    async def on_unmount(self) -> None:
        await self.resources.aclose()


def test_diff_screen_snapshot(snap_compare, settings: Settings, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """Customer THREE, all fields: three discrepancies with their suggestions, then the agreeing fields.

    Deterministic: seeded companies, fixed size, no fleet check (its toast would show), and nothing on the
    screen comes from the sandboxes' clocks (modified times are only used by the lost-update guard)."""
    app = SnapshotApp(settings.model_copy(update={"auto_check_consistency": False}), database_url)

    async def open_three(pilot: Pilot[None]) -> None:
        await start(pilot)
        app.open_customer(hub_id(THREE))
        await diff_loaded(pilot)

    assert snap_compare(app, press=["a", "j"], terminal_size=SIZE, run_before=open_three)


# --- a write runs to its end, once ------------------------------------------------------------------


async def slow_write(pilot: Pilot[None], sandbox: RunningSandbox) -> DiffScreen:
    """Open THREE, make every remote answer take 300 ms, and confirm its writes (all three systems)."""
    screen = await open_diff(pilot, hub_id(THREE))
    sandbox.vtiger.faults.latency_ms = sandbox.economic.faults.latency_ms = 300
    await review(pilot)
    await pilot.press("y")
    assert pilot.app.writes  # type: ignore[attr-defined]
    return screen


async def final_audit(db: Database) -> list[tuple[str, str]]:
    rows = await db.pool.fetch("select system, outcome from audit_event order by id")
    return [(row["system"], row["outcome"]) for row in rows]


def assert_written_once(sandbox: RunningSandbox) -> None:
    company = COMPANIES[THREE]
    assert writes(sandbox) == ([("POST", "/restapi/v1/vtiger/default/revise")],
                               [("PUT", f"/customers/{company.economic_customer_number}")])
    assert all(w.applied for w in (*sandbox.vtiger.write_log, *sandbox.economic.write_log))


async def test_s_y_again_while_writing_is_ignored_and_says_writing(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox), **LIVE), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await slow_write(pilot, sandbox)
        await pilot.press("s", "y", "r")

        assert not isinstance(app.screen, ConfirmWrites)  # no second review while the first write runs
        assert any(note.startswith("writing…") for note in notes(app))
        results = await applied(pilot, screen)
        assert results.splitlines() == ["hub: written (City)", "vTiger: written (Phone)",
                                        "e-conomic: written (Address)"]
        assert_written_once(sandbox)
        assert await final_audit(db) == [("hub", "written"), ("vtiger", "written"), ("economic", "written")]


async def test_leaving_the_screen_and_ctrl_q_during_a_write_wait_for_it(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox), **LIVE), db))
    async with app.run_test(size=SIZE) as pilot:
        await slow_write(pilot, sandbox)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the list")
        await pilot.press("ctrl+q")
        assert app.return_code is None and app.writes  # still writing: quitting waits
        assert any(note.startswith("writing…") for note in notes(app))
        for _ in range(500):
            if app.return_code is not None:
                break
            await asyncio.sleep(0.02)
        assert app.return_code == 0  # it quit by itself once the write was done and recorded
        assert_written_once(sandbox)
        assert await final_audit(db) == [("hub", "written"), ("vtiger", "written"), ("economic", "written")]


async def test_r_on_an_unknown_write_reads_it_back_and_sends_nothing_again(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    company = COMPANIES[THREE]
    app = HubApp(HubServices(await seeded(db, settings, sandbox, three_discrepancies(sandbox), http_max_retries=0,
                              http_timeout_seconds=1, **LIVE), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(THREE))
        # vTiger executes the revise but its answer never comes; meanwhile every vTiger read starts failing.
        faults = sandbox.vtiger.faults
        faults.fault_path, faults.after_apply, faults.after_apply_next = "/revise", "timeout", 1

        def reads_fail_once_written() -> None:
            if sandbox.vtiger.write_log and sandbox.vtiger.write_log[-1].applied:
                faults.fault_path, faults.fault_method, faults.error_rate = "", "GET", 1.0

        await review(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(sandbox.vtiger.write_log), "the revise")
        reads_fail_once_written()
        first = await applied(pilot, screen)
        assert "vTiger: UNKNOWN whether written (Phone) — " in first, first
        assert f"check vTiger record {company.vtiger_id}, Phone" in first
        assert "Press r" in first

        faults.error_rate = 0.0
        earlier = screen.last_result
        await pilot.press("r")
        results = await applied(pilot, screen, previous=earlier)
        assert results.splitlines() == ["vTiger: written (confirmed by re-read) (Phone) — hubtui never heard "
                                        "its answer"], results
        assert [w.applied for w in sandbox.vtiger.write_log] == [True]  # one revise, never sent again
        assert ("vtiger", "written") in await final_audit(db)
        assert "vTiger: written (confirmed by re-read)" in screen_text(app)


async def test_opening_a_customer_settles_an_earlier_unknown_write(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    company = COMPANIES[THREE]
    live = await seeded(db, settings, sandbox, three_discrepancies(sandbox), **LIVE)
    # An earlier session: vTiger executed its revise, but neither the answer nor a read-back reached it.
    faults = sandbox.vtiger.faults
    faults.fault_path, faults.after_apply, faults.after_apply_next = "/revise", "timeout", 1
    quick = live.model_copy(update={"http_max_retries": 0, "http_timeout_seconds": 1})
    async with VtigerClient(quick) as vtiger, EconomicClient(quick) as economic:
        service = ConsistencyService(db, quick, vtiger, economic)
        reading = await service.read(hub_id(THREE))
        plan = build_plan(reading.comparison, [FieldChoice.pick("phone", "hub")])
        writing = asyncio.ensure_future(service.apply(reading, plan, only=["vtiger"]))
        for _ in range(500):
            if sandbox.vtiger.write_log:
                break
            await asyncio.sleep(0.01)
        faults.fault_path, faults.fault_method, faults.error_rate = "", "GET", 1.0
        earlier = await writing
    assert earlier.results["vtiger"].outcome == "unknown"
    faults.error_rate = 0.0

    app = HubApp(HubServices(live, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diff(pilot, hub_id(THREE))
        await wait_for(pilot, lambda: "settled" in static_text(screen, "#results"), "the settled write")
        assert static_text(screen, "#results").splitlines() == [
            "Earlier writes whose outcome was unknown, settled by reading them back:",
            "vTiger: written (confirmed by re-read) (Phone) — hubtui never heard its answer"]
        assert sandbox.vtiger.accounts[company.vtiger_id]["phone"] == company.phone
        assert [w.applied for w in sandbox.vtiger.write_log] == [True]
        rows = await db.pool.fetch("select outcome, message from audit_event where system = 'vtiger'")
        assert [(r["outcome"], r["message"].startswith("confirmed by re-read")) for r in rows] == [("written", True)]


def line_runs(app: HubApp, starts: str) -> tuple[str, list[str]]:
    """The rendered screen line that starts with `starts`, and the texts drawn in reverse video on it."""
    console = _console(app)
    lines: list[list[Segment]] = []
    for segment in console._record_buffer:
        if segment.control or not lines:  # the compositor starts each line with a cursor move
            lines.append([])
        if not segment.control:
            lines[-1].append(segment)
    for line in lines:
        text = "".join(segment.text for segment in line)
        if text.startswith(starts):
            return text, [s.text for s in line if s.text and s.style is not None and s.style.reverse]
    raise AssertionError(f"no line starts with {starts!r}")


async def test_80x24_marks_the_differing_characters_and_cuts_with_an_ellipsis(
    db: Database, settings: Settings, sandbox: RunningSandbox
) -> None:
    """Blå Montage at 80x24: the streets differ only in their last digit, beyond the column's edge."""
    company = replace(COMPANIES[0], address="Møllevej 10")
    accounts, customers = sandbox.vtiger.accounts, sandbox.economic.customers
    accounts[company.vtiger_id] = {**accounts[company.vtiger_id], "bill_street": "Møllevej 17"}
    number = company.economic_customer_number
    customers[number] = {**customers[number], "address": "MØLLEVEJ  10"}  # format only: not a difference
    app = HubApp(HubServices(await seeded(db, settings, sandbox, [company, *COMPANIES[1:]]), db))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(pilot, hub_id(0))
        assert [row.field for row in screen.rows] == ["address"]
        assert cells(screen, "address")[1:4] == ["● Møllevej …", "○ Møllevej …", "○ MØLLEVEJ …"]
        # The cut hides the difference: the ellipsis of each differing cell is marked, e-conomic's is not.
        row, marked = line_runs(app, " Address ")
        assert "● Møllevej …  ○ Møllevej …  ○ MØLLEVEJ …" in row
        assert marked == ["…", "…"]
        focus = "Address: hub Møllevej 10   vTiger Møllevej 17   e-conomic MØLLEVEJ  10"
        assert static_text(screen, "#focus").startswith(focus)
        assert line_runs(app, " " + focus)[1] == ["0", "7"]  # the hub value is suggested (2 of 3 agree)

        await pilot.press("2")  # pick vTiger's: now the others are marked against it
        await pilot.pause()
        assert line_runs(app, " " + focus)[1] == ["0", "7", "0"]
        assert_no_raw_control(app)
