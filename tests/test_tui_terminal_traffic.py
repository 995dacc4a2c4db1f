"""What the customer list sends to the terminal: over a slow SSH link every byte is lag.

A cursor move repaints the two rows it changes, not every row on screen; the filter's text cursor does not
blink (one repaint twice a second, for ever) when HUBTUI_CURSOR_BLINK is off, the default over SSH."""

from __future__ import annotations

import asyncio

import pytest
from rich.console import RenderableType
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.pilot import Pilot
from textual.screen import Screen
from tui_pilot import quiet, settle, start

from hubtui.config import Settings
from hubtui.sandbox.demo_data import demo_companies
from hubtui.services.demo import replace_all_customers
from hubtui.services.hub import HubServices
from hubtui.store.db import Database
from hubtui.tui.app import HubApp
from hubtui.tui.screens.customers import FilterBox

SIZE = (80, 24)  # the terminal support staff use, over SSH
MOVE_BYTES = 400


class Painted:
    """Every update the app hands to its terminal. Textual's App._display gets each one and, headless, only
    skips the write; the recorder renders it as the terminal would receive it."""

    def __init__(self, app: HubApp) -> None:
        self.app = app
        self.updates: list[CompositorUpdate] = []
        display = app._display

        def record(screen: Screen, renderable: RenderableType | None) -> None:
            if isinstance(renderable, CompositorUpdate):
                self.updates.append(renderable)
            display(screen, renderable)

        app._display = record  # type: ignore[method-assign]

    def lines(self) -> set[int]:
        """The screen lines repainted since the last clear()."""
        lines: set[int] = set()
        for update in self.updates:
            if isinstance(update, ChopsUpdate):
                lines.update(y for y, _, _ in update.spans)
            elif isinstance(update, LayoutUpdate):
                lines.update(range(update.region.y, update.region.bottom))
        return lines

    def bytes(self) -> int:
        return sum(len(update.render_segments(self.app.console).encode()) for update in self.updates)

    def clear(self) -> None:
        self.updates.clear()


async def list_app(db: Database, settings: Settings) -> HubApp:
    await replace_all_customers(db, demo_companies(200))
    return HubApp(HubServices(quiet(settings), db))


async def move(pilot: Pilot[None], key: str) -> None:
    await pilot.press(key)
    await settle(pilot)


async def test_a_cursor_move_repaints_only_the_old_and_the_new_row(db: Database, settings: Settings) -> None:
    app = await list_app(db, settings.model_copy(update={"hubtui_cursor_blink": False}))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        table = screen.table
        await move(pilot, "tab")
        assert table.has_focus
        # Taking the focus changes the list's style, so it is repainted whole, by Textual up to a frame later.
        await move(pilot, "j")
        painted = Painted(app)
        top = table.content_region.y

        await move(pilot, "j")
        assert table.cursor == 2
        assert painted.lines() == {top + 1, top + 2}
        assert painted.bytes() <= MOVE_BYTES

        for _ in range(2):
            await move(pilot, "j")
        painted.clear()
        await move(pilot, "k")
        assert table.cursor == 3
        assert painted.lines() == {top + 3, top + 4}
        assert painted.bytes() <= MOVE_BYTES

        # A move that scrolls repaints the list (every row moved up), and nothing outside it.
        for _ in range(table.size.height - 4):
            await move(pilot, "j")
        assert table.scroll_offset.y == 0
        painted.clear()
        await move(pilot, "j")
        assert table.scroll_offset.y == 1
        assert painted.lines() == set(range(top, table.content_region.bottom))
        await move(pilot, "home")

        # Down in the filter box moves the list's cursor the same way.
        await move(pilot, "slash")
        await move(pilot, "down")
        assert screen.filter_box.has_focus
        painted.clear()
        await move(pilot, "down")
        assert table.cursor == 2
        assert painted.lines() == {top + 1, top + 2}


@pytest.mark.parametrize("blink", [False, True])
async def test_the_filter_cursor_blinks_only_when_the_setting_says_so(
        db: Database, settings: Settings, blink: bool) -> None:
    app = await list_app(db, settings.model_copy(update={"hubtui_cursor_blink": blink}))
    async with app.run_test(size=SIZE) as pilot:
        screen = await start(pilot)
        box = screen.query_one(FilterBox)
        assert box.has_focus
        assert box.cursor_blink is blink
        await settle(pilot)
        painted = Painted(app)
        await asyncio.sleep(1.3)  # Input blinks every 0.5 s
        await pilot.pause()
        if blink:
            assert painted.lines() == set(range(box.region.y, box.region.bottom))  # the filter box, blinking
        else:
            assert painted.updates == []  # nothing at all is sent while nobody types

        # Typing still shows the text and the cursor.
        await pilot.press("a")
        await settle(pilot)
        assert box.value == "a"
        assert painted.updates


def test_cursor_blink_is_off_over_ssh(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name in ("SSH_CONNECTION", "SSH_TTY"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().hubtui_cursor_blink is True
    monkeypatch.setenv("SSH_CONNECTION", "192.0.2.1 50000 192.0.2.2 22")
    assert Settings().hubtui_cursor_blink is False
    monkeypatch.setenv("HUBTUI_CURSOR_BLINK", "true")
    assert Settings().hubtui_cursor_blink is True
    monkeypatch.delenv("SSH_CONNECTION")
    monkeypatch.delenv("HUBTUI_CURSOR_BLINK")
    monkeypatch.setenv("SSH_TTY", "/dev/pts/3")
    assert Settings().hubtui_cursor_blink is False
