"""`hubtui` on the command line: the TUI by default, and headless commands for scripts and cron."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from hubtui.config import Settings, SettingsError, load_settings
from hubtui.store.db import Database, DatabaseError

log = logging.getLogger("hubtui")

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2


@dataclass
class Hub:
    """What a command runs against: the settings in force and the open hub database."""

    settings: Settings
    db: Database
    demo: bool


def configure_logging(settings: Settings) -> None:
    settings.hubtui_data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(settings.log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.hubtui_log_level)
    # httpx logs full URLs at INFO; our connectors log what matters without credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@asynccontextmanager
async def open_hub(settings: Settings, *, demo: bool, customers: int | None = None,
                   reset: bool = False) -> AsyncIterator[Hub]:
    from hubtui.services.demo import demo_settings, seed_demo
    from hubtui.store.db import open_database

    if demo:
        settings = demo_settings(settings)
    configure_logging(settings)
    db = await open_database(settings)
    try:
        if demo:
            count = await seed_demo(db, customers, reset)
            log.info("demo hub has %d customers", count)
        yield Hub(settings, db, demo)
    finally:
        await db.close()


async def run_tui(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.tui.app import HubApp

    async with open_hub(settings, demo=args.demo, customers=getattr(args, "customers", None),
                        reset=getattr(args, "reset", False)) as hub:
        await HubApp(hub.settings, hub.db, demo=hub.demo).run_async()
    return EXIT_OK


async def run_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.services.demo import demo_settings
    from hubtui.store.db import database_url
    from hubtui.store.migrate import head_revision, upgrade_to_head

    if args.demo:
        settings = demo_settings(settings)
    configure_logging(settings)
    ran = await upgrade_to_head(await database_url(settings))
    print(f"database schema {'upgraded to' if ran else 'already at'} revision {head_revision()}")
    return EXIT_OK


Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubtui",
        description="Keep customers consistent between the hub, vTiger and e-conomic. "
        "Without a command, starts the terminal UI. Settings come from the environment and .env "
        "(see .env.example).",
    )
    parser.add_argument("--demo", action="store_true",
                        help="run the command against the demo data directory and sandboxes, "
                        "never a real database or remote system")
    parser.set_defaults(command=run_tui, customers=None, reset=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = commands.add_parser("demo", help="start the UI on seeded demo data (same as --demo)")
    demo.add_argument("--customers", type=int, metavar="N",
                      help="seed N demo customers (re-seeds when N differs from what is there)")
    demo.add_argument("--reset", action="store_true", help="throw the demo data away and seed it anew")
    demo.set_defaults(command=run_tui, demo_command=True)

    ui = commands.add_parser("ui", help="start the terminal UI (the default)")
    ui.set_defaults(command=run_tui)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="run the Alembic migrations up to the newest")
    upgrade.set_defaults(command=run_db_upgrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.demo = args.demo or getattr(args, "demo_command", False)
    if args.customers is not None and args.customers < 1:
        parser.error("--customers must be at least 1")
    try:
        settings = load_settings()
        return asyncio.run(args.command(args, settings))
    except (SettingsError, DatabaseError) as error:
        print(f"hubtui: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
