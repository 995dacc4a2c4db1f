"""The customer list, and the diff screen it opens, driven with keys the way a support person uses them.

No remote system is configured here, so the diff shows the hub's values with vTiger and e-conomic
"unavailable"; `test_tui_diff.py` drives the diff against the sandboxes."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from pydantic import SecretStr
from rich.cells import cell_len
from textual.command import CommandPalette
from textual.pilot import Pilot
from tui_pilot import assert_no_raw_control, screen_text, start, visible, wait_for

from hubtui.config import Settings
from hubtui.core.customer_index import COLUMNS, Column
from hubtui.core.fold import fold
from hubtui.i18n import Labels
from hubtui.sandbox.demo_data import DemoCompany, demo_companies
from hubtui.sandbox.server import SandboxOptions, serve_sandboxes
from hubtui.services.demo import pointed_at_sandbox, replace_all_customers
from hubtui.services.hub import HubServices
from hubtui.store.db import Database
from hubtui.tui.app import HubApp
from hubtui.tui.screens.customers import CustomerListScreen
from hubtui.tui.screens.diff import DiffScreen
from hubtui.tui.screens.help import HelpScreen
from hubtui.tui.widgets.customer_table import CustomerTable, column_widths

SIZE = (100, 30)
COMPANIES = demo_companies(200)


# --- helpers ----------------------------------------------------------------------------------------


async def seed(db: Database, extra: list[DemoCompany] | None = None) -> list[DemoCompany]:
    companies = [*COMPANIES, *(extra or [])]
    await replace_all_customers(db, companies)
    return companies


async def opened(pilot: Pilot[None], what: str = "the customer to open") -> DiffScreen:
    """The diff screen Enter opened, once it has read the customer."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.reading is not None, what)
    screen = app.screen
    assert isinstance(screen, DiffScreen)
    return screen


async def focus_field(pilot: Pilot[None], diff: DiffScreen, field: str) -> None:
    """Move the diff's cursor down to `field` with j: the focused row is shown in full below the table."""
    for _ in range(len(diff.rows)):
        if diff.rows[diff.table.cursor_row].field == field:
            return
        await pilot.press("j")
    raise AssertionError(f"no {field} row on the diff screen")


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*("space" if char == " " else char for char in text))
    await pilot.pause()


def shown_names(screen: CustomerListScreen) -> list[str]:
    index = screen.table.index
    return [index.cells(p)[Column.NAME] for p in screen.table.positions]


def visible_rows(table: CustomerTable) -> list[str]:
    rows = min(table.size.height, len(table.positions) - table.scroll_offset.y)
    return [table.render_line(y).text for y in range(rows)]


def matches(company: DemoCompany, query: str) -> bool:
    needle = fold(query.strip())  # the list folds Danish letters and accents (core/fold.py)
    values = (company.name, company.cvr_number, company.city, company.vtiger_id,
              company.economic_customer_number)
    return any(needle in fold(str(v)) for v in values if v is not None)


def name_order(companies: list[DemoCompany]) -> list[str]:
    return [c.name for c in sorted(companies, key=lambda c: c.name.casefold())]


def unique_company() -> DemoCompany:
    """A demo company with a CVR whose full name matches nothing else."""
    return next(c for c in COMPANIES
                if c.cvr_number and sum(matches(other, c.name) for other in COMPANIES) == 1)


# --- the list ---------------------------------------------------------------------------------------


async def test_list_shows_every_customer_in_name_order(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        assert shown_names(screen) == name_order(COMPANIES)
        text = screen_text(app)
        assert "200 of 200 customers" in text
        assert "sorted by Name" in text
        assert re.search(r"Name ↑\s+CVR\s+City\s+vTiger\s+e-conomic\s+Diffs", text)
        # Each column in its place: the first visible row reads name, CVR, city, vTiger id, number.
        first = next(c for c in COMPANIES if c.name == name_order(COMPANIES)[0])
        row = visible_rows(screen.table)[0]
        cells = [first.name, first.cvr_number or "", first.city or "", first.vtiger_id,
                 str(first.economic_customer_number)]
        assert re.match(r"\s+".join(re.escape(cell) for cell in cells if cell), row), row
        assert row in text
        # The safety state is always on screen, in words.
        assert "e-conomic: READ-ONLY" in text
        assert "vTiger sync: on" in text


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"economic_read_only": False}, ["e-conomic: DRY-RUN"]),
        ({"economic_read_only": False, "economic_dry_run": False}, ["e-conomic: LIVE"]),
        ({"vtiger_sync_enabled": False, "economic_sync_enabled": False},
         ["vTiger sync: off", "e-conomic sync: off"]),
    ],
)
async def test_header_says_the_safety_state(
    db: Database, settings: Settings, changes: dict[str, bool], words: list[str]
) -> None:
    await seed(db)
    app = HubApp(HubServices(settings.model_copy(update=changes), db))
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        text = screen_text(app)
        for word in words:
            assert word in text


