"""Export the README's screenshots (SVG) from the running app on the demo data.

    python screenshots/make_screenshots.py

Runs the real app headless (`App.run_test`) against a throwaway demo data directory and the sandboxes,
drives it with keys as a person would, and saves what the screen shows.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from hubtui.cli import open_hub
from hubtui.config import load_settings
from hubtui.services.hub import HubServices
from hubtui.tui.app import HubApp
from hubtui.tui.screens.customers import CustomerListScreen

HERE = Path(__file__).parent
SIZE = (110, 32)


async def until(pilot: Pilot[None], condition: Callable[[], bool], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await pilot.pause(0.05)


async def shoot(name: str, steps: Callable[[HubApp, Pilot[None]], Awaitable[None]]) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(hubtui_data_dir=Path(data_dir))
        async with open_hub(settings, demo=True) as hub:
            app = HubApp(HubServices(hub.settings, hub.db, demo=True))
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: isinstance(app.screen, CustomerListScreen) and app.screen.loaded)
                await steps(app, pilot)
                await pilot.pause(0.3)
                app.save_screenshot(f"{name}.svg", str(HERE))
                print(f"wrote screenshots/{name}.svg")


async def customer_list(app: HubApp, pilot: Pilot[None]) -> None:
    await pilot.press("down", "down")


async def filtered_list(app: HubApp, pilot: Pilot[None]) -> None:
    await pilot.press(*"nordisk")


async def diff(app: HubApp, pilot: Pilot[None]) -> None:
    await pilot.press(*"sønderborg bager", "enter")
    await until(pilot, lambda: getattr(app.screen, "reading", None) is not None)


async def diff_review(app: HubApp, pilot: Pilot[None]) -> None:
    await diff(app, pilot)
    await pilot.press("s")


async def wizard(app: HubApp, pilot: Pilot[None]) -> None:
    await pilot.press("f4")
    await until(pilot, lambda: getattr(app.screen, "entry", None) is not None)


async def audit(app: HubApp, pilot: Pilot[None]) -> None:
    await diff_review(app, pilot)
    await pilot.press("y")
    await until(pilot, lambda: getattr(app.screen, "last_result", None) is not None)
    await pilot.press("f3")
    await pilot.pause(0.5)


async def systems(app: HubApp, pilot: Pilot[None]) -> None:
    await pilot.press("f2")
    await until(pilot, lambda: getattr(app.screen, "statuses", None) is not None)


async def help_keys(app: HubApp, pilot: Pilot[None]) -> None:
    await pilot.press("f1")


async def main() -> None:
    for name, steps in (("customer-list", customer_list), ("customer-list-filtered", filtered_list),
                        ("diff", diff), ("diff-review", diff_review), ("wizard", wizard), ("audit", audit),
                        ("systems", systems), ("help", help_keys)):
        await shoot(name, steps)


if __name__ == "__main__":
    asyncio.run(main())
