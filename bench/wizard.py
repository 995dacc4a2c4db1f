"""Approval wizard speed: "approve → next entry shown" with 10,000 pending time entries. Prints figures; it is
not a pass/fail test.

    python bench/wizard.py [--entries 10000] [--customers 500] [--approvals 300] [--history 0] [--plans]
                           [--no-what-if] [--keep]

Set-up: a throwaway embedded Postgres in a new directory under the temp dir (removed at the end, unless
--keep), opened as the app opens it (`open_database(Settings(hubtui_data_dir=...))`), with
`demo_companies(--customers)` and --entries pending time entries spread evenly over them (dates, durations
and descriptions vary; loaded with COPY and ANALYZEd). --history adds that many already billed entries, as a
database has after months of use (the queue only shows pending ones, but some queries read the whole table).

(a) Service: `TimeTracking.approve(id, session)` followed by `TimeTracking.next_entry(session)` — the two calls
    the wizard makes between the key and the next card — per approval; the split between them is shown too.
(b) TUI: `HubApp.run_test`, F4, then `a` sent as the terminal driver sends it; measured from the key to the
    repaint that shows the next entry (the card drawn with a new entry id — WizardScreen._draw is wrapped to
    signal it, rather than polled, since a polling loop would take CPU from the app and the database it
    measures — then `call_after_refresh`, as bench/customer_list.py measures a keystroke). The next key is
    only sent once the previous one's work has finished (the wizard cancels a decision still in flight when a
    key arrives; see the report), and the "create the order?" offer that follows a customer's last entry is
    answered `n` outside the measurement. The approval that opens that offer and the two after it are slower
    (the dialog, and the work Textual leaves after closing it); with 20 entries per customer they are 15% of
    the samples, so the figures without them are printed too.

Then each SQL statement of that path is timed on its own (median of 30 runs, `explain analyze` execution
time; --plans prints the plans), with the round trip and the cost of one commit.

What-if (skipped with --no-what-if): the proposed changes, applied in this process and this throwaway
database only (product code is untouched): two partial indexes, the next entry picked with a LATERAL walk
over customers in name order, approve in one transaction (one commit instead of two). (a) and (b) again with
them; (c) the same plus one repaint per key (the "Approved entry …" message is drawn together with the next
card instead of before next_entry, which otherwise costs a second layout and paint in the middle of the
database round trips); then (d) the TUI with a TimeTracking that answers instantly from memory: the screen's
own floor (event handling, layout, paint, Textual's 60 fps refresh batching), which no database change can
remove, and about what a wizard that claims the next entry ahead (and shows it at once) would give.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

THIS_FILE = Path(__file__).resolve()
REPO_ROOT = THIS_FILE.parent.parent
if str(REPO_ROOT) not in sys.path:  # hubtui from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from hubtui.config import Settings  # noqa: E402
from hubtui.store.db import Database  # noqa: E402

GOAL_P95_MS = 30.0
_WORDS = ("Printer setup", "Password reset", "Mail migration", "Server check", "VPN for new laptop",
          "Backup restore test", "Office 365 licences", "Firewall rules", "Phone system", "Onboarding")
_CONTACTS = ("Mette Hansen", "Lars Nielsen", "Anne Jensen", "Søren Pedersen", None)


def figures(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {"p50": statistics.median(ordered), "p95": statistics.quantiles(ordered, n=20)[-1],
            "max": ordered[-1], "n": len(ordered)}


def line(label: str, samples_ms: list[float], goal: float | None = GOAL_P95_MS) -> str:
    f = figures(samples_ms)
    verdict = ""
    if goal is not None:
        verdict = f"   goal p95 ≤ {goal:.0f} ms: {'met' if f['p95'] <= goal else 'MISSED'}"
    return f"  {label:<34} p50 {f['p50']:6.1f} ms   p95 {f['p95']:6.1f} ms   max {f['max']:6.1f} ms{verdict}"


# --- set-up -----------------------------------------------------------------------------------------


async def prepare(db: Database, customers: int, entries: int, history: int) -> None:
    from hubtui.sandbox.demo_data import demo_companies
    from hubtui.store.customer_list import replace_all_customers

    started = time.perf_counter()
    await replace_all_customers(db, demo_companies(customers))
    rng = random.Random(2026)
    columns = ("remote_id", "customer_id", "contact", "work_date", "duration_minutes", "billable", "description",
               "related_case", "status", "billable_hours")
    first_day = date(2026, 1, 2)

    def entry(number: int, status: str) -> tuple[Any, ...]:
        minutes = rng.choice((5, 15, 20, 30, 45, 60, 75, 90, 95, 120, 180, 240))
        hours = None if status == "pending" else Decimal(-(-minutes // 15) * 15) / 60
        return (f"43x{number}", number % customers + 1, rng.choice(_CONTACTS),
                first_day + timedelta(days=rng.randrange(80)), minutes, rng.random() > 0.05,
                f"{rng.choice(_WORDS)} #{number}", f"CC{rng.randrange(100_000)}" if rng.random() > 0.3 else None,
                status, None if hours is None else hours.quantize(Decimal("0.01")))

    records = [entry(n, "billed") for n in range(history)] + [entry(history + n, "pending") for n in range(entries)]
    async with db.pool.acquire() as conn:
        await conn.copy_records_to_table("time_entry", records=records, columns=columns)
        await conn.execute("analyze")
    print(f"  loaded {customers:,} customers, {entries:,} pending and {history:,} billed entries "
          f"in {time.perf_counter() - started:.1f} s", flush=True)


# --- (a) service ------------------------------------------------------------------------------------


async def bench_service(db: Database, settings: Settings, approvals: int,
                        tracking_type: type | None = None) -> dict[str, list[float]]:
    from hubtui.services.timetracking import TimeTracking, WizardSession

    tracking = (tracking_type or TimeTracking)(db, settings)
    session = WizardSession()
    entry = await tracking.next_entry(session)
    for _ in range(10):  # warm-up: prepared statements, caches
        assert entry is not None
        await tracking.approve(entry.id, session)
        entry = await tracking.next_entry(session)
    total, approve, following = [], [], []
    for _ in range(approvals):
        assert entry is not None
        started = time.perf_counter()
        await tracking.approve(entry.id, session)
        middle = time.perf_counter()
        entry = await tracking.next_entry(session)
        ended = time.perf_counter()
        total.append((ended - started) * 1000)
        approve.append((middle - started) * 1000)
        following.append((ended - middle) * 1000)
    await tracking.release(session)
    return {"total": total, "approve": approve, "next_entry": following}


# --- (b) TUI ----------------------------------------------------------------------------------------


@dataclass
class TuiRun:
    latencies: list[float] = field(default_factory=list)
    offers: list[int] = field(default_factory=list)  # sample indexes whose approval ended a customer

    def away_from_offers(self) -> list[float]:
        """Samples other than the approval that opens the order offer and the two after it."""
        near = {index + step for index in self.offers for step in (0, 1, 2)}
        return [value for index, value in enumerate(self.latencies) if index not in near]


def tui_lines(run: TuiRun) -> str:
    rest = run.away_from_offers()
    share = 100 * (len(run.latencies) - len(rest)) / len(run.latencies)
    return (line("approve → next entry shown", run.latencies) + "\n"
            + line(f"  without the 3 around each order offer ({share:.0f}%)", rest, goal=None))


async def bench_tui(db: Database, settings: Settings, approvals: int) -> TuiRun:
    from textual import events

    from hubtui.tui.app import HubApp
    from hubtui.tui.screens.dialogs import ConfirmWrites
    from hubtui.tui.screens.wizard import WizardScreen

    app = HubApp(settings, db)
    run = TuiRun()

    def send(key: str) -> None:
        app._driver.send_message(events.Key(key, key if len(key) == 1 else None))  # type: ignore[union-attr]

    async def painted() -> None:
        done = asyncio.Event()
        app.screen.call_after_refresh(done.set)
        await done.wait()

    async def until(condition: Any, what: str, within: float = 10.0) -> None:
        # Only outside the measured span: polling would take CPU from the app and the database it measures.
        deadline = time.perf_counter() + within
        while not condition():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    # The card is drawn by WizardScreen._draw: wrapped to signal, so the wait for it costs nothing.
    drawn = asyncio.Event()
    original_draw = WizardScreen._draw

    def draw(screen: WizardScreen) -> None:
        original_draw(screen)
        drawn.set()

    WizardScreen._draw = draw  # type: ignore[method-assign]
    try:
        async with app.run_test(size=(120, 40)):
            send("f4")
            await until(lambda: isinstance(app.screen, WizardScreen) and app.screen.entry is not None, "the wizard")
            screen = app.screen
            assert isinstance(screen, WizardScreen)
            await app.workers.wait_for_complete()
            await painted()
            for number in range(approvals + 10):
                assert screen.entry is not None
                before = screen.entry.id
                drawn.clear()
                started = time.perf_counter()
                send("a")
                while screen.entry is None or screen.entry.id == before:
                    await asyncio.wait_for(drawn.wait(), 10)
                    drawn.clear()
                await painted()
                if number >= 10:  # the first ten warm up
                    run.latencies.append((time.perf_counter() - started) * 1000)
                await app.workers.wait_for_complete()  # ready_for_order, and the offer when a customer is done
                if isinstance(app.screen, ConfirmWrites):
                    if number >= 10:
                        run.offers.append(len(run.latencies) - 1)
                    send("n")
                    await until(lambda: app.screen is screen, "the offer to close")
                    # Closing the dialog leaves work behind (the footer is rebuilt for the wizard's keys); a
                    # person needs far longer than this to read the card before the next key.
                    await asyncio.sleep(0.1)
                    await app.workers.wait_for_complete()
                    await painted()
            send("q")
            await until(lambda: not isinstance(app.screen, WizardScreen), "the wizard to close")
            await app.workers.wait_for_complete()
    finally:
        WizardScreen._draw = original_draw  # type: ignore[method-assign]
    return run


# --- profile ----------------------------------------------------------------------------------------


async def explain_ms(db: Database, sql: str, *args: Any, runs: int = 30) -> float:
    """Median server execution time of `sql` (explain analyze, in a transaction rolled back each time)."""
    times = []
    async with db.pool.acquire() as conn:
        for _ in range(runs):
            tr = conn.transaction()
            await tr.start()
            try:
                plan = await conn.fetchval(f"explain (analyze, format json) {sql}", *args)
            finally:
                await tr.rollback()
            times.append(float(json.loads(plan)[0]["Execution Time"]))
    return statistics.median(times)


async def plan_text(db: Database, sql: str, *args: Any) -> list[str]:
    async with db.pool.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:
            rows = await conn.fetch(f"explain (analyze, costs off, timing off, summary off) {sql}", *args)
        finally:
            await tr.rollback()
    return [r[0] for r in rows]


async def profile(db: Database, show_plans: bool) -> None:
    """Each statement of approve + next_entry (+ describe, ready_for_order), timed alone."""
    token = "bench#profile"
    entry = await db.pool.fetchrow(
        "select e.id, e.customer_id from time_entry e join customer c on c.id = e.customer_id "
        "where e.status = 'pending' order by c.name, e.customer_id, e.work_date, e.id limit 1")
    entry_id, customer_id = entry["id"], entry["customer_id"]
    started_at = datetime.now(UTC) - timedelta(minutes=5)
    current = {
        "release previous claim (update … where claimed_by = $1)":
            ("update time_entry set claimed_by = null, claimed_until = null where claimed_by = $1", [token]),
        "pick next (join customer, order by c.name …, skip locked)":
            ("select e.id from time_entry e join customer c on c.id = e.customer_id "
             "where e.status = 'pending' and not (e.id = any($1::int[])) "
             "and (e.claimed_until is null or e.claimed_until < now()) "
             "order by c.name, e.customer_id, e.work_date, e.id for update of e skip locked limit 1", [[]]),
        "claim it (update … where id = $1)":
            ("update time_entry set claimed_by = $2, claimed_until = now() + make_interval(mins => 10) "
             "where id = $1", [entry_id, token]),
        "describe: the entry + customer":
            ("select e.*, c.name as customer_name, c.hourly_rate, c.economic_customer_number "
             "from time_entry e join customer c on c.id = e.customer_id where e.id = $1", [entry_id]),
        "describe: progress counts (whole table)":
            ("select count(*) filter (where status = 'pending' or decided_at >= $1) as total, "
             "count(*) filter (where decided_at >= $1) as done, "
             "count(*) filter (where customer_id = $2 and (status = 'pending' or decided_at >= $1)) as c_total, "
             "count(*) filter (where customer_id = $2 and decided_at >= $1) as c_done from time_entry",
             [started_at, customer_id]),
        "approve: duration":
            ("select duration_minutes from time_entry where id = $1", [entry_id]),
        "approve: the decision (update … returning)":
            ("update time_entry set status = 'approved', billable_hours = 1.00, reject_reason = null, "
             "decided_by = 'bench', decided_at = now(), claimed_by = null, claimed_until = null "
             "where id = $1 and status = 'pending' and (claimed_by is not distinct from $2 "
             "or claimed_until is null or claimed_until < now()) returning id, customer_id", [entry_id, None]),
        "approve: audit insert":
            ("insert into audit_event (event_type, entity_type, entity_id, customer_id, system, outcome, before, "
             "after, dry_run, actor) values ('entry_approved', 'time_entry', $1, $2, 'hub', 'approved', '{}', '{}', "
             "false, 'bench')",
             [str(entry_id), customer_id]),
        "ready_for_order (after the card is drawn)":
            ("select count(*) filter (where status = 'pending') as pending, "
             "count(*) filter (where status = 'approved' and order_id is null) as approved "
             "from time_entry where customer_id = $1", [customer_id]),
    }
    print("\nper statement, server execution time (explain analyze, median of 30; the app adds ~0.2-0.5 ms "
          "of round trip per statement, 9-10 statements per approval):")
    for label, (sql, args) in current.items():
        print(f"  {label:<58} {await explain_ms(db, sql, *args):7.2f} ms", flush=True)
        if show_plans:
            for text in await plan_text(db, sql, *args):
                print(f"      {text}")
    settings = [f"{name}={await db.pool.fetchval(f'show {name}')}" for name in ("fsync", "synchronous_commit")]
    round_trip = await wall_ms(db, "select 1")
    commit = await wall_ms(db, "update customer set updated_at = updated_at where id = $1", customer_id)
    print(f"  round trip (select 1) {round_trip:.2f} ms; a one-row write in its own transaction (commit = WAL flush, "
          f"{', '.join(settings)}) {commit:.2f} ms; approve + next_entry make 3 such commits")


async def wall_ms(db: Database, sql: str, *args: Any, runs: int = 30) -> float:
    """Median wall time of `sql` as the app runs it (autocommit, through the pool)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await db.pool.execute(sql, *args)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# --- what-if: the proposed changes, applied in this process and database only -----------------------

