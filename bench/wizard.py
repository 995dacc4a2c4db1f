"""Approval wizard speed: "approve → next entry shown" with 10,000 pending time entries. Prints figures; it is
not a pass/fail test (issue 5's goal: p95 ≤ 30 ms).

    python bench/wizard.py [--entries 10000] [--customers 500] [--approvals 300] [--history 0] [--plans] [--keep]

Set-up: a throwaway embedded Postgres in a new directory under the temp dir (removed at the end, unless
--keep), opened as the app opens it (`open_database(Settings(hubtui_data_dir=...))`, so with every
migration), with `demo_companies(--customers)` and --entries pending time entries spread evenly over them
(dates, durations and descriptions vary; loaded with COPY and ANALYZEd). --history adds that many already
billed entries, as a database has after months of use.

(a) Service: `ApprovalQueue.approve(id, session)` then `ApprovalQueue.next_entry(session)`, the two calls the
    wizard makes between the key and the next card, per approval; the split between them is shown too.
(b) TUI: `HubApp.run_test`, F4, then `a` sent as the terminal driver sends it, measured from the key to the
    repaint that shows the next entry (WizardScreen._draw is wrapped to signal it, as polling would take CPU
    from what it measures, then `call_after_refresh`). The wizard drops keys pressed while a decision is
    being saved, so each `a` is sent only once the previous decision's work is over (`busy` cleared), and
    the approvals the wizard made are counted. The "create the order?" offer after a customer's last entry
    is answered `n` outside the measurement; the approval that opens it and the two after it are slower
    (the dialog, and the work Textual leaves after closing it), so the figures without them are shown too.
(c) Per statement of that path, server execution time (explain analyze, median of 30; --plans prints the
    plans), with the round trip and the cost of one commit.
(d) The TUI again with an ApprovalQueue that answers at once from memory: the screen's own floor (event
    handling, layout, paint, Textual's refresh batching), which no database change can remove.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # hubtui from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from hubtui.config import Settings  # noqa: E402
from hubtui.store.db import Database  # noqa: E402

GOAL_P95_MS = 30.0
WARM_UP = 10
_WORDS = ("Printer setup", "Password reset", "Mail migration", "Server check", "VPN for new laptop",
          "Backup restore test", "Office 365 licences", "Firewall rules", "Phone system", "Onboarding")
_CONTACTS = ("Mette Hansen", "Lars Nielsen", "Anne Jensen", "Søren Pedersen", None)


def line(label: str, samples_ms: list[float], goal: float | None = GOAL_P95_MS) -> str:
    ordered = sorted(samples_ms)
    p50, p95 = statistics.median(ordered), statistics.quantiles(ordered, n=20)[-1]
    verdict = "" if goal is None else f"   goal p95 ≤ {goal:.0f} ms: {'met' if p95 <= goal else 'MISSED'}"
    return f"  {label:<34} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {ordered[-1]:6.1f} ms{verdict}"


async def prepare(db: Database, customers: int, entries: int, history: int) -> None:
    from hubtui.sandbox.demo_data import demo_companies
    from hubtui.services.demo import replace_all_customers

    started = time.perf_counter()
    await replace_all_customers(db, demo_companies(customers))
    rng = random.Random(2026)
    columns = ("remote_id", "customer_id", "contact", "work_date", "duration_minutes", "billable", "description",
               "related_case", "status", "billable_hours")

    def entry(number: int, status: str) -> tuple[Any, ...]:
        minutes = rng.choice((5, 15, 20, 30, 45, 60, 75, 90, 95, 120, 180, 240))
        hours = None if status == "pending" else (Decimal(-(-minutes // 15) * 15) / 60).quantize(Decimal("0.01"))
        return (f"43x{number}", number % customers + 1, rng.choice(_CONTACTS),
                date(2026, 1, 2) + timedelta(days=rng.randrange(80)), minutes, rng.random() > 0.05,
                f"{rng.choice(_WORDS)} #{number}", f"CC{rng.randrange(100_000)}" if rng.random() > 0.3 else None,
                status, hours)

    records = [entry(n, "billed") for n in range(history)] + [entry(history + n, "pending") for n in range(entries)]
    async with db.pool.acquire() as conn:
        await conn.copy_records_to_table("time_entry", records=records, columns=columns)
        await conn.execute("analyze")
    print(f"  loaded {customers:,} customers, {entries:,} pending and {history:,} billed entries "
          f"in {time.perf_counter() - started:.1f} s", flush=True)


# --- (a) service ------------------------------------------------------------------------------------


async def bench_service(db: Database, settings: Settings, approvals: int) -> dict[str, list[float]]:
    from hubtui.services.approval_queue import ApprovalQueue, WizardSession

    queue, session = ApprovalQueue(db, settings), WizardSession()
    entry = await queue.next_entry(session)
    total: list[float] = []
    approve: list[float] = []
    following: list[float] = []
    for number in range(WARM_UP + approvals):
        assert entry is not None
        started = time.perf_counter()
        await queue.approve(entry.id, session)
        middle = time.perf_counter()
        entry = await queue.next_entry(session)
        ended = time.perf_counter()
        if number >= WARM_UP:  # prepared statements, caches
            total.append((ended - started) * 1000)
            approve.append((middle - started) * 1000)
            following.append((ended - middle) * 1000)
    await queue.release(session)
    return {"total": total, "approve": approve, "next_entry": following}


# --- (b) and (d) TUI --------------------------------------------------------------------------------


@dataclasses.dataclass
class TuiRun:
    latencies: list[float] = dataclasses.field(default_factory=list)
    offers: list[int] = dataclasses.field(default_factory=list)  # samples whose approval ended a customer
    made: int = 0  # approvals the wizard recorded, warm-up included

    def lines(self, goal: float | None = GOAL_P95_MS) -> str:
        near = {index + step for index in self.offers for step in (0, 1, 2)}
        rest = [value for index, value in enumerate(self.latencies) if index not in near]
        text = (f"  {WARM_UP + len(self.latencies)} keys `a` sent ({WARM_UP} to warm up), {self.made} approvals "
                "recorded by the wizard\n" + line("approve → next entry shown", self.latencies, goal))
        if self.offers:
            share = 100 * (len(self.latencies) - len(rest)) / len(self.latencies)
            text += "\n" + line(f"  not next to an order offer ({share:.0f}%)", rest, goal=None)
        return text


async def bench_tui(db: Database, settings: Settings, approvals: int, queue: Any = None) -> TuiRun:
    from textual import events

    from hubtui.services.hub import HubServices
    from hubtui.tui.app import HubApp
    from hubtui.tui.screens.dialogs import ConfirmWrites
    from hubtui.tui.screens.wizard import WizardScreen

    services = HubServices(settings, db)
    if queue is not None:
        services.approval_queue = queue  # the screen asks the services for its queue: this one answers
    app = HubApp(services)
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
            for number in range(WARM_UP + approvals):
                # The previous decision (save, next entry, order offer) is over, or this key would be dropped.
                await app.workers.wait_for_complete()
                await until(lambda: not screen.busy and app.screen is screen, "the wizard to be ready")
                await painted()
                assert screen.entry is not None
                before = screen.entry.id
                drawn.clear()
                started = time.perf_counter()
                send("a")
                while screen.entry is None or screen.entry.id == before:
                    try:
                        await asyncio.wait_for(drawn.wait(), 10)
                    except TimeoutError:
                        raise RuntimeError(f"key `a` on entry {before} showed no next entry") from None
                    drawn.clear()
                await painted()
                if number >= WARM_UP:
                    run.latencies.append((time.perf_counter() - started) * 1000)
                await app.workers.wait_for_complete()  # ready_for_order, and the offer when a customer is done
                if isinstance(app.screen, ConfirmWrites):
                    if number >= WARM_UP:
                        run.offers.append(len(run.latencies) - 1)
                    send("n")
                    await until(lambda: app.screen is screen, "the offer to close")
                    # Closing the dialog leaves work behind (the footer is rebuilt for the wizard's keys); a
                    # person needs far longer than this to read the card before the next key.
                    await asyncio.sleep(0.1)
            await app.workers.wait_for_complete()
            run.made = sum(decision.status == "approved" for decision in screen.session.decisions)
            send("q")
            await until(lambda: not isinstance(app.screen, WizardScreen), "the wizard to close")
            await app.workers.wait_for_complete()
    finally:
        WizardScreen._draw = original_draw  # type: ignore[method-assign]
    return run


async def bench_floor(db: Database, settings: Settings, approvals: int) -> TuiRun:
    """(b) with an ApprovalQueue that answers at once from memory (the first pending entry, renumbered)."""
    from hubtui.services.approval_queue import ApprovalQueue, Decision, WizardSession

    session = WizardSession()
    template = await ApprovalQueue(db, settings).next_entry(session)
    await ApprovalQueue(db, settings).release(session)
    ids = itertools.count(10_000_000)

    class Instant(ApprovalQueue):
        async def next_entry(self, session: WizardSession) -> Any:
            return dataclasses.replace(template, id=next(ids))

        async def approve(self, entry_id: int, session: Any = None, hours: Any = None) -> None:
            session.decisions.append(Decision(entry_id, 0, "approved"))

        async def ready_for_order(self, customer_id: int) -> bool:
            return False

        async def release(self, session: WizardSession) -> None:
            return None

    return await bench_tui(db, settings, approvals, queue=Instant(db, settings))


# --- (c) per statement ------------------------------------------------------------------------------


async def explain_ms(db: Database, sql: str, *args: Any, runs: int = 30) -> float:
    """Median server execution time of `sql` (explain analyze, in a transaction rolled back each time)."""
    times = []
    for _ in range(runs):
        plan = await explained(db, "explain (analyze, format json)", sql, *args)
        times.append(float(json.loads(plan[0])[0]["Execution Time"]))
    return statistics.median(times)


async def explained(db: Database, explain: str, sql: str, *args: Any) -> list[str]:
    async with db.pool.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:
            return [row[0] for row in await conn.fetch(f"{explain} {sql}", *args)]
        finally:
            await tr.rollback()


async def wall_ms(run: Any, runs: int = 30) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def profile(db: Database, show_plans: bool) -> None:
    """Each statement of approve, next_entry and describe (and the TUI's ready_for_order), timed alone."""
    from hubtui.services.approval_queue import CLAIM_MINUTES

    token = "bench#profile"
    customers = ("select c.id from customer c where exists (select 1 from time_entry e "
                 "where e.customer_id = c.id and e.status = 'pending') order by lower(c.name), c.id")
    customer_id = await db.pool.fetchval(customers + " limit 1")
    pick = ("select id from time_entry where customer_id = $1 and status = 'pending' "
            "and not (id = any($2::int[])) and (claimed_until is null or claimed_until < now()) "
            "order by work_date, id for update skip locked limit 1")
    entry_id = await db.pool.fetchval(pick, customer_id, [])
    started_at = datetime.now(UTC) - timedelta(minutes=5)
    statements = {
        "approve: duration (own pool call)":
            ("select duration_minutes from time_entry where id = $1", [entry_id]),
        "approve: the decision (update … returning)":
            ("update time_entry set status = $2, billable_hours = $3, reject_reason = $4, decided_by = $5, "
             "decided_at = now(), claimed_by = null, claimed_until = null where id = $1 and status = 'pending' "
             "and (claimed_by is not distinct from $6 or claimed_until is null or claimed_until < now()) "
             "returning customer_id", [entry_id, "approved", Decimal("1.00"), None, "bench", token]),
        "approve: audit event (same transaction)":
            ("insert into audit_event (event_type, entity_type, entity_id, customer_id, system, outcome, before, "
             "after, message, remote_log_id, dry_run, actor) values ('entry_approved', 'time_entry', $1, $2, "
             "'hub', 'approved', $3::jsonb, $4::jsonb, null, null, false, 'bench') returning id",
             [str(entry_id), customer_id, '{"status": "pending"}',
              '{"status": "approved", "billable_hours": "1.00"}']),
        "next_entry: release the previous claim":
            ("update time_entry set claimed_by = null, claimed_until = null "
             "where claimed_by = $1 and not (id = any($2::int[]))", [token, [entry_id]]),
        "next_entry: customer list (once per session)": (customers, []),
        "next_entry: a customer's first free entry": (pick, [customer_id, []]),
        "next_entry: claim it":
            ("update time_entry set claimed_by = $2, claimed_until = now() + make_interval(mins => $3) "
             "where id = $1", [entry_id, token, CLAIM_MINUTES]),
        "describe: the entry + customer":
            ("select e.id, e.customer_id, c.name, c.economic_customer_number, c.hourly_rate, e.contact, "
             "e.work_date, e.duration_minutes, e.billable, e.billable_hours, e.description, e.related_case "
             "from time_entry e join customer c on c.id = e.customer_id where e.id = $1", [entry_id]),
        "describe: progress counts":
            ("select (select count(*) from time_entry where status = 'pending') "
             "+ (select count(*) from time_entry where decided_at >= $1), "
             "(select count(*) from time_entry where decided_at >= $1), "
             "(select count(*) from time_entry where customer_id = $2 and status = 'pending') "
             "+ (select count(*) from time_entry where customer_id = $2 and decided_at >= $1), "
             "(select count(*) from time_entry where customer_id = $2 and decided_at >= $1)",
             [started_at, customer_id]),
        "ready_for_order (TUI, after the card)":
            ("select count(*) filter (where status = 'pending'), "
             "count(*) filter (where status = 'approved' and order_id is null) "
             "from time_entry where customer_id = $1", [customer_id]),
    }
    print("\n(c) per statement, server execution time (explain analyze, median of 30):")
    for label, (sql, args) in statements.items():
        print(f"  {label:<46} {await explain_ms(db, sql, *args):7.2f} ms", flush=True)
        if show_plans:
            for text in await explained(db, "explain (analyze, costs off, timing off, summary off)", sql, *args):
                print(f"      {text}")
    async with db.pool.acquire() as conn:
        held = await wall_ms(lambda: conn.execute("select 1"))
    pooled = await wall_ms(lambda: db.pool.execute("select 1"))
    commit = await wall_ms(lambda: db.pool.execute("update customer set updated_at = updated_at where id = $1",
                                                   customer_id))
    durability = ", ".join([f"{name}={await db.pool.fetchval(f'show {name}')}"
                            for name in ("fsync", "synchronous_commit")])
    print(f"  round trip (select 1): {held:.2f} ms on a held connection, {pooled:.2f} ms as a pool call (asyncpg "
          f"resets the connection on release)\n  one-row write as a pool call, with its commit ({durability}): "
          f"{commit:.2f} ms\n  approve + next_entry + describe: 5 pool calls, 12 statements counting BEGIN/COMMIT, "
          "5 resets, 2 commits")


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
        print(f"\n(a) service: approve + next_entry, {args.approvals} approvals after {WARM_UP} to warm up")
        print(line("approve → next entry", service["total"]))
        print(line("  of which approve", service["approve"], goal=None))
        print(line("  of which next_entry (+ describe)", service["next_entry"], goal=None), flush=True)
        tui = await bench_tui(db, settings, args.approvals)
        print("\n(b) TUI: key `a` → next entry repainted")
        print(tui.lines(), flush=True)
        await profile(db, args.plans)
        floor = await bench_floor(db, settings, args.approvals)
        print("\n(d) TUI with an ApprovalQueue that answers at once from memory, nothing saved (the screen's floor)")
        print(floor.lines(goal=None), flush=True)
        approved = await db.pool.fetchval("select count(*) from time_entry where status = 'approved'")
        audited = await db.pool.fetchval("select count(*) from audit_event where event_type = 'entry_approved'")
        made = WARM_UP + args.approvals + tui.made
        print(f"\ncheck: {approved:,} entries approved ({made:,} by (a) and (b)), {audited:,} entry_approved "
              "audit events" + ("" if approved == audited == made else "  <- MISMATCH"))
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000, help="pending time entries")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--approvals", type=int, default=300, help="measured approvals per part")
    parser.add_argument("--history", type=int, default=0, help="billed entries besides the pending ones")
    parser.add_argument("--plans", action="store_true", help="print the query plans of (c)")
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
