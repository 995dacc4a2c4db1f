"""`hubtui` on the command line: the TUI by default, and headless commands for scripts and cron."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from hubtui.config import Settings, SettingsError, load_settings, setting_sources, settings_files
from hubtui.store.db import Database, DatabaseError

if TYPE_CHECKING:
    from hubtui.sandbox.server import RunningSandbox

log = logging.getLogger("hubtui")

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2


@dataclass
class Hub:
    """What a command runs against: the settings in force and the open hub database."""

    settings: Settings
    db: Database
    demo: bool


def configure_logging(settings: Settings) -> None:
    try:
        settings.hubtui_data_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(settings.log_file, encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"invalid setting HUBTUI_DATA_DIR: cannot use {settings.hubtui_data_dir}: "
                            f"{error.strerror or error}") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.hubtui_log_level)
    # httpx logs full URLs at INFO; our connectors log what matters without credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # pgserver narrates every start and stop at INFO; its warnings and errors are what matter.
    logging.getLogger("pgserver").setLevel(logging.WARNING)


@asynccontextmanager
async def open_hub(settings: Settings, *, demo: bool, customers: int | None = None,
                   reset: bool = False) -> AsyncIterator[Hub]:
    """Open the hub database; in demo mode also seed it and start the sandboxes on loopback ports, so the
    demo runs the real connector code over real HTTP against the same companies."""
    from hubtui.store.db import open_database

    if not demo:
        configure_logging(settings)
        db = await open_database(settings)
        try:
            yield Hub(settings, db, demo)
        finally:
            await db.close()
        return

    from hubtui.sandbox.server import SandboxOptions, serve_sandboxes
    from hubtui.services.demo import demo_settings, pointed_at_sandbox, seed_demo, seed_demo_time

    settings = demo_settings(settings)
    configure_logging(settings)
    db = await open_database(settings)
    try:
        count = await seed_demo(db, customers, reset)
        async with serve_sandboxes(SandboxOptions(companies=count)) as sandbox:
            log.info("demo: %d customers; vTiger sandbox %s, e-conomic sandbox %s",
                     count, sandbox.vtiger_url, sandbox.economic_url)
            demo_hub = Hub(pointed_at_sandbox(settings, sandbox.env()), db, demo)
            await seed_demo_time(db, demo_hub.settings)
            yield demo_hub
    finally:
        await db.close()


async def run_tui(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.services.hub import HubServices
    from hubtui.tui.app import HubApp
    from hubtui.tui.keymap import check_keymap

    check_keymap(settings.hubtui_keymap)  # a wrong key stops here, in one line, before anything starts
    async with open_hub(settings, demo=args.demo, customers=getattr(args, "customers", None),
                        reset=getattr(args, "reset", False)) as hub:
        app = HubApp(HubServices(hub.settings, hub.db, demo=hub.demo))
        await app.run_async()
    # Textual prints the traceback of a crash and sets a non-zero return code: pass it on to the shell.
    return EXIT_OK if not app.return_code else EXIT_ERROR


async def run_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.services.demo import demo_settings
    from hubtui.store.db import database_url
    from hubtui.store.migrate import HEAD_REVISION, upgrade_to_head

    if args.demo:
        settings = demo_settings(settings)
    configure_logging(settings)
    ran = await upgrade_to_head(await database_url(settings))
    print(f"database schema {'upgraded to' if ran else 'already at'} revision {HEAD_REVISION}")
    return EXIT_OK


async def run_sandbox_serve(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.sandbox.faults import faults_from_options
    from hubtui.sandbox.server import SandboxOptions, serve_forever

    try:
        vtiger_faults, economic_faults = faults_from_options(args.fault)
    except ValueError as error:
        print(f"hubtui: --fault {error}", file=sys.stderr)
        return EXIT_ERROR
    options = SandboxOptions(companies=args.companies, vtiger_faults=vtiger_faults,
                             economic_faults=economic_faults)

    def ready(sandbox: RunningSandbox) -> None:
        print(f"vTiger sandbox:    {sandbox.vtiger_url}  (REST {sandbox.vtiger_rest_url})", flush=True)
        print(f"e-conomic sandbox: {sandbox.economic_url}", flush=True)
        print("settings that point hubtui at them:", flush=True)
        for name, value in sandbox.env().items():
            print(f"  {name}={value}", flush=True)
        print("Ctrl+C stops both.", flush=True)

    await serve_forever(args.port, options, on_ready=ready)
    return EXIT_OK


async def run_connection_test(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.connectors.base import ConnectorError

    if args.system == "vtiger":
        from hubtui.connectors.vtiger import connection_test
    else:
        from hubtui.connectors.economic import connection_test
    async with open_hub(settings, demo=args.demo) as hub:
        try:
            reply = await connection_test(hub.settings)
        except ConnectorError as error:
            log.warning("%s connection test failed: %s", args.system, error)
            print(json.dumps({"status": "error", "system": args.system, "message": str(error),
                              "code": error.code}, ensure_ascii=False))
            return EXIT_ERROR
    print(json.dumps(reply, ensure_ascii=False, default=str))
    return EXIT_OK


async def run_sync(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.connectors.base import ConnectorError
    from hubtui.connectors.vtiger import VtigerClient
    from hubtui.services.importing import import_customers, import_timelogs

    run_import = import_customers if args.what == "customers" else import_timelogs
    async with open_hub(settings, demo=args.demo) as hub, VtigerClient(hub.settings) as vtiger:
        with terminal_progress(f"vTiger {args.what}") as progress:
            try:
                summary = await run_import(hub.db, hub.settings, vtiger, progress=progress, full=args.full)
            except ConnectorError as error:
                log.error("sync %s failed: %s", args.what, error)
                print(f"hubtui: sync {args.what} failed: {error}", file=sys.stderr)
                return EXIT_ERROR
    print(summary.line())
    return EXIT_OK


async def run_check(args: argparse.Namespace, settings: Settings) -> int:
    """The consistency check without a screen, for cron: exit 0 none found, 1 found, 2 could not run or a
    linked system could not be read completely (then named on stderr and in the JSON's `incomplete`)."""
    from hubtui.connectors.economic import EconomicClient
    from hubtui.connectors.vtiger import VtigerClient
    from hubtui.services.consistency import ConsistencyService, check_fleet

    async with open_hub(settings, demo=args.demo) as hub, VtigerClient(hub.settings) as vtiger, \
            EconomicClient(hub.settings) as economic:
        service = ConsistencyService(hub.db, hub.settings, vtiger, economic)
        with terminal_progress("consistency check") as bar:
            def progress(what: str, done: int, total: int | None) -> None:
                if bar is not None:
                    bar(done, total)

            result = await check_fleet(service, progress, customer_ids=args.customer or None)
    summary = result.summary
    if result.unavailable_reasons and len(result.unavailable_reasons) == 2:
        message = "; ".join(result.unavailable_reasons.values())
        print(f"hubtui: check could not reach vTiger nor e-conomic: {message}", file=sys.stderr)
        return EXIT_ERROR
    if args.customer and summary["checked"] < len(set(args.customer)):
        found = {c.customer_id for c in result.customers}
        missing = ", ".join(str(i) for i in sorted(set(args.customer) - found))
        print(f"hubtui: no hub customer with id {missing}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps({"customers": [c.as_json() for c in result.customers], "summary": summary},
                         ensure_ascii=False, default=str))
    else:
        for check in result.customers:
            if check.comparison.discrepancy_count:
                count = check.comparison.discrepancy_count
                fields = ", ".join(f.field for f in check.comparison.discrepancies)
                partly = "" if check.compared else "  [not compared with every system: count kept]"
                print(f"{check.customer_id:>7}  {check.name}: {count} ({fields}){partly}")
        # A system no checked customer is linked to did not matter, but is still worth a word.
        unavailable = "; ".join(f"{s} unavailable: {r}" for s, r in result.unavailable_reasons.items()
                                if s not in result.incomplete)
        kept = f"; {summary['kept']:,} not compared with every system kept their stored count" \
            if summary["kept"] else ""
        print(f"checked {summary['checked']:,} customers in {summary['seconds']:.1f} s: "
              f"{summary['with_discrepancies']:,} with discrepancies, {summary['discrepancies']:,} in all{kept}"
              + (f" ({unavailable})" if unavailable else ""))
    for message in result.incomplete.values():
        print(f"hubtui: {message}", file=sys.stderr)
    if result.incomplete:
        return EXIT_ERROR
    return EXIT_REFUSED if summary["with_discrepancies"] else EXIT_OK