NEXT_BY_LATERAL = (
    # Walk the customers in name order on ix_customer_sort_name (lower(name), id) and take the first
    # customer's first free entry from the partial index ix_time_entry_queue (customer_id, work_date, id)
    # WHERE status = 'pending'; SKIP LOCKED stays per row, so a customer whose only entries are being
    # claimed right now is passed over, not taken for an empty queue.
    "select x.id from customer c cross join lateral ("
    "  select e.id from time_entry e where e.customer_id = c.id and e.status = 'pending' "
    "  and not (e.id = any($1::int[])) and (e.claimed_until is null or e.claimed_until < now()) "
    "  order by e.work_date, e.id limit 1 for update of e skip locked) x "
    "order by lower(c.name), c.id limit 1"
)
CLAIMED_BY_INDEX = ("create index if not exists bench_time_entry_claimed_by on time_entry (claimed_by) "
                    "where claimed_by is not null")
DECIDED_AT_INDEX = ("create index if not exists bench_time_entry_decided_at on time_entry (decided_at) "
                    "where decided_at is not null")
PROGRESS_BY_INDEX = (
    "select (select count(*) from time_entry where status = 'pending') "
    "+ (select count(*) from time_entry where decided_at >= $1) as total, "
    "(select count(*) from time_entry where decided_at >= $1) as done, "
    "(select count(*) from time_entry where customer_id = $2 and (status = 'pending' or decided_at >= $1)) "
    "as c_total, "
    "(select count(*) from time_entry where customer_id = $2 and decided_at >= $1) as c_done"
)


