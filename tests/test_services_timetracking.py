"""Time entries from pending to billed: the wizard queue, decisions, rates, orders and the e-conomic export.

Real Postgres (the session's test database) and real HTTP to the sandboxes served from this process. The
export tests read what e-conomic received from the sandbox's own write log, and what hubtui sent from a
recording transport around the real HTTP transport (the write log keeps no headers).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import jsonschema
import pytest
from api_fixtures import fixture_json

from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient
from hubtui.connectors.vtiger import VtigerClient
from hubtui.core.draft_order import new_export_key
from hubtui.sandbox.remote_data import MISSING_FROM_ECONOMIC_INDEX
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.approval_queue import ApprovalQueue, DecisionRefused, WizardSession
from hubtui.services.importing import import_customers, import_timelogs
from hubtui.services.order_export import ExportResult, OrderExport
from hubtui.services.orders import OrderRefused, Orders
from hubtui.services.rates import RATE_DECIMALS, RATE_DIGITS, RATE_MAX, HourlyRates, RateRefused
from hubtui.store.audit import actor
from hubtui.store.db import Database

COMPANIES = 60  # timelogs exist for every third of the first 60 companies
ECONOMIC_NUMBER = 10_000  # company index 0 in the sandbox's e-conomic
LIVE = {"timetracking_economic_read_only": False, "timetracking_economic_dry_run": False}
DRY_RUN = {"timetracking_economic_read_only": False, "timetracking_economic_dry_run": True}
YEAR = datetime.now(UTC).year
CENT = Decimal("0.01")

MakeSettings = Callable[..., Settings]
_remote_ids = itertools.count(1)


# ------------------------------------------------------------------------------------------------ fixtures

@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=COMPANIES)) as running:
        yield running


@pytest.fixture
def make_settings(settings: Settings, tmp_path: Path) -> MakeSettings:
    """Settings pointed at `running` (if given); depends on `settings` so no .env or environment leaks in."""

    def make(running: RunningSandbox | None = None, **overrides: Any) -> Settings:
        env = {name.lower(): value for name, value in running.env().items()} if running else {}
        return Settings(**{**env, "hubtui_data_dir": tmp_path / "data", "http_max_retries": 0, **overrides})

    return make


@pytest.fixture
async def other_db(db: Database, database_url: str) -> AsyncIterator[Database]:
    """A second pool on the same database: a second person at another terminal."""
    database = await Database.connect(database_url)
    yield database
    await database.close()


# ------------------------------------------------------------------------------------------------- helpers

async def add_customer(db: Database, name: str, *, rate: Decimal | None = None,
                       economic: int | None = None) -> int:
    return await db.pool.fetchval(
        "insert into customer (name, hourly_rate, economic_customer_number) values ($1, $2, $3) returning id",
        name, rate, economic,
    )


async def add_entry(db: Database, customer_id: int, work_date: date, minutes: int, description: str = "Support",
                    *, related_case: str | None = None, contact: str | None = None) -> int:
    return await db.pool.fetchval(
        "insert into time_entry (remote_id, customer_id, contact, work_date, duration_minutes, billable, "
        "description, related_case) values ($1, $2, $3, $4, $5, true, $6, $7) returning id",
        f"43x{next(_remote_ids)}", customer_id, contact, work_date, minutes, description, related_case,
    )


def rounded_hours(minutes: int, rounding: int = 15) -> Decimal:
    """The expected billable hours, computed independently of hubtui.core.billing."""
    blocks = -(-minutes // rounding)
    return (Decimal(blocks * rounding) / 60).quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


async def entry_row(db: Database, entry_id: int) -> dict[str, Any]:
    return dict(await db.pool.fetchrow("select * from time_entry where id = $1", entry_id))


async def events(db: Database, *types: str) -> list[dict[str, Any]]:
    rows = await db.pool.fetch(
        "select * from audit_event where ($1::text[] is null or event_type = any($1::text[])) order by id",
        list(types) or None,
    )
    return [{**row, "before": json.loads(row["before"]) if row["before"] else None,
             "after": json.loads(row["after"]) if row["after"] else None} for row in rows]


async def import_all(db: Database, settings: Settings) -> None:
    async with VtigerClient(settings) as vtiger:
        await import_customers(db, settings, vtiger)
        summary = await import_timelogs(db, settings, vtiger)
    assert summary.created > 40 and not summary.skipped


async def small_queue(db: Database) -> dict[str, int]:
    """Beta (no rate, inserted first) and Alfa (1000.00/h, its entries inserted newest first)."""
    beta = await add_customer(db, "Beta Service ApS")
    alfa = await add_customer(db, "Alfa Byg ApS", rate=Decimal("1000.00"))
    b1 = await add_entry(db, beta, date(2026, 9, 1), 20, "Telefon", contact="Jens Hansen (4x1)")
    a2 = await add_entry(db, alfa, date(2026, 10, 2), 95, "Printer", related_case="TT7 Printer (17x9)")
    a1 = await add_entry(db, alfa, date(2026, 10, 1), 60, "Mail")
    return {"alfa": alfa, "beta": beta, "a1": a1, "a2": a2, "b1": b1}


async def approved_order(db: Database, settings: Settings, *, economic: int | None = ECONOMIC_NUMBER,
                         name: str = "Nordisk Byg ApS", rate: Decimal | None = Decimal("912.50")) -> int:
    """An order of two approved entries: 01.10 edited to 1.17 h, 02.10 95 min → 1.75 h."""
    customer = await add_customer(db, name, rate=rate, economic=economic)
    later = await add_entry(db, customer, date(2026, 10, 2), 95, "Printer setup", related_case="CC123")
    earlier = await add_entry(db, customer, date(2026, 10, 1), 20, "Mail: ny bruger – Åse Ødegård")
    queue = ApprovalQueue(db, settings)
    orders = Orders(db, settings)
    await queue.approve(later)
    await queue.approve(earlier, hours=Decimal("1.17"))
    return await orders.generate_order(customer)


class Recording(httpx.AsyncBaseTransport):
    """The real HTTP transport, remembering every request hubtui sent (headers included)."""

    def __init__(self, before_send: Callable[[httpx.Request], None] | None = None) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.before_send = before_send

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.before_send is not None:
            self.before_send(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def sent(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


async def export(db: Database, settings: Settings, order_id: int,
                 transport: httpx.AsyncBaseTransport | None = None) -> ExportResult:
    async with EconomicClient(settings, transport=transport) as economic:
        return await OrderExport(db, settings, economic).export(order_id)


def posts(sandbox: RunningSandbox) -> list[Any]:
    return [w for w in sandbox.economic.write_log if w.method == "POST" and w.path == "/orders/drafts"]


def draft_post_validator() -> jsonschema.Draft3Validator:
    schema = fixture_json("economic/schemas/orders.drafts.post.schema.json")
    return jsonschema.Draft3Validator(schema, format_checker=jsonschema.Draft3Validator.FORMAT_CHECKER)


async def order_row(db: Database, order_id: int) -> dict[str, Any]:
    return dict(await db.pool.fetchrow("select * from billing_order where id = $1", order_id))


async def assert_still_exportable(db: Database, order_id: int) -> None:
    row = await order_row(db, order_id)
    assert (row["status"], row["economic_draft_number"], row["exported_at"]) == ("open", None, None)
    statuses = await db.pool.fetch("select distinct status from time_entry where order_id = $1", order_id)
    assert [r["status"] for r in statuses] == ["approved"]


# ---------------------------------------------------------------------------------------------- the queue

async def test_imported_entries_come_out_in_customer_and_date_order_with_hours_rate_amount_and_progress(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    settings = make_settings(sandbox)
    await import_all(db, settings)
    queue = ApprovalQueue(db, settings)
    rates = HourlyRates(db)
    # Two customers with their own rate, one of them 0.00 ("we do not charge them"): kept, not defaulted.
    with_entries = [r["customer_id"] for r in await db.pool.fetch(
        "select distinct customer_id from time_entry order by customer_id")]
    await rates.set_rate(with_entries[0], Decimal("1095.50"))
    await rates.set_rate(with_entries[1], Decimal("0.00"))
    expected_order = [r["id"] for r in await db.pool.fetch(
        "select e.id from time_entry e join customer c on c.id = e.customer_id where e.status = 'pending' "
        "order by c.name, e.customer_id, e.work_date, e.id")]
    rows = {r["id"]: r for r in await db.pool.fetch(
        "select e.*, c.name as customer_name, c.hourly_rate, c.economic_customer_number from time_entry e "
        "join customer c on c.id = e.customer_id")}
    per_customer = {c: sum(1 for r in rows.values() if r["customer_id"] == c) for c in with_entries}
    session = WizardSession()

    seen = []
    while (entry := await queue.next_entry(session)) is not None:
        row = rows[entry.id]
        rate = row["hourly_rate"] if row["hourly_rate"] is not None else Decimal("850.00")
        hours = rounded_hours(row["duration_minutes"]) if row["billable"] else Decimal("0.00")
        assert (entry.customer_id, entry.customer_name, entry.economic_customer_number) == (
            row["customer_id"], row["customer_name"], row["economic_customer_number"])
        assert (entry.contact, entry.work_date, entry.duration_minutes, entry.description, entry.related_case,
                entry.billable) == (row["contact"], row["work_date"], row["duration_minutes"], row["description"],
                                    row["related_case"], row["billable"])
        assert entry.billable_hours == hours and entry.hourly_rate == rate
        assert entry.rate_is_default is (row["hourly_rate"] is None)
        assert entry.amount == money(hours * rate)
        assert (entry.position, entry.total) == (len(seen) + 1, len(rows))
        done_for_customer = sum(1 for s in seen if s.customer_id == entry.customer_id)
        assert (entry.customer_position, entry.customer_total) == (done_for_customer + 1,
                                                                     per_customer[entry.customer_id])
        assert entry.as_json()["billable_hours"] == str(hours)  # the headless JSON keeps money exact
        seen.append(entry)
        await queue.approve(entry.id, session)

    assert [e.id for e in seen] == expected_order and len(seen) == len(rows)
    # One block per customer, dates never going back inside a block.
    blocks = [c for c, _ in itertools.groupby(e.customer_id for e in seen)]
    assert len(blocks) == len(set(blocks)) == len(with_entries)
    for _, group in itertools.groupby(seen, key=lambda e: e.customer_id):
        dates = [e.work_date for e in group]
        assert dates == sorted(dates)
    assert {e.billable_hours for e in seen} >= {Decimal("0.50"), Decimal("1.75")}  # 20 and 95 minutes
    assert await db.pool.fetchval("select count(*) from time_entry where status = 'approved'") == len(rows)
    stored = await db.pool.fetch("select id, billable_hours, duration_minutes, billable from time_entry")
    assert all(r["billable_hours"] == (rounded_hours(r["duration_minutes"]) if r["billable"] else 0) for r in stored)
    assert any(not r["billable"] for r in stored)  # the sandbox's non-billable timelogs are approved at 0 h


ROUNDING_TABLE = [  # (TIMETRACKING_ROUNDING_MINUTES, worked minutes, billable hours)
    (15, 1, "0.25"), (15, 15, "0.25"), (15, 16, "0.50"), (15, 60, "1.00"), (15, 95, "1.75"), (15, 20, "0.50"),
    (10, 70, "1.17"), (10, 20, "0.33"), (30, 31, "1.00"), (60, 61, "2.00"), (1, 7, "0.12"), (15, 1439, "24.00"),
]


async def test_billable_hours_round_up_to_the_rounding_setting(db: Database, make_settings: MakeSettings) -> None:
    for case, (rounding, minutes, hours) in enumerate(ROUNDING_TABLE):
        settings = make_settings(timetracking_rounding_minutes=rounding,
                                 timetracking_default_rate=Decimal("700.00"))
        customer = await add_customer(db, f"Runde {case:02d} ApS")
        entry_id = await add_entry(db, customer, date(2026, 10, 1), minutes)
        queue = ApprovalQueue(db, settings)
        session = WizardSession()

        entry = await queue.next_entry(session)

        assert entry is not None and entry.id == entry_id
        assert (entry.billable_hours, entry.hourly_rate, entry.rate_is_default) == (
            Decimal(hours), Decimal("700.00"), True), (rounding, minutes)
        assert entry.amount == money(Decimal(hours) * 700)
        await queue.approve(entry_id, session)
        assert (await entry_row(db, entry_id))["billable_hours"] == Decimal(hours), (rounding, minutes)


async def test_progress_counts_the_whole_queue_and_the_current_customer(
    db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    queue = ApprovalQueue(db, make_settings())
    session = WizardSession()

    walk = []
    while (entry := await queue.next_entry(session)) is not None:
        walk.append((entry.id, entry.position, entry.total, entry.customer_position, entry.customer_total,
                     entry.billable_hours, entry.hourly_rate, entry.amount))
        await queue.approve(entry.id, session)

    assert walk == [
        (ids["a1"], 1, 3, 1, 2, Decimal("1.00"), Decimal("1000.00"), Decimal("1000.00")),
        (ids["a2"], 2, 3, 2, 2, Decimal("1.75"), Decimal("1000.00"), Decimal("1750.00")),
        (ids["b1"], 3, 3, 1, 1, Decimal("0.50"), Decimal("850.00"), Decimal("425.00")),
    ]


# ------------------------------------------------------------------------------------ several people at once

async def test_two_sessions_on_two_pools_never_get_the_same_entry(
    db: Database, other_db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    settings = make_settings(sandbox)
    await import_all(db, settings)
    total = await db.pool.fetchval("select count(*) from time_entry")
    mette, jonas = ApprovalQueue(db, settings), ApprovalQueue(other_db, settings)
    one, two = WizardSession(), WizardSession()

    decided: dict[int, str] = {}
    rounds = 0
    while True:
        first, second = await asyncio.gather(mette.next_entry(one), jonas.next_entry(two))
        if first is None and second is None:
            break
        rounds += 1
        assert first is None or second is None or first.id != second.id, f"round {rounds}: same entry"
        decisions = []
        if first is not None:
            assert first.id not in decided
            decided[first.id] = "one"
            decisions.append(mette.approve(first.id, one))
        if second is not None:
            assert second.id not in decided
            decided[second.id] = "two"
            decisions.append(jonas.reject(second.id, "intern tid", two))
        await asyncio.gather(*decisions)

    assert len(decided) == total and rounds >= total // 2
    assert {"one", "two"} == set(decided.values())
    counts = dict(await db.pool.fetch("select status, count(*) from time_entry group by status"))
    assert counts == {"approved": sum(1 for s in decided.values() if s == "one"),
                      "rejected": sum(1 for s in decided.values() if s == "two")}
    assert await db.pool.fetchval("select count(*) from time_entry where claimed_by is not null") == 0


async def test_many_sessions_claiming_at_once_get_disjoint_entries(
    db: Database, other_db: Database, make_settings: MakeSettings
) -> None:
    settings = make_settings()
    customer = await add_customer(db, "Travl ApS")
    for day in range(1, 29):
        await add_entry(db, customer, date(2026, 10, day), 30)
    trackers = [ApprovalQueue(pool, settings) for pool in (db, other_db)]
    sessions = [WizardSession() for _ in range(8)]

    for _ in range(5):  # each round every session releases its claim and claims anew, all at once
        entries = await asyncio.gather(*(trackers[i % 2].next_entry(s) for i, s in enumerate(sessions)))
        ids = [e.id for e in entries if e is not None]
        assert len(ids) == len(sessions) == len(set(ids))
        claims = dict(await db.pool.fetch("select id, claimed_by from time_entry where claimed_by is not null"))
        assert claims == {e.id: s.token for e, s in zip(entries, sessions, strict=True) if e is not None}


async def test_a_decision_that_lost_the_race_is_refused_with_a_clear_message(
    db: Database, other_db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    settings = make_settings()
    mette, jonas = ApprovalQueue(db, settings), ApprovalQueue(other_db, settings)
    one, two = WizardSession(), WizardSession()
    held = await mette.next_entry(one)
    assert held is not None and held.id == ids["a1"]
    holder = actor()

    # Leased to the other session: neither the other session nor a headless command may decide it.
    with pytest.raises(DecisionRefused, match=rf"time entry {held.id} is open in {re.escape(holder)}'s wizard "
                                              "right now; try again in a few minutes"):
        await jonas.approve(held.id, two)
    with pytest.raises(DecisionRefused, match=r"is open in .*'s wizard"):
        await jonas.reject(held.id, "dublet")
    assert (await entry_row(db, held.id))["status"] == "pending"

    await mette.approve(held.id, one)
    with pytest.raises(DecisionRefused, match=rf"time entry {held.id} was already approved by "
                                              rf"{re.escape(holder)}: someone else decided it first"):
        await jonas.reject(held.id, "dublet", two)
    with pytest.raises(DecisionRefused, match="already approved"):
        await jonas.approve(held.id)
    assert two.decisions == [] and [d.entry_id for d in one.decisions] == [held.id]
    row = await entry_row(db, held.id)
    assert (row["status"], row["reject_reason"], row["decided_by"]) == ("approved", None, holder)

    # Two headless decisions of one free entry at the same moment: exactly one lands.
    outcomes = await asyncio.gather(mette.approve(ids["b1"]), jonas.reject(ids["b1"], "ikke faktureres"),
                                    return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, DecisionRefused)]
    assert len(refused) == 1 and outcomes.count(None) == 1
    assert "someone else decided it first" in str(refused[0])
    assert (await entry_row(db, ids["b1"]))["status"] in {"approved", "rejected"}


async def test_an_expired_lease_frees_the_entry_and_the_old_holder_can_no_longer_decide_it(
    db: Database, other_db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    settings = make_settings()
    mette, jonas = ApprovalQueue(db, settings), ApprovalQueue(other_db, settings)
    one, two, three = WizardSession(), WizardSession(), WizardSession()

    held = await mette.next_entry(one)
    assert held is not None and held.id == ids["a1"]
    second = await jonas.next_entry(two)
    assert second is not None and second.id == ids["a2"]  # a1 is leased to session one

    # The SSH connection of session one dropped ten minutes ago: its lease ran out.
    await db.pool.execute("update time_entry set claimed_until = now() - interval '1 second' where id = $1",
                          held.id)
    freed = await jonas.next_entry(three)
    assert freed is not None and freed.id == held.id
    with pytest.raises(DecisionRefused, match=r"is open in .*'s wizard right now"):
        await mette.approve(held.id, one)
    await jonas.reject(held.id, "dublet", three)
    assert (await entry_row(db, held.id))["reject_reason"] == "dublet"

    # A headless command may decide an entry whose lease expired.
    await db.pool.execute("update time_entry set claimed_until = now() - interval '1 second' where id = $1",
                          second.id)
    await mette.approve(second.id)
    assert (await entry_row(db, second.id))["status"] == "approved"


async def test_skip_excludes_the_entry_for_that_session_only(
    db: Database, other_db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    settings = make_settings()
    mette, jonas = ApprovalQueue(db, settings), ApprovalQueue(other_db, settings)
    one, two = WizardSession(), WizardSession()

    first = await mette.next_entry(one)
    assert first is not None and first.id == ids["a1"]
    mette.skip(first, one)  # `s` in the wizard
    after_skip = await mette.next_entry(one)
    assert after_skip is not None and after_skip.id == ids["a2"]
    # Skipping released the claim: someone else gets the skipped entry at once.
    other = await jonas.next_entry(two)
    assert other is not None and other.id == ids["a1"]
    await jonas.approve(other.id, two)

    mette.skip(after_skip, one)
    last = await mette.next_entry(one)
    assert last is not None and last.id == ids["b1"]
    mette.skip(last, one)
    assert await mette.next_entry(one) is None  # everything left is skipped for session one
    again = await jonas.next_entry(two)
    assert again is not None and again.id == ids["a2"]  # ... but not for session two
    await mette.release(one)


async def test_undo_puts_the_last_decision_back_to_pending_and_the_wizard_shows_it_again(
    db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    queue = ApprovalQueue(db, make_settings())
    session = WizardSession()
    assert await queue.undo_last(session) is None  # nothing to undo yet

    first = await queue.next_entry(session)
    assert first is not None
    await queue.approve(first.id, session, hours=Decimal("2.50"))
    second = await queue.next_entry(session)
    assert second is not None and second.id == ids["a2"]
    await queue.reject(second.id, "dublet", session)

    assert await queue.undo_last(session) == second.id
    row = await entry_row(db, second.id)
    assert (row["status"], row["reject_reason"], row["decided_by"], row["decided_at"], row["billable_hours"]) == (
        "pending", None, None, None, None)
    assert row["claimed_by"] == session.token  # kept for the person who undid it

    assert await queue.undo_last(session) == first.id
    row = await entry_row(db, first.id)
    assert (row["status"], row["billable_hours"]) == ("pending", None)
    assert await queue.undo_last(session) is None
    shown = await queue.next_entry(session)
    assert shown is not None and shown.id == first.id and shown.billable_hours == Decimal("1.00")
    assert (shown.position, shown.total) == (1, 3)  # the undone decisions no longer count as done

    undone = await events(db, "entry_decision_undone")
    assert [(e["entity_id"], e["before"], e["after"]) for e in undone] == [
        (str(second.id), {"status": "rejected"}, {"status": "pending"}),
        (str(first.id), {"status": "approved"}, {"status": "pending"}),
    ]


async def test_undo_is_refused_once_the_entry_is_on_an_order(db: Database, make_settings: MakeSettings) -> None:
    ids = await small_queue(db)
    settings = make_settings()
    queue = ApprovalQueue(db, settings)
    orders = Orders(db, settings)
    session = WizardSession()
    for _ in range(2):
        entry = await queue.next_entry(session)
        assert entry is not None and entry.customer_id == ids["alfa"]
        await queue.approve(entry.id, session)
    order_id = await orders.generate_order(ids["alfa"])

    with pytest.raises(DecisionRefused, match=rf"time entry {ids['a2']} can no longer be undone: it is on an "
                                              "order"):
        await queue.undo_last(session)
    row = await entry_row(db, ids["a2"])
    assert (row["status"], row["order_id"]) == ("approved", order_id)


# --------------------------------------------------------------------------------------------- decisions

async def test_approve_with_edited_hours_and_reject_with_a_reason_are_stored_and_audited(
    db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    queue = ApprovalQueue(db, make_settings())
    session = WizardSession()
    entry = await queue.next_entry(session)
    assert entry is not None

    await queue.approve(entry.id, session, hours=Decimal("2.25"))
    row = await entry_row(db, entry.id)
    assert (row["status"], row["billable_hours"], row["decided_by"], row["claimed_by"]) == (
        "approved", Decimal("2.25"), actor(), None)
    assert row["decided_at"] is not None

    for blank in ("", "   "):
        with pytest.raises(DecisionRefused, match="a rejection needs a reason"):
            await queue.reject(ids["b1"], blank)
    assert (await entry_row(db, ids["b1"]))["status"] == "pending"
    await queue.reject(ids["b1"], "  Intern tid  ")  # headless, free entry
    row = await entry_row(db, ids["b1"])
    assert (row["status"], row["reject_reason"], row["billable_hours"]) == ("rejected", "Intern tid", None)

    audited = await events(db, "entry_approved", "entry_rejected")
    assert [(e["event_type"], e["entity_id"], e["customer_id"], e["outcome"], e["actor"]) for e in audited] == [
        ("entry_approved", str(entry.id), ids["alfa"], "approved", actor()),
        ("entry_rejected", str(ids["b1"]), ids["beta"], "rejected", actor()),
    ]
    assert audited[0]["after"] == {"status": "approved", "billable_hours": "2.25"}
    assert audited[1]["after"] == {"status": "rejected", "reason": "Intern tid"}


async def test_an_entry_not_billable_in_vtiger_is_approved_at_0_hours_and_no_order_line_bills_it(
    db: Database, make_settings: MakeSettings
) -> None:
    settings = make_settings()
    customer = await add_customer(db, "Gudenå VVS Holding ApS", rate=Decimal("1100.00"))
    internal = await add_entry(db, customer, date(2026, 10, 1), 75, "Intern opsætning")
    typed = await add_entry(db, customer, date(2026, 10, 2), 75, "Firewall")
    billable = await add_entry(db, customer, date(2026, 10, 3), 60, "Backup")
    await db.pool.execute("update time_entry set billable = false where id = any($1::int[])", [internal, typed])
    queue, orders = ApprovalQueue(db, settings), Orders(db, settings)
    session = WizardSession()

    entry = await queue.next_entry(session)
    assert entry is not None and entry.id == internal and not entry.billable
    assert (entry.billable_hours, entry.amount) == (Decimal("0.00"), Decimal("0.00"))  # not 1.25 h, 1375.00
    assert await queue.approve(internal, session) == Decimal("0.00")
    assert not await queue.ready_for_order(customer)  # only 0 hours approved: nothing to order yet
    await queue.approve(typed, hours=Decimal("1.25"))  # hours given (e in the wizard, --hours headless)
    assert await queue.approve(billable) == Decimal("1.00")
    assert [(r["id"], r["billable_hours"]) for r in await db.pool.fetch(
        "select id, billable_hours from time_entry order by id")] == [
        (internal, Decimal("0.00")), (typed, Decimal("1.25")), (billable, Decimal("1.00"))]
    assert (await events(db, "entry_approved"))[0]["after"] == {"status": "approved", "billable_hours": "0.00"}

    order = await orders.order(await orders.generate_order(customer))
    assert order is not None
    assert [(line.quantity, line.amount) for line in order.lines] == [
        (Decimal("1.25"), Decimal("1375.00")), (Decimal("1.00"), Decimal("1100.00"))]
    assert order.total_amount == Decimal("2475.00")
    # The 0-hour entry stays approved and on no order, and never makes an order of its own.
    assert ((await entry_row(db, internal))["order_id"], (await entry_row(db, typed))["order_id"]) == (None, order.id)
    assert not await queue.ready_for_order(customer)
    with pytest.raises(OrderRefused):
        await orders.generate_order(customer)


async def test_typed_hours_wait_for_approve_and_skip_forgets_them(db: Database, make_settings: MakeSettings) -> None:
    ids = await small_queue(db)
    queue = ApprovalQueue(db, make_settings())
    session = WizardSession()
    first = await queue.next_entry(session)
    assert first is not None and first.id == ids["a1"]

    shown = queue.edit_hours(first, Decimal("2.5"), session)
    assert (shown.billable_hours, shown.amount, shown.hours_edited) == (Decimal("2.50"), Decimal("2500.00"), True)
    assert (await entry_row(db, first.id))["status"] == "pending"  # nothing stored until approve
    again = await queue.describe(first.id, session)
    assert again is not None and (again.billable_hours, again.hours_edited) == (Decimal("2.50"), True)
    with pytest.raises(DecisionRefused, match="Billable hours must be more than 0"):
        queue.edit_hours(first, Decimal("0"), session)
    assert await queue.approve(first.id, session) == Decimal("2.50")
    assert (await entry_row(db, first.id))["billable_hours"] == Decimal("2.50")
    assert session.edited_hours == {}

    second = await queue.next_entry(session)
    assert second is not None and second.id == ids["a2"]
    queue.edit_hours(second, Decimal("3.00"), session)
    queue.skip(second, session)
    await queue.release(session)  # as claiming the next entry does
    other = WizardSession()
    back = await queue.next_entry(other)  # the skipped entry, for someone else, without the typed hours
    assert back is not None and back.id == second.id
    assert (back.billable_hours, back.hours_edited) == (Decimal("1.75"), False)
    await queue.release(other)
    assert await queue.approve(second.id) == Decimal("1.75")


async def test_progress_n_is_this_sessions_place_and_m_stays_after_approve_reject_skip_and_undo(
    db: Database, make_settings: MakeSettings
) -> None:
    customer = await add_customer(db, "Mols Maler ApS")
    ids = [await add_entry(db, customer, date(2026, 10, day), 15) for day in range(1, 6)]
    queue = ApprovalQueue(db, make_settings())
    session = WizardSession()

    async def shown(entry_id: int) -> tuple[int, int, int, int]:
        entry = await queue.describe(entry_id, session)
        assert entry is not None
        return entry.position, entry.total, entry.customer_position, entry.customer_total

    assert await shown(ids[0]) == (1, 5, 1, 5)
    await queue.approve(ids[0], session)
    assert await shown(ids[1]) == (2, 5, 2, 5)
    queue.skip((await queue.describe(ids[1], session)), session)  # type: ignore[arg-type]
    assert await shown(ids[2]) == (3, 5, 3, 5)
    await queue.reject(ids[2], "dublet", session)
    assert await shown(ids[3]) == (4, 5, 4, 5)
    assert await queue.undo_last(session) == ids[2]
    assert await shown(ids[2]) == (3, 5, 3, 5)  # the undone entry gets back its place
    await queue.approve(ids[3], session)  # someone's decision elsewhere in the queue keeps M as it was
    assert await shown(ids[2]) == (4, 5, 4, 5)
    assert await shown(ids[4]) == (4, 5, 4, 5)  # not yet dealt with: the next place, whichever entry


async def test_the_headless_path_decides_a_free_pending_entry_and_refuses_the_rest(
    db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    settings = make_settings()
    queue = ApprovalQueue(db, settings)
    orders = Orders(db, settings)

    await queue.approve(ids["a2"])
    assert (await entry_row(db, ids["a2"]))["billable_hours"] == Decimal("1.75")  # 95 min rounded up
    with pytest.raises(DecisionRefused, match=rf"time entry {ids['a2']} was already approved"):
        await queue.approve(ids["a2"])
    with pytest.raises(DecisionRefused, match="time entry 999999 does not exist"):
        await queue.approve(999_999)
    with pytest.raises(DecisionRefused, match="time entry 999999 does not exist"):
        await queue.reject(999_999, "x")
    assert not await queue.ready_for_order(ids["alfa"])  # a1 is still pending
    await queue.approve(ids["a1"], hours=Decimal("0.75"))
    assert await queue.ready_for_order(ids["alfa"])
    await orders.generate_order(ids["alfa"])
    assert not await queue.ready_for_order(ids["alfa"])  # all on an order now


# ------------------------------------------------------------------------------------------------- rates

async def test_rates_are_decimals_with_two_decimals_the_default_covers_none_and_changes_are_audited(
    db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    queue = ApprovalQueue(db, make_settings(timetracking_default_rate=Decimal("795.00")))
    rates = HourlyRates(db)

    await rates.set_rate(ids["beta"], Decimal("950.5"))
    assert await db.pool.fetchval("select hourly_rate from customer where id = $1", ids["beta"]) == Decimal("950.50")
    entry = await queue.describe(ids["b1"], WizardSession())
    assert entry is not None
    assert (entry.hourly_rate, entry.rate_is_default, entry.amount) == (Decimal("950.50"), False, Decimal("475.25"))

    for bad in (Decimal("1.234"), Decimal("-1"), Decimal("-0.01"), Decimal("100.001")):
        with pytest.raises(ValueError, match="at most 2 decimals"):
            await rates.set_rate(ids["beta"], bad)
    assert await db.pool.fetchval("select hourly_rate from customer where id = $1", ids["beta"]) == Decimal("950.50")

    await rates.set_rate(ids["beta"], None)
    entry = await queue.describe(ids["b1"], WizardSession())
    assert entry is not None
    assert (entry.hourly_rate, entry.rate_is_default, entry.amount) == (Decimal("795.00"), True, Decimal("397.50"))
    await rates.set_rate(ids["beta"], Decimal(0))  # free of charge is a rate, not "no rate"
    entry = await queue.describe(ids["b1"], WizardSession())
    assert entry is not None and (entry.hourly_rate, entry.rate_is_default) == (Decimal("0.00"), False)

    changes = await events(db, "rate_changed")
    assert [(e["entity_id"], e["before"], e["after"], e["actor"]) for e in changes] == [
        (str(ids["beta"]), {"hourly_rate": None}, {"hourly_rate": "950.50"}, actor()),
        (str(ids["beta"]), {"hourly_rate": "950.50"}, {"hourly_rate": None}, actor()),
        (str(ids["beta"]), {"hourly_rate": None}, {"hourly_rate": "0.00"}, actor()),
    ]
    listed = {r.id: r for r in await rates.rates()}
    assert set(listed) == {ids["alfa"], ids["beta"]}
    assert (listed[ids["alfa"]].hourly_rate, listed[ids["alfa"]].pending) == (Decimal("1000.00"), 2)
    assert (listed[ids["beta"]].hourly_rate, listed[ids["beta"]].pending) == (Decimal("0.00"), 1)


async def test_the_rate_limit_is_the_columns(db: Database) -> None:
    column = await db.pool.fetchrow(
        "select numeric_precision, numeric_scale from information_schema.columns "
        "where table_name = 'customer' and column_name = 'hourly_rate'")
    assert (column["numeric_precision"], column["numeric_scale"]) == (RATE_DIGITS, RATE_DECIMALS)
    assert RATE_MAX == Decimal("9999999999.99")
    await db.pool.execute("insert into customer (name, hourly_rate) values ('Størst', $1)", RATE_MAX)
    with pytest.raises(asyncpg.NumericValueOutOfRangeError):  # one cent more is what the column cannot hold
        await db.pool.execute("insert into customer (name, hourly_rate) values ('For stor', $1)", RATE_MAX + CENT)


async def test_a_rate_the_column_cannot_hold_is_refused_with_the_limit_and_nothing_changes(
    db: Database, make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await small_queue(db)
    rates = HourlyRates(db)
    audit_before = await events(db)

    for huge in (Decimal("999999999999"), RATE_MAX + CENT, Decimal("1E+30")):
        with pytest.raises(RateRefused, match=r"too large: .*at most 9,999,999,999\.99.*the rate was not changed"):
            await rates.set_rate(ids["alfa"], huge)
    assert "at most 9,999,999,999.99" in caplog.text  # and in the log, not only on screen
    assert await db.pool.fetchval("select hourly_rate from customer where id = $1", ids["alfa"]) == Decimal("1000.00")
    assert await events(db) == audit_before

    await rates.set_rate(ids["alfa"], RATE_MAX)  # the largest rate that fits is taken
    assert await db.pool.fetchval("select hourly_rate from customer where id = $1", ids["alfa"]) == RATE_MAX


async def test_a_rate_change_writes_one_audit_row_with_before_and_after(
    db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    rates = HourlyRates(db)
    audit_before = await events(db)

    await rates.set_rate(ids["alfa"], Decimal("1250.75"))

    new = (await events(db))[len(audit_before):]
    assert [(e["event_type"], e["entity_id"], e["customer_id"], e["outcome"], e["before"], e["after"])
            for e in new] == [("rate_changed", str(ids["alfa"]), ids["alfa"], "written",
                               {"hourly_rate": "1000.00"}, {"hourly_rate": "1250.75"})]


async def test_a_failure_inside_the_rate_transaction_leaves_neither_the_change_nor_its_audit(
    db: Database, make_settings: MakeSettings
) -> None:
    ids = await small_queue(db)
    rates = HourlyRates(db)
    audit_before = await events(db)

    with pytest.raises(RateRefused, match="customer 999999 no longer exists in the hub; nothing was saved"):
        await rates.set_rate(999_999, Decimal("900.00"))
    assert await events(db) == audit_before

    # The audit insert fails after the update ran in the same transaction (a real Postgres error): the
    # update is rolled back with it, and the person is told the old rate stays.
    await db.pool.execute(
        "create function refuse_rate_audit() returns trigger language plpgsql as "
        "$$ begin raise exception 'audit storage is full'; end $$")
    await db.pool.execute(
        "create trigger refuse_rate_audit before insert on audit_event for each row "
        "when (new.event_type = 'rate_changed') execute function refuse_rate_audit()")
    try:
        with pytest.raises(RateRefused, match=r"the rate was not saved, the old rate stays .*audit storage is full"):
            await rates.set_rate(ids["alfa"], Decimal("1250.75"))
    finally:
        await db.pool.execute("drop trigger refuse_rate_audit on audit_event; drop function refuse_rate_audit()")
    assert await db.pool.fetchval("select hourly_rate from customer where id = $1", ids["alfa"]) == Decimal("1000.00")
    assert await events(db) == audit_before


# ------------------------------------------------------------------------------------------------ orders

async def test_generate_order_makes_one_line_per_approved_entry_with_exact_totals(
    db: Database, make_settings: MakeSettings
) -> None:
    settings = make_settings()
    queue = ApprovalQueue(db, settings)
    orders = Orders(db, settings)
    customer = await add_customer(db, "Nordisk Byg ApS", rate=Decimal("912.50"), economic=ECONOMIC_NUMBER)
    later = await add_entry(db, customer, date(2026, 10, 2), 95, "Printer setup", related_case="CC123")
    earlier = await add_entry(db, customer, date(2026, 10, 1), 20, "Mail: ny bruger – Åse Ødegård")
    thirds = await add_entry(db, customer, date(2026, 10, 3), 10, "Opfølgning (CC123)", related_case="CC123")
    rejected = await add_entry(db, customer, date(2026, 9, 30), 60, "Intern")
    pending = await add_entry(db, customer, date(2026, 10, 4), 45, "Senere")
    await queue.approve(later)
    await queue.approve(earlier, hours=Decimal("1.17"))
    await queue.approve(thirds, hours=Decimal("0.33"))
    await queue.reject(rejected, "intern")

    order_id = await orders.generate_order(customer)

    order = await orders.order(order_id)
    assert order is not None and order.number == f"ORD-{YEAR}-001"
    assert [(line.line_number, line.description, line.quantity, line.unit_price, line.amount,
             line.time_entry_id) for line in order.lines] == [
        (1, "01.10.2026 Mail: ny bruger – Åse Ødegård", Decimal("1.17"), Decimal("912.50"), Decimal("1067.63"),
         earlier),
        (2, "02.10.2026 Printer setup (case CC123)", Decimal("1.75"), Decimal("912.50"), Decimal("1596.88"), later),
        (3, "03.10.2026 Opfølgning (CC123)", Decimal("0.33"), Decimal("912.50"), Decimal("301.13"), thirds),
    ]
    assert order.total_amount == Decimal("2965.64") == sum(line.amount for line in order.lines)
    assert (order.status, order.currency, order.customer_name) == ("open", "DKK", "Nordisk Byg ApS")
    linked = dict(await db.pool.fetch("select id, order_id from time_entry where customer_id = $1", customer))
    assert linked == {later: order_id, earlier: order_id, thirds: order_id, rejected: None, pending: None}
    generated = await events(db, "order_generated")
    assert [(e["entity_id"], e["after"]) for e in generated] == [
        (str(order_id), {"order_number": f"ORD-{YEAR}-001", "lines": 3, "total": "2965.64"})]

    # Nothing new approved: refused, and the entries stay on their one open order.
    with pytest.raises(OrderRefused, match="Nordisk Byg ApS has no approved time entries that are not on an order"):
        await orders.generate_order(customer)
    await queue.approve(pending)
    second = await orders.generate_order(customer)
    second_order = await orders.order(second)
    assert second_order is not None and second_order.number == f"ORD-{YEAR}-002"
    assert [line.time_entry_id for line in second_order.lines] == [pending]
    assert second_order.total_amount == Decimal("684.38")  # 0.75 h × 912.50 = 684.375 → 684.38
    assert dict(await db.pool.fetch("select id, order_id from time_entry where customer_id = $1", customer))[
        later] == order_id
    listed = await orders.orders()
    assert [(r.id, r.number, r.line_count) for r in listed] == [
        (second, f"ORD-{YEAR}-002", 1), (order_id, f"ORD-{YEAR}-001", 3)]
    with pytest.raises(OrderRefused, match="customer 999999 does not exist"):
        await orders.generate_order(999_999)


async def test_order_numbers_continue_after_the_highest_of_the_year(db: Database, make_settings: MakeSettings) -> None:
    settings = make_settings()
    queue = ApprovalQueue(db, settings)
    orders = Orders(db, settings)
    old = await add_customer(db, "Gammel ApS")
    for number in (f"ORD-{YEAR}-009", f"ORD-{YEAR - 1}-500", "ORD-2020-999"):
        await db.pool.execute("insert into billing_order (order_number, customer_id, status, currency, "
                              "total_amount, idempotency_key) values ($1, $2, 'exported', 'DKK', 0, $3)",
                              number, old, new_export_key())
    customer = await add_customer(db, "Ny ApS")
    await queue.approve(await add_entry(db, customer, date(2026, 10, 1), 30))
    order = await orders.order(await orders.generate_order(customer))
    assert order is not None and order.number == f"ORD-{YEAR}-010"


async def test_concurrent_generation_gives_distinct_numbers_and_one_order_per_entry(
    db: Database, other_db: Database, make_settings: MakeSettings
) -> None:
    settings = make_settings()
    queue = ApprovalQueue(db, settings)
    mette, jonas = Orders(db, settings), Orders(other_db, settings)
    customers = [await add_customer(db, f"Kunde {n} ApS") for n in range(4)]
    numbers = []
    for round_number in range(3):
        for customer in customers:
            await queue.approve(await add_entry(db, customer, date(2026, 10, 1 + round_number), 45))
        ids = await asyncio.gather(mette.generate_order(customers[0]), jonas.generate_order(customers[1]),
                                   mette.generate_order(customers[2]), jonas.generate_order(customers[3]))
        numbers += [await db.pool.fetchval("select order_number from billing_order where id = $1", i) for i in ids]
    assert sorted(numbers) == [f"ORD-{YEAR}-{n:03d}" for n in range(1, 13)]

    # The same customer from two terminals at once: one order, the other is told there is nothing new.
    customer = customers[0]
    await queue.approve(await add_entry(db, customer, date(2026, 11, 1), 45))
    outcomes = await asyncio.gather(mette.generate_order(customer), jonas.generate_order(customer),
                                    return_exceptions=True)
    assert sum(isinstance(o, int) for o in outcomes) == 1
    assert sum(isinstance(o, OrderRefused) for o in outcomes) == 1
    assert await db.pool.fetchval("select count(*) from order_line l join time_entry e on e.id = l.time_entry_id "
                                  "group by e.id order by 1 desc limit 1") == 1


# ------------------------------------------------------------------------------------------------ export

def expected_payload(sandbox: RunningSandbox, order_date: str, number: str = f"ORD-{YEAR}-001") -> dict[str, Any]:
    customer = sandbox.economic.customers[ECONOMIC_NUMBER]
    line = {"product": {"productNumber": "1"}, "unit": {"unitNumber": 1}, "discountPercentage": 0,
            "unitNetPrice": 912.5}
    return {
        "date": order_date,
        "currency": "DKK",
        "customer": {"customerNumber": ECONOMIC_NUMBER},
        # The customer's own layout and payment terms, not the settings' (19 and 1).
        "layout": {"layoutNumber": 16},
        "paymentTerms": {"paymentTermsNumber": 3},
        "recipient": {"name": customer["name"], "vatZone": {"vatZoneNumber": 1}},
        "references": {"other": number},
        "lines": [
            {"lineNumber": 1, "sortKey": 1, "description": "01.10.2026 Mail: ny bruger – Åse Ødegård",
             "quantity": 1.17, **line},
            {"lineNumber": 2, "sortKey": 2, "description": "02.10.2026 Printer setup (case CC123)",
             "quantity": 1.75, **line},
        ],
    }


def customer_terms(sandbox: RunningSandbox) -> None:
    # Writes in the sandbox replace a customer dict, never change one in place (its JSON cache relies on it).
    current = sandbox.economic.customers[ECONOMIC_NUMBER]
    sandbox.economic.customers[ECONOMIC_NUMBER] = {**current, "layout": {"layoutNumber": 16},
                                                   "paymentTerms": {"paymentTermsNumber": 3}}


def danish_today() -> str:
    return datetime.now(ZoneInfo("Europe/Copenhagen")).date().isoformat()


async def export_audit(db: Database, order_id: int) -> list[dict[str, Any]]:
    return [e for e in await events(db) if e["event_type"].startswith("export_") and e["entity_id"] == str(order_id)]


async def test_read_only_blocks_the_export_without_a_single_request(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    for sequence, dry_run in enumerate((True, False), start=1):  # read-only wins whatever DRY_RUN says
        settings = make_settings(sandbox, timetracking_economic_dry_run=dry_run)  # read-only: the default
        assert settings.timetracking_economic_read_only is True
        order_id = await approved_order(db, settings, name=f"Kunde {sequence} ApS", economic=ECONOMIC_NUMBER + sequence)
        number = f"ORD-{YEAR}-{sequence:03d}"
        recording = Recording()

        result = await export(db, settings, order_id, recording)

        assert (result.success, result.outcome, result.dry_run, result.economic_draft_id) == (
            False, "blocked", False, None)
        assert "TIMETRACKING_ECONOMIC_READ_ONLY=true" in result.message
        assert "set TIMETRACKING_ECONOMIC_READ_ONLY=false" in result.message
        assert result.as_json()["order_id"] == order_id
        assert result.details["read_only"] is True and result.details["order_number"] == number
        assert "payload" not in result.details
        assert recording.requests == []
        assert sandbox.economic.write_log == [] and sandbox.economic.request_count == 0
        assert sandbox.economic.drafts == {}
        await assert_still_exportable(db, order_id)
        assert (await order_row(db, order_id))["export_started_at"] is None
        (event,) = await export_audit(db, order_id)
        assert (event["event_type"], event["outcome"], event["dry_run"], event["actor"], event["system"]) == (
            "export_blocked", "blocked", False, actor(), "economic")
        assert event["after"] == {"order_number": number, "economic_draft_id": None}
        assert event["message"] == result.message


async def test_dry_run_reports_the_exact_schema_valid_payload_and_posts_nothing(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    settings = make_settings(sandbox, **DRY_RUN)
    customer_terms(sandbox)
    order_id = await approved_order(db, settings)
    recording = Recording()
    before = danish_today()

    result = await export(db, settings, order_id, recording)

    assert (result.success, result.outcome, result.dry_run, result.economic_draft_id) == (True, "dry_run", True, None)
    assert result.message == f"DRY-RUN: would export order ORD-{YEAR}-001 to e-conomic"
    payload = result.details["payload"]
    assert payload["date"] in {before, danish_today()}
    assert payload == expected_payload(sandbox, payload["date"])
    assert list(draft_post_validator().iter_errors(payload)) == []
    assert result.details | {"payload": None} == {
        "order_number": f"ORD-{YEAR}-001", "customer_name": "Nordisk Byg ApS", "total_amount": "2664.51",
        "line_count": 2, "read_only": False, "dry_run": True, "payload": None}
    assert json.loads(json.dumps(result.as_json(), default=str))["dry_run"] is True

    # Only the customer was read; nothing was written.
    assert [(r.method, r.url.path) for r in recording.requests] == [("GET", f"/customers/{ECONOMIC_NUMBER}")]
    assert sandbox.economic.write_log == [] and sandbox.economic.drafts == {}
    await assert_still_exportable(db, order_id)
    assert (await order_row(db, order_id))["export_started_at"] is None
    (event,) = await export_audit(db, order_id)
    assert (event["event_type"], event["outcome"], event["dry_run"], event["actor"]) == (
        "export_dry_run", "dry_run", True, actor())
    assert event["after"] == {"order_number": f"ORD-{YEAR}-001", "economic_draft_id": None, "payload": payload}


async def test_live_export_posts_once_with_an_idempotency_key_and_bills_the_entries(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    customer_terms(sandbox)
    order_id = await approved_order(db, make_settings(sandbox))
    dry = await export(db, make_settings(sandbox, **DRY_RUN), order_id)
    recording = Recording()

    result = await export(db, make_settings(sandbox, **LIVE), order_id, recording)

    (draft_number,) = sandbox.economic.drafts
    assert (result.success, result.outcome, result.dry_run, result.economic_draft_id) == (
        True, "exported", False, draft_number)
    assert result.message == f"Exported to e-conomic draft {draft_number}"
    assert result.details["economic_draft_id"] == draft_number and result.details["replayed"] is False
    (post,) = recording.sent("POST")
    assert post.url.path == "/orders/drafts"
    key = (await order_row(db, order_id))["idempotency_key"]
    assert post.headers["Idempotency-Key"] == key and key.startswith("hubtui-")  # the order's own random key
    (logged,) = sandbox.economic.write_log
    assert (logged.method, logged.path, logged.status) == ("POST", "/orders/drafts", 201)
    assert logged.body == dry.details["payload"] == result.details["payload"]  # the dry run showed the truth
    draft = sandbox.economic.drafts[draft_number]
    assert draft["orderNumber"] == draft_number and draft["references"]["other"] == f"ORD-{YEAR}-001"
    assert [line["unitNetPrice"] for line in draft["lines"]] == [912.5, 912.5]

    row = await order_row(db, order_id)
    assert (row["status"], row["economic_draft_number"], row["idempotency_key"]) == ("exported", draft_number, key)
    assert row["exported_at"] is not None and row["export_started_at"] is not None
    statuses = await db.pool.fetch("select status from time_entry where order_id = $1", order_id)
    assert [r["status"] for r in statuses] == ["billed", "billed"]
    audit = await export_audit(db, order_id)
    assert [(e["event_type"], e["outcome"], e["dry_run"], e["after"]["economic_draft_id"], e["actor"])
            for e in audit] == [
        ("export_dry_run", "dry_run", True, None, actor()),
        ("export_started", "started", False, None, actor()),
        ("export_completed", "exported", False, draft_number, actor()),
    ]
    assert all(e["after"]["order_number"] == f"ORD-{YEAR}-001" for e in audit)

    # Exported orders are not exported twice.
    again = await export(db, make_settings(sandbox, **LIVE), order_id)
    assert (again.success, again.outcome, again.economic_draft_id) == (False, "refused", draft_number)
    assert f"already exported as e-conomic draft {draft_number}" in again.message
    assert len(posts(sandbox)) == 1 and len(sandbox.economic.drafts) == 1


async def test_an_export_type_other_than_draft_is_refused(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    for sequence, flags in enumerate(({}, DRY_RUN, LIVE), start=1):  # whatever the safety flags say
        settings = make_settings(sandbox, timetracking_export_type="booked", **flags)
        order_id = await approved_order(db, settings, name=f"Kunde {sequence} ApS", economic=ECONOMIC_NUMBER + sequence)

        result = await export(db, settings, order_id)

        assert (result.success, result.outcome, result.dry_run) == (False, "refused", False), flags
        assert "TIMETRACKING_EXPORT_TYPE=booked is not supported" in result.message
        assert "set TIMETRACKING_EXPORT_TYPE=draft" in result.message
        assert sandbox.economic.request_count == 0 and sandbox.economic.write_log == []
        await assert_still_exportable(db, order_id)
        (event,) = await export_audit(db, order_id)
        assert (event["event_type"], event["outcome"]) == ("export_blocked", "refused")


async def test_a_customer_without_an_economic_number_fails_with_the_fix_and_exports_once_synced(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    settings = make_settings(sandbox, **LIVE)
    order_id = await approved_order(db, settings, economic=None)

    result = await export(db, settings, order_id)

    assert (result.success, result.outcome, result.economic_draft_id) == (False, "failed", None)
    assert result.message == ("Nordisk Byg ApS has no e-conomic customer number: sync customers from vTiger "
                              "(`hubtui sync customers`); the number comes from cf_854")
    assert sandbox.economic.request_count == 0
    await assert_still_exportable(db, order_id)
    (event,) = await export_audit(db, order_id)
    assert (event["event_type"], event["outcome"], event["message"]) == ("export_failed", "failed", result.message)

    await db.pool.execute("update customer set economic_customer_number = $1", ECONOMIC_NUMBER)
    later = await export(db, settings, order_id)
    assert later.outcome == "exported" and later.economic_draft_id in sandbox.economic.drafts
    assert len(posts(sandbox)) == 1


async def test_a_customer_without_a_vat_zone_in_economic_fails_before_posting_and_exports_once_fixed(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    settings = make_settings(sandbox, **LIVE)
    order_id = await approved_order(db, settings)
    complete = sandbox.economic.customers[ECONOMIC_NUMBER]
    sandbox.economic.customers[ECONOMIC_NUMBER] = {k: v for k, v in complete.items() if k != "vatZone"}

    result = await export(db, settings, order_id)

    assert (result.success, result.outcome) == (False, "failed")
    assert f"e-conomic customer {ECONOMIC_NUMBER} has no VAT zone; set it in e-conomic" in result.message
    assert "stays exportable" in result.message
    assert posts(sandbox) == []
    await assert_still_exportable(db, order_id)

    sandbox.economic.customers[ECONOMIC_NUMBER] = complete
    later = await export(db, settings, order_id)
    assert later.outcome == "exported" and len(sandbox.economic.drafts) == len(posts(sandbox)) == 1


async def test_a_customer_missing_from_economic_fails_with_the_not_found_message(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    settings = make_settings(sandbox, **LIVE)
    missing = 10_000 + MISSING_FROM_ECONOMIC_INDEX
    assert missing not in sandbox.economic.customers
    order_id = await approved_order(db, settings, economic=missing)

    result = await export(db, settings, order_id)

    assert (result.success, result.outcome) == (False, "failed")
    assert result.message.startswith("e-conomic: ") and "stays exportable" in result.message
    assert result.details["log_id"]
    assert posts(sandbox) == []
    await assert_still_exportable(db, order_id)
    (event,) = await export_audit(db, order_id)
    assert event["remote_log_id"] == result.details["log_id"]


@pytest.mark.parametrize("errors_as_array", [False, True], ids=["errors-object", "errors-array"])
async def test_an_economic_validation_error_fails_with_message_field_errors_and_log_id(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings, errors_as_array: bool
) -> None:
    sandbox.economic.faults.errors_as_array = errors_as_array
    settings = make_settings(sandbox, timetracking_economic_product_number="NOPE", **LIVE)
    order_id = await approved_order(db, settings)

    result = await export(db, settings, order_id)

    assert (result.success, result.outcome, result.dry_run, result.economic_draft_id) == (
        False, "failed", False, None)
    assert result.details["errors"] == ["lines.0.product: Product 'NOPE' not found.",
                                        "lines.1.product: Product 'NOPE' not found."]
    log_id = result.details["log_id"]
    assert log_id and f"logId {log_id}" in result.message
    assert "Validation failed" in result.message and "Product 'NOPE' not found" in result.message
    assert "e-conomic created nothing; fix the cause and export again" in result.message
    ((logged),) = posts(sandbox)
    assert logged.status == 400 and sandbox.economic.drafts == {}
    await assert_still_exportable(db, order_id)
    audit = await export_audit(db, order_id)
    assert [(e["event_type"], e["outcome"], e["dry_run"]) for e in audit] == [
        ("export_started", "started", False), ("export_failed", "failed", False)]
    assert audit[-1]["remote_log_id"] == log_id and audit[-1]["message"] == result.message
    assert audit[-1]["after"] == {"order_number": f"ORD-{YEAR}-001", "economic_draft_id": None}


async def test_after_a_validation_error_is_fixed_the_next_export_succeeds(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    order_id = await approved_order(db, make_settings(sandbox))
    first = await export(db, make_settings(sandbox, timetracking_economic_product_number="NOPE", **LIVE), order_id)
    assert first.outcome == "failed" and posts(sandbox)[0].status == 400

    fixed = await export(db, make_settings(sandbox, **LIVE), order_id)  # product number corrected

    assert fixed.outcome == "exported", fixed.message
    assert fixed.economic_draft_id in sandbox.economic.drafts and len(sandbox.economic.drafts) == 1


@pytest.mark.parametrize("fault", ["timeout", "server_error"])
async def test_a_post_that_times_out_or_fails_leaves_the_order_exportable_and_the_retry_creates_one_draft(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings, fault: str
) -> None:
    settings = make_settings(sandbox, http_timeout_seconds=0.5, **LIVE)
    order_id = await approved_order(db, settings)
    faults = sandbox.economic.faults

    def arm(request: httpx.Request) -> None:
        if request.method == "POST":  # the GET of the customer goes through; the POST misbehaves
            if fault == "timeout":
                faults.timeout_next = 1
            else:
                faults.error_rate = 1.0

    key = (await order_row(db, order_id))["idempotency_key"]
    result = await export(db, settings, order_id, Recording(arm))

    assert sandbox.economic.drafts == {}
    if fault == "timeout":
        # The look-up that settles the lost answer finds no draft: nothing was created, say so.
        assert (result.success, result.outcome, result.economic_draft_id) == (False, "failed", None)
        assert "no answer to POST /orders/drafts within 0.5 s" in result.message
        assert "no draft with this reference exists in e-conomic, so nothing was created" in result.message
        await assert_still_exportable(db, order_id)
        settled = "export_failed"
    else:
        # e-conomic answers the look-up with 500s too: whether the draft exists is unknown, and said so.
        assert (result.success, result.outcome, result.economic_draft_id) == (False, "unknown", None)
        assert "Internal server error" in result.message and f"reference ORD-{YEAR}-001" in result.message
        settled = "export_unknown"
    row = await order_row(db, order_id)
    assert row["key_first_sent_at"] is not None and row["idempotency_key"] == key  # resent by the next export
    assert [e["event_type"] for e in await export_audit(db, order_id)] == ["export_started", settled]

    faults.error_rate = 0.0
    later = await export(db, settings, order_id)
    assert later.outcome == "exported", later.message
    assert list(sandbox.economic.drafts) == [later.economic_draft_id]
    assert (await order_row(db, order_id))["status"] == "exported"


async def test_an_unreachable_economic_fails_and_the_order_exports_when_it_is_back(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(sandbox, **LIVE)
    order_id = await approved_order(db, settings)

    result = await export(db, make_settings(sandbox, economic_api_url=closed, **LIVE), order_id)

    assert (result.success, result.outcome) == (False, "failed")
    assert "cannot reach the server" in result.message and "stays exportable" in result.message
    await assert_still_exportable(db, order_id)
    (event,) = await export_audit(db, order_id)
    assert event["event_type"] == "export_failed"

    later = await export(db, settings, order_id)
    assert later.outcome == "exported" and len(sandbox.economic.drafts) == 1


async def test_an_unknown_order_is_refused(db: Database, sandbox: RunningSandbox, make_settings: MakeSettings) -> None:
    result = await export(db, make_settings(sandbox, **LIVE), 424242)
    assert (result.success, result.outcome, result.message) == (False, "refused", "order 424242 does not exist")
    assert sandbox.economic.request_count == 0