async def run_wizard_next(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.services.approval_queue import ApprovalQueue, WizardSession

    async with open_hub(settings, demo=args.demo) as hub:
        queue = ApprovalQueue(hub.db, hub.settings)
        session = WizardSession()
        entry = await queue.next_entry(session)
        # A headless peek must not keep the entry from the people in the wizard.
        await queue.release(session)
    reply = {"entry": entry.as_json() if entry else None, "message": "" if entry else "no pending time entries"}
    print(json.dumps(reply, ensure_ascii=False) if args.json else
          (f"{entry.id}: {entry.customer_name} {entry.work_date} {entry.billable_hours} h — {entry.description}"
           if entry else reply["message"]))
    return EXIT_OK


async def run_entry_decision(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.core.billing import InvalidHours, parse_hours
    from hubtui.services.approval_queue import ApprovalQueue, DecisionRefused

    try:
        hours = parse_hours(args.hours) if getattr(args, "hours", None) is not None else None
    except InvalidHours as error:
        print(f"hubtui: {error}", file=sys.stderr)
        return EXIT_ERROR
    async with open_hub(settings, demo=args.demo) as hub:
        queue = ApprovalQueue(hub.db, hub.settings)
        try:
            if args.decision == "approve":
                await queue.approve(args.id, hours=hours)
            else:
                await queue.reject(args.id, args.reason)
        except DecisionRefused as error:
            print(f"hubtui: {error}", file=sys.stderr)
            return EXIT_REFUSED
    print(f"time entry {args.id} {'approved' if args.decision == 'approve' else 'rejected'}")
    return EXIT_OK


async def run_orders_generate(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.services.orders import OrderRefused, Orders

    async with open_hub(settings, demo=args.demo) as hub:
        orders = Orders(hub.db, hub.settings)
        try:
            order_id = await orders.generate_order(args.customer)
        except OrderRefused as error:
            print(json.dumps({"success": False, "message": str(error)}) if args.json else f"hubtui: {error}",
                  file=sys.stdout if args.json else sys.stderr)
            return EXIT_REFUSED
        order = await orders.order(order_id)
    assert order is not None
    reply = {"success": True, "order_id": order_id, "order_number": order.number,
             "total_amount": str(order.total_amount), "currency": order.currency, "line_count": len(order.lines)}
    print(json.dumps(reply) if args.json else
          f"order {order.number} (id {order_id}): {len(order.lines)} lines, {order.total_amount} {order.currency}")
    return EXIT_OK


async def run_orders_export(args: argparse.Namespace, settings: Settings) -> int:
    from hubtui.connectors.economic import EconomicClient
    from hubtui.services.order_export import OrderExport

    async with open_hub(settings, demo=args.demo) as hub, EconomicClient(hub.settings) as economic:
        export = OrderExport(hub.db, hub.settings, economic)
        if args.command_name == "attach":
            result = await export.attach(args.id, args.draft)
        else:
            result = await export.export(args.id, none_exists=args.none_exists)
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False, default=str))
    else:
        print(result.message, file=sys.stdout if result.success else sys.stderr)
    # "unknown" is an error: a person has to look in e-conomic before anything more is sent.
    return {"exported": EXIT_OK, "dry_run": EXIT_OK, "blocked": EXIT_REFUSED, "refused": EXIT_REFUSED}.get(
        result.outcome, EXIT_ERROR)


async def run_config(args: argparse.Namespace, settings: Settings) -> int:
    """Every setting in force, its value and where it came from; secrets only say whether they are set."""
    sources = setting_sources(args.env)
    if args.demo:
        from hubtui.services.demo import demo_settings

        settings = demo_settings(settings)
        sources.update(hubtui_data_dir="--demo", database_url="--demo")
    values: dict[str, Any] = settings.model_dump(mode="json")
    for name in Settings.model_fields:
        secret = getattr(settings, name)
        if hasattr(secret, "get_secret_value"):
            values[name] = "***" if secret.get_secret_value() else None
    database = (f"embedded Postgres in {settings.pgdata_dir} (DATABASE_URL unset)" if settings.database_url is None
                else f"the Postgres server in DATABASE_URL (from {sources['database_url']})")
    files = [{"path": str(path), "found": path.is_file()} for path in settings_files(args.env)]
    if args.json:
        print(json.dumps({"files": files, "database": database,
                          "settings": {name.upper(): {"value": values[name], "source": sources[name]}
                                       for name in Settings.model_fields}}, ensure_ascii=False))
        return EXIT_OK
    order = ", ".join(("--env " if args.env else "") + f["path"] + ("" if f["found"] else " (not found)")
                      for f in files)
    print(f"settings, first wins: the environment, {order}, defaults")
    print(f"database: {database}")
    width = max(len(name) for name in Settings.model_fields)
    for name in Settings.model_fields:
        value = values[name]
        text = ("(unset)" if value is None else "(empty)" if value == "" else
                str(value).lower() if isinstance(value, bool) else str(value))
        print(f"{name.upper():<{width}}  {text}  [{sources[name]}]")
    return EXIT_OK


@contextmanager
def terminal_progress(label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress bar on a terminal; nothing when output goes to a file or cron mail."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubtui",
        description="Keep customers consistent between the hub, vTiger and e-conomic. "
        "Without a command, starts the terminal UI. Settings come from, first wins: the environment, .env in "
        "the working directory, then the user's config file (~/.config/hubtui/.env); see .env.example and "
        "`hubtui config`.",
    )
    parser.add_argument("--env", type=Path, metavar="FILE",
                        help="read settings from FILE instead of ./.env and the user's config file "
                        "(the environment still wins)")
    parser.add_argument("--demo", action="store_true",
                        help="run the command against the demo data directory and sandboxes, "
                        "never a real database or remote system")
    parser.set_defaults(command=run_tui, customers=None, reset=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    config = commands.add_parser("config", help="show every setting in force, its value and where it came "
                                 "from (secrets masked)")
    config.add_argument("--json", action="store_true", help="print JSON")
    config.set_defaults(command=run_config)

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

    sync = commands.add_parser("sync", help="import from vTiger into the hub")
    sync_commands = sync.add_subparsers(title="what to import", metavar="WHAT", required=True)
    for what, text in (("customers", "vTiger Accounts become hub customers; existing hub values are "
                        "never overwritten"),
                       ("timelogs", "vTiger time entries become pending entries for the approval wizard")):
        command = sync_commands.add_parser(what, help=text)
        command.add_argument("--full", action="store_true", help="read everything, not only what changed "
                             "since the last run")
        command.set_defaults(command=run_sync, what=what)

    check = commands.add_parser(
        "check",
        help="compare customers across the three systems; exit 0 none found, 1 found, 2 could not run or "
        "could not read a linked system completely (those customers keep their stored count)",
    )
    scope = check.add_mutually_exclusive_group()
    scope.add_argument("--customer", type=int, action="append", metavar="ID",
                       help="check this hub customer (repeatable)")
    scope.add_argument("--all", action="store_true", help="check every customer (the default)")
    check.add_argument("--json", action="store_true", help="print JSON per customer plus a summary")
    check.set_defaults(command=run_check)

    wizard = commands.add_parser("wizard", help="the time-entry approval queue, headless")
    wizard_commands = wizard.add_subparsers(title="wizard commands", metavar="ACTION", required=True)
    peek = wizard_commands.add_parser("next", help="show the next pending time entry")
    peek.add_argument("--json", action="store_true", help="print JSON")
    peek.set_defaults(command=run_wizard_next)

    entries = commands.add_parser("entries", help="decide time entries: exit 0 done, 1 refused, 2 error")
    entry_commands = entries.add_subparsers(title="entry commands", metavar="ACTION", required=True)
    approve = entry_commands.add_parser("approve", help="approve a pending time entry")
    approve.add_argument("id", type=int)
    approve.add_argument("--hours", metavar="H", help="billable hours instead of the rounded duration, e.g. 1.25")
    approve.set_defaults(command=run_entry_decision, decision="approve")
    reject = entry_commands.add_parser("reject", help="reject a pending time entry")
    reject.add_argument("id", type=int)
    reject.add_argument("--reason", required=True, help="why it is not billed")
    reject.set_defaults(command=run_entry_decision, decision="reject")

    orders = commands.add_parser("orders", help="orders from approved time, and their e-conomic export")
    order_commands = orders.add_subparsers(title="order commands", metavar="ACTION", required=True)
    generate = order_commands.add_parser("generate", help="make an order from a customer's approved entries")
    generate.add_argument("--customer", type=int, required=True, metavar="ID", help="hub customer id")
    generate.add_argument("--json", action="store_true", help="print JSON")
    generate.set_defaults(command=run_orders_generate)
    export = order_commands.add_parser(
        "export", help="export an order as an e-conomic draft order (behind TIMETRACKING_ECONOMIC_READ_ONLY "
        "and _DRY_RUN); exit 0 done or dry-run, 1 refused or blocked, 2 error")
    export.add_argument("id", type=int, help="order id")
    export.add_argument("--none-exists", action="store_true",
                        help="for an order whose export is UNKNOWN: you checked e-conomic and no draft with its "
                        "reference exists, so export it again with a new key (audited)")
    export.add_argument("--json", action="store_true", help="print JSON like the seed's export reply")
    export.set_defaults(command=run_orders_export, command_name="export")
    attach = order_commands.add_parser(
        "attach", help="for an order whose export is UNKNOWN: record the e-conomic draft you found for it "
        "(checked against its reference and customer; audited)")
    attach.add_argument("id", type=int, help="order id")
    attach.add_argument("--draft", type=int, required=True, metavar="N", help="the e-conomic draft order number")
    attach.add_argument("--json", action="store_true", help="print JSON")
    attach.set_defaults(command=run_orders_export, command_name="attach", none_exists=False)

    for system, title in (("vtiger", "vTiger"), ("economic", "e-conomic")):
        system_parser = commands.add_parser(system, help=f"{title} connection")
        system_commands = system_parser.add_subparsers(title=f"{title} commands", metavar="ACTION",
                                                       required=True)
        test = system_commands.add_parser("test", help=f"check the {title} connection; prints JSON, "
                                          "exit 0 connected, 2 error")
        test.set_defaults(command=run_connection_test, system=system)

    sandbox = commands.add_parser("sandbox", help="local stand-ins for vTiger and e-conomic")
    sandbox_commands = sandbox.add_subparsers(title="sandbox commands", metavar="ACTION", required=True)
    serve = sandbox_commands.add_parser(
        "serve", help="serve the vTiger sandbox on 127.0.0.1:PORT and e-conomic on PORT+1 until Ctrl+C"
    )
    serve.add_argument("--port", type=int, default=8700, help="vTiger port; e-conomic gets the next one")
    serve.add_argument("--companies", type=int, default=200, help="demo companies in both systems")
    serve.add_argument("--fault", action="append", default=[], metavar="SYSTEM.NAME=VALUE",
                       help="fault injection, repeatable: e.g. vtiger.latency_ms=20, vtiger.jitter_ms=10, "
                       "economic.error_rate=0.1, vtiger.burst_429=3, vtiger.retry_after_s=2, "
                       "economic.timeout_next=1, economic.malformed_next=1, vtiger.flood_limit=60, "
                       "vtiger.session_idle_s=5 (also settable at runtime: POST /_sandbox/faults)")
    serve.set_defaults(command=run_sandbox_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.demo = args.demo or getattr(args, "demo_command", False)
    if args.customers is not None and args.customers < 1:
        parser.error("--customers must be at least 1")
    try:
        settings = load_settings(args.env)
        return asyncio.run(args.command(args, settings))
    except (SettingsError, DatabaseError) as error:
        print(f"hubtui: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`hubtui config | head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