def proposed_tracking() -> type:
    """TimeTracking with the proposed next_entry (lateral pick, indexed release), describe (indexed counts) and
    approve (one transaction: one commit instead of two, and the audit event cannot be split from the decision)."""
    from hubtui.core.billing import billable_hours, effective_rate, line_amount
    from hubtui.services.audit import AuditRecord, record
    from hubtui.services.timetracking import (
        CLAIM_MINUTES,
        Decision,
        DecisionRefused,
        QueueEntry,
        TimeTracking,
        actor,
    )

    class Proposed(TimeTracking):
        async def next_entry(self, session: Any) -> Any:
            async with self.db.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "update time_entry set claimed_by = null, claimed_until = null where claimed_by = $1",
                    session.token)
                row = await conn.fetchrow(NEXT_BY_LATERAL, list(session.skipped))
                if row is None:
                    return None
                await conn.execute(
                    "update time_entry set claimed_by = $2, claimed_until = now() + make_interval(mins => $3) "
                    "where id = $1", row["id"], session.token, CLAIM_MINUTES)
            return await self.describe(row["id"], session)

        async def describe(self, entry_id: int, session: Any) -> Any:
            # The product's describe with one change: the progress counts read through indexes
            # (PROGRESS_BY_INDEX) instead of counting the whole table.
            row = await self.db.pool.fetchrow(
                "select e.*, c.name as customer_name, c.hourly_rate, c.economic_customer_number "
                "from time_entry e join customer c on c.id = e.customer_id where e.id = $1", entry_id)
            if row is None:
                return None
            counts = await self.db.pool.fetchrow(PROGRESS_BY_INDEX, session.started_at, row["customer_id"])
            hours = row["billable_hours"] or billable_hours(row["duration_minutes"],
                                                            self.settings.timetracking_rounding_minutes)
            rate = effective_rate(row["hourly_rate"], self.settings.timetracking_default_rate)
            return QueueEntry(
                id=row["id"], customer_id=row["customer_id"], customer_name=row["customer_name"],
                economic_customer_number=row["economic_customer_number"], contact=row["contact"],
                work_date=row["work_date"], duration_minutes=row["duration_minutes"], billable=row["billable"],
                billable_hours=hours, hourly_rate=rate, rate_is_default=row["hourly_rate"] is None,
                amount=line_amount(hours, rate), description=row["description"], related_case=row["related_case"],
                position=counts["done"] + 1, total=counts["total"],
                customer_position=counts["c_done"] + 1, customer_total=counts["c_total"],
            )

        async def approve(self, entry_id: int, session: Any = None, hours: Any = None) -> None:
            token = session.token if session else None
            async with self.db.pool.acquire() as conn, conn.transaction():
                minutes = await conn.fetchval(
                    "select duration_minutes from time_entry where id = $1 and status = 'pending' and "
                    "(claimed_by is not distinct from $2 or claimed_until is null or claimed_until < now()) "
                    "for update", entry_id, token)
                if minutes is None:
                    raise DecisionRefused(await self._why_refused(entry_id))
                if hours is None:
                    hours = billable_hours(minutes, self.settings.timetracking_rounding_minutes)
                row = await conn.fetchrow(
                    "update time_entry set status = 'approved', billable_hours = $2, reject_reason = null, "
                    "decided_by = $3, decided_at = now(), claimed_by = null, claimed_until = null "
                    "where id = $1 returning id, customer_id", entry_id, hours, actor())
                await record(conn, AuditRecord(
                    event_type="entry_approved", entity_type="time_entry", entity_id=str(row["id"]),
                    customer_id=row["customer_id"], system="hub", outcome="approved",
                    before={"status": "pending"}, after={"status": "approved", "billable_hours": hours}))
            if session is not None:
                session.decisions.append(Decision(entry_id, row["customer_id"], "approved"))

    return Proposed


