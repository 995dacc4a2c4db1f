"""Going between screens as in k9s: an F-key or the palette switches to a screen (one of each), Esc goes back to
the customer list in one step, at the 80x24 support staff use."""

from __future__ import annotations

from datetime import date

from textual.command import CommandPalette
from textual.pilot import Pilot
from time_entries import MOLS, Entry, seed
from tui_pilot import quiet, screen_text, start, wait_for

from hubtui.config import Settings
from hubtui.sandbox.demo_data import demo_companies
from hubtui.services.demo import replace_all_customers
from hubtui.services.hub import HubServices
from hubtui.store.db import Database
from hubtui.tui.app import HubApp, top_level_screens
from hubtui.tui.screens.audit import AuditScreen
from hubtui.tui.screens.customers import CustomerListScreen
from hubtui.tui.screens.dialogs import Ask
from hubtui.tui.screens.diff import DiffScreen
from hubtui.tui.screens.rates import RatesScreen
from hubtui.tui.screens.systems import SystemsScreen
from hubtui.tui.screens.wizard import WizardScreen

SIZE = (80, 24)
KEYS = {"f2": SystemsScreen, "f3": AuditScreen, "f4": WizardScreen, "f7": RatesScreen,
        "f8": top_level_screens()["orders"]}


async def app_for(db: Database, settings: Settings) -> HubApp:
    await replace_all_customers(db, demo_companies(20))
    return HubApp(HubServices(quiet(settings), db))


async def press(pilot: Pilot[None], key: str) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, KEYS[key]), f"{key}'s screen", within=5)


def top_level_in_stack(app: HubApp) -> list[type]:
    return [type(screen) for screen in app.screen_stack if isinstance(screen, tuple(KEYS.values()))]


async def test_f_keys_switch_screens_and_one_esc_goes_back_to_the_list(db: Database, settings: Settings) -> None:
    app = await app_for(db, settings)
    async with app.run_test(size=SIZE) as pilot:
        customers = await start(pilot)
        for key in ("f4", "f3", "f4", "f3", "f7", "f8", "f3", "f4"):
            await press(pilot, key)
            assert top_level_in_stack(app) == [KEYS[key]], "one top-level screen at a time, never a pile"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is customers, "the customer list after one Esc", within=5)
        assert len(app.screen_stack) == 2  # Textual's default screen and the list: nothing left to go back to


async def test_the_key_of_the_open_screen_keeps_it_and_q_goes_back(db: Database, settings: Settings) -> None:
    app = await app_for(db, settings)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await press(pilot, "f7")
        rates = app.screen
        await pilot.press("f7")
        await pilot.pause()
        assert app.screen is rates and top_level_in_stack(app) == [RatesScreen]
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the list after q", within=5)


async def test_a_customer_opened_from_the_list_is_still_there_after_a_screen(db: Database, settings: Settings) -> None:
    app = await app_for(db, settings)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen), "the customer", within=5)
        diff = app.screen
        await press(pilot, "f3")
        await press(pilot, "f2")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is diff, "the same customer after Esc", within=5)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the list", within=5)


async def test_an_f_key_leaves_a_dialog_waiting_for_its_answer(db: Database, settings: Settings) -> None:
    app = await app_for(db, settings)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await press(pilot, "f7")
        await pilot.press("enter")  # the rate of the first customer: a question
        await wait_for(pilot, lambda: isinstance(app.screen, Ask), "the rate question", within=5)
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, Ask), "the question must not vanish under an F-key"


async def test_palette_lists_the_screens_once_and_switches_to_one(db: Database, settings: Settings) -> None:
    app = await app_for(db, settings)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await press(pilot, "f3")
        audit = app.screen
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        titles = [command.title for command in app.get_system_commands(audit)]
        assert len(titles) == len(set(titles)), f"listed twice: {titles}"
        for title in ("Customers", "Systems", "Audit log", "Approve time", "Rates", "Orders", "Back", "Undo",
                      "System filter", "Reload", "Quit", "Help"):
            assert title in titles, title
        await pilot.press(*"sys")
        await pilot.pause(0.3)  # the palette searches in a worker
        lines = [line.strip() for line in screen_text(app).splitlines()]
        assert any(line.startswith("Systems") for line in lines), lines
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SystemsScreen), "the systems screen", within=5)
        assert top_level_in_stack(app) == [SystemsScreen]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen), "the list", within=5)


async def test_palette_speaks_danish(db: Database, settings: Settings) -> None:
    app = await app_for(db, settings.model_copy(update={"hubtui_language": "da"}))
    async with app.run_test(size=SIZE) as pilot:
        customers = await start(pilot)
        titles = [command.title for command in app.get_system_commands(customers)]
        for title in ("Kunder", "Systemer", "Revisionslog", "Godkend tid", "Sortér", "Afslut"):
            assert title in titles, title
        assert "Sort" not in titles


async def test_switching_away_from_the_wizard_gives_its_entries_back(db: Database, settings: Settings) -> None:
    ids = await seed(db, [Entry(MOLS, 15, work_date=date(2026, 1, day)) for day in (1, 2, 3)])
    app = HubApp(HubServices(quiet(settings), db))
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await press(pilot, "f4")
        claimed = "select id from time_entry where claimed_by is not null order by id"
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen) and app.screen.entry is not None,
                       "the wizard's first entry")
        await app.workers.wait_for_complete()  # the entry after it is claimed ahead in a worker
        assert [row["id"] for row in await db.pool.fetch(claimed)] == ids[:2]  # on screen and the one after
        await press(pilot, "f3")
        await app.workers.wait_for_complete()
        assert await db.pool.fetch(claimed) == [], "the wizard left: its entries are free for someone else"
        assert top_level_in_stack(app) == [AuditScreen]
