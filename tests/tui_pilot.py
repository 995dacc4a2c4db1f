"""Driving hubtui's screens with keys as a person does, and reading the screen as they see it."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input

from hubtui.config import Settings
from hubtui.tui.app import HubApp
from hubtui.tui.screens.customers import CustomerListScreen
from hubtui.tui.screens.dialogs import Ask

RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what must never reach the terminal from data


def quiet(settings: Settings, **changes: object) -> Settings:
    """No fleet consistency check against remote systems at start: the test is about something else."""
    return settings.model_copy(update={"auto_check_consistency": False, **changes})


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, within: float = 10.0
) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await pilot.pause(0.02)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def settle(pilot: Pilot[None]) -> None:
    """Let the key's work (database round trips in workers) finish and the screen repaint."""
    app = pilot.app
    await app.workers.wait_for_complete()
    painted = asyncio.Event()
    app.screen.call_after_refresh(painted.set)
    await asyncio.wait_for(painted.wait(), 10)
    await app.workers.wait_for_complete()  # in case the repaint started more work (a screen's on_mount)


def _console(app: HubApp) -> Console:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console


def render(app: HubApp) -> tuple[str, str]:
    """The screen as plain text and as the SVG export_screenshot() makes, from one rendering."""
    console = _console(app)
    return console.export_text(clear=False), console.export_svg(clear=False)


def screen_text(app: HubApp) -> str:
    return _console(app).export_text(clear=False)


def notes(app: HubApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def list_screen(app: HubApp) -> CustomerListScreen:
    screen = app.screen
    assert isinstance(screen, CustomerListScreen), f"expected the customer list, got {screen!r}"
    return screen


async def start(pilot: Pilot[None]) -> CustomerListScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, CustomerListScreen) and app.screen.loaded,
                   "the customer list to load")
    return list_screen(app)  # type: ignore[arg-type]


async def answer(pilot: Pilot[None], text: str) -> str:
    """Replace the Ask dialog's text with `text`, press Enter; return the dialog's message ('' if it closed)."""
    dialog = pilot.app.screen
    assert isinstance(dialog, Ask), f"expected a question, got {dialog!r}"
    dialog.query_one(Input).value = text  # as if typed (typing key by key only makes the test slower)
    await pilot.press("enter")
    await settle(pilot)
    if pilot.app.screen is dialog:
        return str(dialog.query_one("#error").render())
    return ""


def visible(value: str) -> str:
    """What a name with control bytes must look like on screen: each byte as a visible symbol."""
    value = re.sub(r"[\x00-\x1f]", lambda m: chr(0x2400 + ord(m.group())), value)
    return value.replace("\x7f", "␡").replace("\x9b", "�")


def assert_no_raw_control(app: HubApp) -> None:
    text, svg = render(app)
    assert not RAW_CONTROL.search(text), repr(RAW_CONTROL.search(text))
    assert not RAW_CONTROL.search(svg)
    assert not RAW_CONTROL.search(app.export_screenshot())