def instant_tracking(template: Any) -> type:
    """A TimeTracking that answers at once from memory: what is left is the screen's own work."""
    import dataclasses

    from hubtui.services.timetracking import TimeTracking

    class Instant(TimeTracking):
        shown = 0

        async def next_entry(self, session: Any) -> Any:
            Instant.shown += 1
            return dataclasses.replace(template, id=10_000_000 + Instant.shown)

        async def describe(self, entry_id: int, session: Any) -> Any:
            return dataclasses.replace(template, id=entry_id)

        async def approve(self, entry_id: int, session: Any = None, hours: Any = None) -> None:
            return None

        async def ready_for_order(self, customer_id: int) -> bool:
            return False

        async def release(self, session: Any) -> None:
            return None

    return Instant


@contextlib.contextmanager
def one_paint_per_key() -> Iterator[None]:
    """WizardScreen with `_say` deferred to the next `_draw`: the message and the next card in one repaint."""
    from rich.text import Text
    from textual.widgets import Static

    from hubtui.tui.screens.wizard import WizardScreen
    from hubtui.tui.text import printable

    original_say, original_draw = WizardScreen._say, WizardScreen._draw
    pending: dict[int, Text] = {}

    def say(screen: WizardScreen, text: str, style: str = "") -> None:
        pending[id(screen)] = Text(printable(text), style)

    def draw(screen: WizardScreen) -> None:
        original_draw(screen)
        if id(screen) in pending:
            screen.query_one("#message", Static).update(pending.pop(id(screen)))

    WizardScreen._say, WizardScreen._draw = say, draw  # type: ignore[method-assign]
    try:
        yield
    finally:
        WizardScreen._say, WizardScreen._draw = original_say, original_draw  # type: ignore[method-assign]