async def test_typing_filters_the_list(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        query = "kold"  # Kolding: a city and part of company names
        await type_text(pilot, query)
        expected = [c.name for c in sorted(COMPANIES, key=lambda c: c.name.casefold()) if matches(c, query)]
        assert 1 < len(expected) < 23
        assert shown_names(screen) == expected
        text = screen_text(app)
        assert f"{len(expected)} of 200 customers" in text
        for name in expected:
            assert name in text
        assert name_order(COMPANIES)[0] not in expected
        assert name_order(COMPANIES)[0] not in text

        # Deleting the filter brings everyone back.
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        await pilot.pause()
        assert len(screen.table.positions) == 200
        assert "200 of 200 customers" in screen_text(app)

        # Danish letters match in any case.
        await type_text(pilot, "SØN")
        expected = [c.name for c in sorted(COMPANIES, key=lambda c: c.name.casefold()) if matches(c, "søn")]
        assert shown_names(screen) == expected
        assert expected[0] in screen_text(app)


async def test_filter_by_cvr_and_numbers(db: Database, settings: Settings) -> None:
    await seed(db)
    target = unique_company()
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await type_text(pilot, target.cvr_number or "")
        assert shown_names(screen) == [target.name]
        for query in (target.vtiger_id, str(target.economic_customer_number), (target.city or "").upper()):
            screen.filter_box.value = query
            await pilot.pause()
            assert target.name in shown_names(screen), query
            assert set(shown_names(screen)) == {c.name for c in COMPANIES if matches(c, query)}


async def test_no_match_says_so_and_enter_does_nothing(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await type_text(pilot, "zzqx")
        assert screen.table.positions == []
        assert "No customer matches" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen


async def test_escape_clears_the_filter_then_goes_to_the_list(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await type_text(pilot, "byg")
        assert len(screen.table.positions) < 200
        await pilot.press("escape")
        await pilot.pause()
        assert screen.filter_box.value == ""
        assert len(screen.table.positions) == 200
        await pilot.press("escape")
        await pilot.pause()
        assert screen.table.has_focus


async def test_keys_move_the_cursor(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        table = screen.table
        names = name_order(COMPANIES)

        def at_cursor() -> str:
            return names[table.cursor]

        # While typing in the filter, up/down already move the list's cursor.
        assert screen.filter_box.has_focus
        await pilot.press("down", "down")
        assert table.cursor == 2
        await pilot.press("up")
        assert table.cursor == 1

        await pilot.press("tab")
        assert table.has_focus
        await pilot.press("j", "j", "j")
        assert table.cursor == 4
        await pilot.press("k")
        assert table.cursor == 3
        page = table.size.height - 1
        await pilot.press("pagedown")
        assert table.cursor == 3 + page
        await pilot.press("pageup")
        assert table.cursor == 3
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor == 199
        assert at_cursor() == names[-1]
        assert names[0] not in screen_text(app)  # scrolled down
        await pilot.press("down")
        assert table.cursor == 199  # stops at the end
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor == 0
        assert names[0] in screen_text(app)
        await pilot.press("up")
        assert table.cursor == 0  # and at the top
        assert table.current_customer_id() is not None


async def test_the_cursor_row_is_always_on_screen(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        names = name_order(COMPANIES)
        await pilot.press("tab", "end")
        await pilot.pause()
        assert screen.table.cursor == 199
        assert names[-1] in screen_text(app)


async def test_typing_on_the_list_goes_to_the_filter(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await pilot.press("tab")
        assert screen.table.has_focus
        await type_text(pilot, "møl")
        assert screen.filter_box.value == "møl"
        assert screen.filter_box.has_focus
        assert set(shown_names(screen)) == {c.name for c in COMPANIES if matches(c, "møl")}


async def test_ctrl_s_changes_the_sort_and_ctrl_r_reverses(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        table = screen.table
        await pilot.press("down", "down", "down")
        chosen = table.current_customer_id()

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.sort_column is Column.CVR
        text = screen_text(app)
        assert "sorted by CVR" in text
        assert re.search(r"CVR ↑", text)
        cvrs = [table.index.cells(p)[Column.CVR] for p in table.positions]
        present = [cvr for cvr in cvrs if cvr]
        assert present == sorted(present)
        assert table.current_customer_id() == chosen  # the cursor stays on the same customer

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.sort_column is Column.CITY
        cities = [table.index.cells(p)[Column.CITY].casefold() for p in table.positions]
        assert cities == sorted(cities)

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.sort_column is Column.VTIGER_ID
        numbers = [int(table.index.cells(p)[Column.VTIGER_ID].split("x")[1]) for p in table.positions]
        assert numbers == sorted(numbers)

        await pilot.press("ctrl+r")
        await pilot.pause()
        numbers = [int(table.index.cells(p)[Column.VTIGER_ID].split("x")[1]) for p in table.positions]
        assert numbers == sorted(numbers, reverse=True)
        assert "vTiger ↓" in screen_text(app)
        assert table.current_customer_id() == chosen

        for _ in range(3):  # e-conomic, discrepancies, and round to name again
            await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.sort_column is Column.NAME
        assert shown_names(screen) == name_order(COMPANIES)


async def test_enter_opens_the_customer_and_escape_returns(db: Database, settings: Settings) -> None:
    await seed(db)
    target = unique_company()
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await type_text(pilot, target.vtiger_id)
        assert shown_names(screen) == [target.name]
        await pilot.press("enter")
        diff = await opened(pilot)
        text = screen_text(app)
        assert (f"{target.name}  hub #{diff.customer_id} · vTiger {target.vtiger_id} · "
                f"e-conomic {target.economic_customer_number}") in text
        assert "vTiger unavailable: vTiger: VTIGER_URL is not set" in text
        # a: all fields, with the hub's values (the remote systems are not configured here).
        await pilot.press("a")
        text = screen_text(app)
        assert re.search(r"CVR\s+○ " + re.escape(target.cvr_number or "") + r"\s+\(unavailable\)", text)
        for value in (target.cvr_number, target.address, target.city, target.postal_code, target.phone):
            assert value and f"○ {value}" in text, value
        for field in ("name", "email", "website", "invoice_email"):  # wider than their column: in full below
            value = getattr(target, field)
            await focus_field(pilot, diff, field)
            assert f": hub {value}   vTiger unavailable" in screen_text(app), field

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert screen.filter_box.value == target.vtiger_id  # the filter is kept
        assert shown_names(screen) == [target.name]

        # From the list itself (not the filter) Enter opens the customer under the cursor.
        screen.filter_box.value = ""
        await pilot.pause()
        await pilot.press("tab", "down", "enter")
        # Clearing the filter kept the cursor on the customer just seen; down is the next one.
        names = name_order(COMPANIES)
        expected = names[names.index(target.name) + 1]
        diff = await opened(pilot)
        assert f"{expected}  hub #{diff.customer_id}" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_ctrl_d_shows_only_customers_with_discrepancies(db: Database, settings: Settings) -> None:
    await seed(db)
    await db.pool.execute("update customer set discrepancy_count = 3 where id in (5, 17)")
    await db.pool.execute("update customer set discrepancy_count = 0 where id = 6")
    # The stored counts, without a start-up check replacing them (see the test below).
    app = HubApp(HubServices(settings.model_copy(update={"auto_check_consistency": False}), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert set(shown_names(screen)) == {COMPANIES[4].name, COMPANIES[16].name}
        text = screen_text(app)
        assert "only with discrepancies" in text
        assert re.search(re.escape(COMPANIES[4].name) + r".*\s3\s*$", text, re.MULTILINE)
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert len(screen.table.positions) == 200
        assert "only with discrepancies" not in screen_text(app)


async def test_a_check_that_reaches_no_remote_system_keeps_the_stored_counts(
    db: Database, settings: Settings
) -> None:
    await seed(db)
    await db.pool.execute("update customer set discrepancy_count = 3 where id in (5, 17)")
    # AUTO_CHECK_CONSISTENCY is on; both systems are configured but nothing answers on their port.
    closed = "http://127.0.0.1:9"
    unreachable = settings.model_copy(update={
        "vtiger_url": closed, "vtiger_username": "support", "vtiger_api_key": SecretStr("key"),
        "economic_api_url": closed, "economic_app_secret_token": SecretStr("secret"),
        "economic_agreement_grant_token": SecretStr("grant"), "http_max_retries": 0, "http_timeout_seconds": 2,
    })
    app = HubApp(HubServices(unreachable, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await wait_for(pilot, lambda: app.services.fleet_checked, "the start-up consistency check")
        await pilot.pause()
        stored = await db.pool.fetch("select id from customer where discrepancy_count = 3 order by id")
        assert [row["id"] for row in stored] == [5, 17]  # the database keeps them ...
        index = screen.table.index
        assert [index.discrepancies[index.ids.index(i)] for i in (5, 17)] == [3, 3]  # ... and so must the list


async def test_a_check_that_could_not_read_a_system_names_it_and_keeps_its_customers_counts(
    db: Database, settings: Settings
) -> None:
    await seed(db)
    await db.pool.execute("update customer set discrepancy_count = 3, checked_at = now() - interval '1 day'")
    await db.pool.execute("update customer set economic_customer_number = null where id = 8")  # vTiger only
    async with serve_sandboxes(SandboxOptions(companies=len(COMPANIES))) as sandbox:
        # e-conomic answers every customers page with garbage, as often as it is asked.
        sandbox.economic.faults.fault_path, sandbox.economic.faults.malformed_next = "/customers", 100
        config = pointed_at_sandbox(settings, sandbox.env()).model_copy(update={"http_max_retries": 0})
        app = HubApp(HubServices(config, db))
        async with app.run_test(size=SIZE) as pilot:
            screen = await start(pilot)
            await wait_for(pilot, lambda: app.services.fleet_checked, "the start-up consistency check")
            await pilot.pause()
            (note,) = [n for n in app._notifications if n.title == "Check incomplete"]
            assert note.severity == "error"
            assert "e-conomic: GET /customers page 1 (skippages=0) answered HTTP 200 with something that is " \
                   "not JSON" in note.message
            assert f"no counts were changed for the {len(COMPANIES) - 1} customers in e-conomic — run it again" \
                in note.message
            index = screen.table.index
            shown = {customer_id: index.discrepancies[index.ids.index(customer_id)] for customer_id in (1, 8, 9)}
            assert shown == {1: 3, 8: 1, 9: 3}  # only the vTiger-only customer was compared, and shows it
    stored = await db.pool.fetch("select id, discrepancy_count from customer where id = any($1::int[]) order by id",
                                 [1, 8, 9])
    assert [tuple(row) for row in stored] == [(1, 3), (8, 1), (9, 3)]


async def test_f1_lists_the_keys(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        text = screen_text(app)
        await pilot.press("end")  # one key a line: the rest is further down
        await pilot.pause()
        text += screen_text(app)
        for description in ("Quit", "Help", "Sort", "Reverse", "Only discrepancies", "Open", "Up", "Down",
                            "Page up", "Page down", "First", "Last", "Filter", "Reload"):
            assert re.search(rf"\s{re.escape(description)}\s", text), description
        for key in ("^q", "^s", "^r", "^d", "f1", "home", "end", "pgup", "pgdn", "j", "k"):
            assert re.search(rf"(\s|/){re.escape(key)}(\s|/)", text), key
        # Each key's binding id beside it: what HUBTUI_KEYMAP remaps it by.
        for key, description, binding_id in (("^s", "Sort", "customers.sort"), ("^q", "Quit", "app.quit"),
                                             ("f6", "Check all", "customers.check_all")):
            assert re.search(rf"{re.escape(key)}\s+{description}\s+{re.escape(binding_id)}\s", text), binding_id
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_ctrl_q_quits(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await type_text(pilot, "a")  # even while typing in the filter
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, "the app to exit", within=5)
    assert app.return_code == 0


async def test_ctrl_q_quits_from_the_diff_screen(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await pilot.press("enter")
        await opened(pilot, "the diff screen")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, "the app to exit", within=5)


async def test_danish_labels(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings.model_copy(update={"hubtui_language": "da"}), db))
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        text = screen_text(app)
        assert "200 af 200 kunder" in text
        assert "sorteret efter Navn" in text
        assert re.search(r"Navn ↑\s+CVR\s+By\s", text)
        assert "e-conomic: KUN LÆSNING" in text
        assert "Skriv for at filtrere" in text
        await type_text(pilot, "zzqx")
        assert "Ingen kunder matcher" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        await opened(pilot)
        await pilot.press("a")
        text = screen_text(app)
        for label in ("Navn", "CVR Nummer", "Adresse", "By", "Postnummer", "Land", "Telefon", "Mobil", "Email",
                      "Hjemmeside", "Faktura email"):
            assert re.search(rf"^ {label}\s+(○|not in)", text, re.MULTILINE), label


async def test_keys_can_be_remapped_by_binding_id(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings.model_copy(update={"hubtui_keymap": "customers.sort=f9"}), db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await pilot.press("f9")
        await pilot.pause()
        assert screen.sort_column is Column.CVR


async def palette_lines(pilot: Pilot[None], query: str) -> list[str]:
    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
    await type_text(pilot, query)
    await pilot.pause(0.2)  # the palette searches in a worker
    return [line.strip() for line in screen_text(app).splitlines() if line.strip()]


async def test_command_palette_offers_the_screens_actions(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        missing = []
        for action in ("Sort", "Only discrepancies", "Open"):
            lines = await palette_lines(pilot, action.lower()[:4])
            if not any(line.startswith(action) for line in lines):
                missing.append(action)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen, "the palette to close", within=2)
        assert missing == [], "the command palette does not offer these actions"


async def test_command_palette_runs_the_action(db: Database, settings: Settings) -> None:
    await seed(db)
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        await palette_lines(pilot, "only")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, "the palette to close", within=1)
        await wait_for(pilot, lambda: screen.only_discrepancies, "the action to run", within=1)


# --- customer data is never markup ------------------------------------------------------------------

HOSTILE = {
    "markup": "[bold red]x[/",
    "link": "[link=http://evil]y[/link]",
    # Postgres text cannot hold NUL; every other control byte can reach the hub from a remote system.
    "ansi": "\x1b[31mRED\x1b[0m Alarm\x07\x08\x7f\x9b2J ApS",
}


def hostile_companies() -> list[DemoCompany]:
    base = COMPANIES[0]
    return [
        replace(base, name=HOSTILE["markup"], vtiger_id="9x1", economic_customer_number=90_001, city="[/]"),
        replace(base, name=HOSTILE["link"], vtiger_id="9x2", economic_customer_number=90_002,
                email="[b]kontakt@evil.dk"),
        replace(base, name=HOSTILE["ansi"], vtiger_id="9x3", economic_customer_number=90_003,
                address="Gade \x1b]0;pwned\x07 1"),
    ]


async def test_markup_and_escape_bytes_in_data_show_literally(db: Database, settings: Settings) -> None:
    await seed(db, hostile_companies())
    app = HubApp(HubServices(settings, db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        text = screen_text(app)
        # Sorted by name they come first ([ and ESC sort before letters), so all three are on screen.
        assert HOSTILE["markup"] in text
        assert HOSTILE["link"] in text
        assert visible(HOSTILE["ansi"]) in text
        assert "␛[31mRED␛[0m Alarm␇␈" in text
        assert "[/]" in text
        assert_no_raw_control(app)

        for key, query in (("markup", "bold"), ("link", "evil"), ("ansi", "alar")):
            await type_text(pilot, query)
            assert len(screen.table.positions) == 1, key
            assert visible(HOSTILE[key]) in screen_text(app)
            await pilot.press("enter")
            diff = await opened(pilot, f"the {key} customer to open")
            assert f"{visible(HOSTILE[key])}  hub #{diff.customer_id}" in screen_text(app)
            await pilot.press("a")
            assert f"Name: hub {visible(HOSTILE[key])}   vTiger unavailable" in screen_text(app)
            assert_no_raw_control(app)
            if key == "markup":
                assert re.search(r"City\s+○ \[/\]\s", screen_text(app))
            if key == "link":
                await focus_field(pilot, diff, "email")
                assert "Email: hub [b]kontakt@evil.dk   vTiger unavailable" in screen_text(app)
            if key == "ansi":
                await focus_field(pilot, diff, "address")
                assert "Address: hub Gade ␛]0;pwned␇ 1   vTiger unavailable" in screen_text(app)
            assert_no_raw_control(app)
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen
            await pilot.press("escape")  # clear the filter
            await pilot.pause()
        assert app.is_running


@pytest.mark.parametrize("language", ["en", "da"])
def test_every_column_label_and_its_sort_arrow_fit_at_80_columns(language: str) -> None:
    labels = Labels(language)  # type: ignore[arg-type]
    widths = column_widths(80 - 2)  # the list's scrollbar
    for column in COLUMNS:
        assert cell_len(labels(f"column_{column.value}") + " ↓") <= widths[column], column