async def what_if(db: Database, settings: Settings, approvals: int, show_plans: bool) -> None:
    import hubtui.tui.screens.wizard as wizard_screen
    from hubtui.services.timetracking import TimeTracking, WizardSession

    entry = await db.pool.fetchrow("select id, customer_id from time_entry where status = 'pending' limit 1")
    started_at = datetime.now(UTC) - timedelta(minutes=5)
    await db.pool.execute(CLAIMED_BY_INDEX)
    await db.pool.execute(DECIDED_AT_INDEX)
    await db.pool.execute("analyze time_entry")
    statements = {
        "release previous claim, partial index on claimed_by":
            ("update time_entry set claimed_by = null, claimed_until = null where claimed_by = $1",
             ["bench#profile"]),
        "pick next: lateral over customers by lower(name)": (NEXT_BY_LATERAL, [[]]),
        "progress: counts by index (decided_at partial index)":
            (PROGRESS_BY_INDEX, [started_at, entry["customer_id"]]),
    }
    print("\nwhat-if, statements (indexes created in this throwaway database only):")
    for label, (sql, args) in statements.items():
        print(f"  {label:<58} {await explain_ms(db, sql, *args):7.2f} ms", flush=True)
        if show_plans:
            for text in await plan_text(db, sql, *args):
                print(f"      {text}")

    proposed = proposed_tracking()
    service = await bench_service(db, settings, approvals, proposed)
    print(f"what-if (a) service with the proposed next_entry + approve, {approvals} approvals")
    print(line("approve → next entry", service["total"]))
    print(line("  of which approve", service["approve"], goal=None))
    print(line("  of which next_entry (+ describe)", service["next_entry"], goal=None), flush=True)
    original = wizard_screen.TimeTracking
    try:
        wizard_screen.TimeTracking = proposed  # type: ignore[misc]
        tui = await bench_tui(db, settings, approvals)
        print(f"what-if (b) TUI with the same, {approvals} approvals")
        print(tui_lines(tui), flush=True)
        with one_paint_per_key():
            tui = await bench_tui(db, settings, approvals)
        print(f"what-if (c) TUI with the same and one repaint per key, {approvals} approvals")
        print(tui_lines(tui), flush=True)
        session = WizardSession()
        template = await TimeTracking(db, settings).next_entry(session)
        await TimeTracking(db, settings).release(session)
        wizard_screen.TimeTracking = instant_tracking(template)  # type: ignore[misc]
        floor = await bench_tui(db, settings, approvals)
        print(f"(d) TUI with a database that answers instantly (the screen's own floor), {approvals} approvals")
        print(tui_lines(floor), flush=True)
    finally:
        wizard_screen.TimeTracking = original  # type: ignore[misc]


# --- main -------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    from hubtui.store.db import open_database

    settings = Settings(hubtui_data_dir=data_dir, auto_check_consistency=False, database_url=None)
    started = time.perf_counter()
    db = await open_database(settings)
    print(f"  embedded Postgres ready in {time.perf_counter() - started:.1f} s ({data_dir})", flush=True)
    try:
        await prepare(db, args.customers, args.entries, args.history)
        service = await bench_service(db, settings, args.approvals)
        print(f"\n(a) service: approve + next_entry, {args.approvals} approvals")
        print(line("approve → next entry", service["total"]))
        print(line("  of which approve", service["approve"], goal=None))
        print(line("  of which next_entry (+ describe)", service["next_entry"], goal=None), flush=True)
        tui = await bench_tui(db, settings, args.approvals)
        print(f"\n(b) TUI: key `a` → next entry repainted, {args.approvals} approvals")
        print(tui_lines(tui), flush=True)
        await profile(db, args.plans)
        if not args.no_what_if:
            await what_if(db, settings, args.approvals, args.plans)
        approved = await db.pool.fetchval("select count(*) from time_entry where status = 'approved'")
        audited = await db.pool.fetchval("select count(*) from audit_event where event_type = 'entry_approved'")
        print(f"\ncheck: {approved:,} entries approved, {audited:,} entry_approved audit events"
              + ("" if approved == audited else "  <- MISMATCH"))
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000, help="pending time entries")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--approvals", type=int, default=300, help="measured approvals per part")
    parser.add_argument("--history", type=int, default=0, help="billed entries besides the pending ones")
    parser.add_argument("--plans", action="store_true", help="print the query plans of the profile")
    parser.add_argument("--no-what-if", action="store_true", help="skip the proposed-changes figures")
    parser.add_argument("--keep", action="store_true", help="keep the database directory")
    args = parser.parse_args()
    for name in list(os.environ):  # this machine's .env or exports must not point us at a real database
        if name.startswith(("HUBTUI_", "TIMETRACKING_")) or name == "DATABASE_URL":
            del os.environ[name]
    data_dir = Path(tempfile.mkdtemp(prefix="hubtui-bench-wizard-"))
    print(f"hubtui wizard benchmark (python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}): {args.entries:,} pending entries over {args.customers:,} customers")
    started = time.perf_counter()
    try:
        asyncio.run(run(args, data_dir))
    finally:
        _stop_embedded(data_dir)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s (load average now {os.getloadavg()[0]:.1f}; other "
          "processes on the machine inflate p95 and max)")


def _stop_embedded(data_dir: Path) -> None:
    from hubtui.store import db as store

    for pgdata, server in list(store._embedded_servers.items()):
        if data_dir in pgdata.parents:
            server.cleanup()  # type: ignore[attr-defined]
            del store._embedded_servers[pgdata]


if __name__ == "__main__":
    main()
