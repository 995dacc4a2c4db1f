"""Time entries from pending to billed: the approval queue, customer rates, orders and the e-conomic export.

Several people may work the queue at once on a shared database. The next entry is claimed with
`FOR UPDATE SKIP LOCKED` plus a lease that expires by itself (a dropped SSH session frees its entry after
CLAIM_MINUTES); a decision only lands while its entry is still pending and claimed by the same session,
so two people never decide the same entry, and the loser is told so.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from hubtui.config import Settings
from hubtui.core.billing import (
    EntryForBilling,
    InvalidHours,
    billable_hours,
    build_order_lines,
    effective_rate,
    line_amount,
    next_order_number,
    order_total,
    parse_hours,
)
from hubtui.core.draft_order import new_export_key
from hubtui.services.audit import AuditRecord, actor, record
from hubtui.store.db import Database

log = logging.getLogger(__name__)

CLAIM_MINUTES = 10


class DecisionRefused(Exception):
    """A decision that could not land: someone else decided the entry first, or it is in an order."""


class OrderRefused(Exception):
    """An order that cannot be made or exported as asked; the message says what to do."""


class RateRefused(ValueError):
    """An hourly rate that was not saved; the message says why and what to do, the old rate stays."""


# customer.hourly_rate is numeric(12, 2) (store/models.py); tests check the two agree.
RATE_DIGITS, RATE_DECIMALS = 12, 2
RATE_MAX = Decimal(10 ** (RATE_DIGITS - RATE_DECIMALS)) - Decimal(1).scaleb(-RATE_DECIMALS)


def checked_rate(rate: Decimal | None) -> Decimal | None:
    """The rate as the column stores it (None stays None: the default applies), or RateRefused saying why
    not, logged, before anything touches the database."""
    if rate is None:
        return None
    cent = Decimal(1).scaleb(-RATE_DECIMALS)
    problem = None
    if not rate.is_finite() or rate < 0:
        problem = "is not 0 or more"
    elif rate > RATE_MAX:  # before the decimals: quantizing a huge number overflows
        problem = "is too large"
    elif rate != rate.quantize(cent):
        problem = f"has more than {RATE_DECIMALS} decimals"
    if problem is not None:
        message = (f"{rate} {problem}: an hourly rate is 0 or more, at most {RATE_MAX:,}, with at most "
                   f"{RATE_DECIMALS} decimals; the rate was not changed")
        log.warning("hourly rate refused: %s", message)
        raise RateRefused(message)
    return rate.quantize(cent)


@dataclass(frozen=True)
class QueueEntry:
    """One pending entry as the wizard shows it, with the numbers a support person checks."""

    id: int
    customer_id: int
    customer_name: str
    economic_customer_number: int | None
    contact: str | None
    work_date: date
    duration_minutes: int
    billable: bool
    billable_hours: Decimal
    hourly_rate: Decimal
    rate_is_default: bool
    amount: Decimal
    description: str
    related_case: str | None
    position: int  # this entry's place in the queue, counting decided ones (e.g. 12 of 57)
    total: int
    customer_position: int
    customer_total: int

    def as_json(self) -> dict[str, Any]:
        return {key: (str(value) if isinstance(value, Decimal | date) else value)
                for key, value in self.__dict__.items()}


@dataclass
class Decision:
    entry_id: int
    customer_id: int
    status: Literal["approved", "rejected"]


@dataclass
class WizardSession:
    """One person's pass through the queue: their lease token, what they skipped, what they decided."""

    token: str = field(default_factory=lambda: f"{actor()}#{uuid.uuid4().hex[:12]}")
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    skipped: set[int] = field(default_factory=set)
    decisions: list[Decision] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)  # customers with pending time, in name order, to go


class TimeTracking:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def next_entry(self, session: WizardSession, keep: Sequence[int] = ()) -> QueueEntry | None:
        """Claim the next pending entry nobody else holds, releasing this session's other claims except `keep`
        (the wizard keeps the entry on screen while it claims the one after it).

        Customers are taken in name order from a list the session reads once (and again when it runs out),
        then each customer's entries by date straight off the queue index: a pick stays a few index probes
        however many entries and customers there are."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "update time_entry set claimed_by = null, claimed_until = null "
                "where claimed_by = $1 and not (id = any($2::int[]))",
                session.token, list(keep),
            )
            reloaded = False
            while True:
                if not session.customers:
                    if reloaded:
                        return None
                    session.customers = [r["customer_id"] for r in await conn.fetch(
                        "select c.id as customer_id from customer c where exists (select 1 from time_entry e "
                        "where e.customer_id = c.id and e.status = 'pending') order by lower(c.name), c.id"
                    )]
                    reloaded = True
                    continue
                row = await conn.fetchrow(
                    "select id from time_entry where customer_id = $1 and status = 'pending' "
                    "and not (id = any($2::int[])) and (claimed_until is null or claimed_until < now()) "
                    "order by work_date, id for update skip locked limit 1",
                    session.customers[0], list(session.skipped),
                )
                if row is not None:
                    break
                session.customers.pop(0)
            await conn.execute(
                "update time_entry set claimed_by = $2, claimed_until = now() + make_interval(mins => $3) "
                "where id = $1",
                row["id"], session.token, CLAIM_MINUTES,
            )
        return await self.describe(row["id"], session)

    async def describe(self, entry_id: int, session: WizardSession) -> QueueEntry | None:
        row = await self.db.pool.fetchrow(
            "select e.*, c.name as customer_name, c.hourly_rate, c.economic_customer_number "
            "from time_entry e join customer c on c.id = e.customer_id where e.id = $1",
            entry_id,
        )
        if row is None:
            return None
        # Each count reads a partial index (pending entries, decided ones), not the whole history.
        counts = await self.db.pool.fetchrow(
            "select (select count(*) from time_entry where status = 'pending') "
            "+ (select count(*) from time_entry where decided_at >= $1) as total, "
            "(select count(*) from time_entry where decided_at >= $1) as done, "
            "(select count(*) from time_entry where customer_id = $2 and status = 'pending') "
            "+ (select count(*) from time_entry where customer_id = $2 and decided_at >= $1) as c_total, "
            "(select count(*) from time_entry where customer_id = $2 and decided_at >= $1) as c_done",
            session.started_at, row["customer_id"],
        )
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

    async def approve(self, entry_id: int, session: WizardSession | None = None,
                      hours: Decimal | None = None) -> None:
        """Approve with the hours rounded up per TIMETRACKING_ROUNDING_MINUTES, or with `hours` (edited)."""
        if hours is not None:
            try:
                hours = parse_hours(str(hours))  # the same rule as typed hours: > 0, ≤ 24, 2 decimals
            except InvalidHours as error:
                raise DecisionRefused(error.message) from None
        else:
            minutes = await self.db.pool.fetchval("select duration_minutes from time_entry where id = $1", entry_id)
            if minutes is None:
                raise DecisionRefused(f"time entry {entry_id} does not exist")
            hours = billable_hours(minutes, self.settings.timetracking_rounding_minutes)
        await self._decide(entry_id, "approved", session, {"billable_hours": hours}, hours=hours)

    async def reject(self, entry_id: int, reason: str, session: WizardSession | None = None) -> None:
        if not reason.strip():
            raise DecisionRefused("a rejection needs a reason")
        await self._decide(entry_id, "rejected", session, {"reason": reason.strip()}, reason=reason.strip())

    async def _decide(self, entry_id: int, status: Literal["approved", "rejected"], session: WizardSession | None,
                      audit_after: dict[str, Any], *, hours: Decimal | None = None, reason: str | None = None) -> None:
        # Lands only while the entry is pending and not leased to someone else; without a session (the
        # headless commands) any pending entry whose lease is free may be decided. The decision and its audit
        # event commit together: neither exists without the other.
        async with self.db.pool.acquire() as conn, conn.transaction():
            row = await self._decide_row(conn, entry_id, status, session, hours, reason)
            if row is None:
                raise DecisionRefused(await self._why_refused(entry_id))
            await record(conn, AuditRecord(
                event_type=f"entry_{status}", entity_type="time_entry", entity_id=str(entry_id),
                customer_id=row["customer_id"], system="hub", outcome=status, before={"status": "pending"},
                after={"status": status, **audit_after},
            ))
        if session is not None:
            session.decisions.append(Decision(entry_id, row["customer_id"], status))

    async def _decide_row(self, conn: asyncpg.Connection, entry_id: int, status: str, session: WizardSession | None,
                          hours: Decimal | None, reason: str | None) -> asyncpg.Record | None:
        return await conn.fetchrow(
            "update time_entry set status = $2, billable_hours = $3, reject_reason = $4, decided_by = $5, "
            "decided_at = now(), claimed_by = null, claimed_until = null "
            "where id = $1 and status = 'pending' "
            "and (claimed_by is not distinct from $6 or claimed_until is null or claimed_until < now()) "
            "returning id, customer_id",
            entry_id, status, hours, reason, actor(), session.token if session else None,
        )

    async def _why_refused(self, entry_id: int) -> str:
        current = await self.db.pool.fetchrow(
            "select status, decided_by, claimed_by from time_entry where id = $1", entry_id
        )
        if current is None:
            return f"time entry {entry_id} does not exist"
        if current["status"] != "pending":
            return (f"time entry {entry_id} was already {current['status']} by {current['decided_by']}: "
                    "someone else decided it first")
        holder = (current["claimed_by"] or "someone").split("#")[0]
        return f"time entry {entry_id} is open in {holder}'s wizard right now; try again in a few minutes"

    async def ready_for_order(self, customer_id: int) -> bool:
        """True when the customer has no pending entries left and approved time that is on no order."""
        row = await self.db.pool.fetchrow(
            "select count(*) filter (where status = 'pending') as pending, "
            "count(*) filter (where status = 'approved' and order_id is null) as approved "
            "from time_entry where customer_id = $1", customer_id,
        )
        return row["pending"] == 0 and row["approved"] > 0

    async def undo_last(self, session: WizardSession) -> int | None:
        """Put this session's last decision back to pending and claim it again; return its id."""
        if not session.decisions:
            return None
        last = session.decisions.pop()
        async with self.db.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "update time_entry set status = 'pending', billable_hours = null, reject_reason = null, "
                "decided_by = null, decided_at = null, claimed_by = $2, "
                "claimed_until = now() + make_interval(mins => $3) "
                "where id = $1 and status = $4 and order_id is null",
                last.entry_id, session.token, CLAIM_MINUTES, last.status,
            )
            if status.endswith(" 0"):
                raise DecisionRefused(f"time entry {last.entry_id} can no longer be undone: it is on an order "
                                      "or was changed by someone else")
            await record(conn, AuditRecord(
                event_type="entry_decision_undone", entity_type="time_entry", entity_id=str(last.entry_id),
                customer_id=last.customer_id, system="hub", outcome="pending",
                before={"status": last.status}, after={"status": "pending"},
            ))
        session.skipped.discard(last.entry_id)
        return last.entry_id

    async def release(self, session: WizardSession) -> None:
        await self.db.pool.execute(
            "update time_entry set claimed_by = null, claimed_until = null where claimed_by = $1", session.token
        )

    async def set_rate(self, customer_id: int, rate: Decimal | None) -> None:
        """Set (None: clear) a customer's hourly rate; the change and its audit event commit together.

        RateRefused, with the old rate left as it was, for a rate the column cannot hold or a customer that
        is gone."""
        rate = checked_rate(rate)
        try:
            async with self.db.pool.acquire() as conn, conn.transaction():
                # Locked, so a concurrent change cannot slip between the read and the audited "before".
                before = await conn.fetchrow("select hourly_rate from customer where id = $1 for update",
                                             customer_id)
                status = await conn.execute("update customer set hourly_rate = $2, updated_at = now() where id = $1",
                                            customer_id, rate)
                if before is None or status.endswith(" 0"):
                    raise RateRefused(f"customer {customer_id} no longer exists in the hub; nothing was saved. "
                                      "Reload the list (leave and press F7 again)")
                await record(conn, AuditRecord(
                    event_type="rate_changed", entity_type="customer", entity_id=str(customer_id),
                    customer_id=customer_id, system="hub", outcome="written",
                    before={"hourly_rate": before["hourly_rate"]}, after={"hourly_rate": rate},
                ))
        except RateRefused as error:
            log.warning("hourly rate of customer %s not saved: %s", customer_id, error)
            raise
        except asyncpg.PostgresError as error:
            log.error("hourly rate of customer %s not saved: %s", customer_id, error)
            raise RateRefused(f"the rate was not saved, the old rate stays (database said: {error}); "
                              "try again, and check hubtui.log if it keeps failing") from None

    async def rates(self) -> list[asyncpg.Record]:
        return await self.db.pool.fetch(
            "select c.id, c.name, c.hourly_rate, c.economic_customer_number, "
            "count(e.id) filter (where e.status = 'pending') as pending, "
            "count(e.id) filter (where e.status = 'approved' and e.order_id is null) as approved "
            "from customer c left join time_entry e on e.customer_id = c.id "
            "group by c.id having count(e.id) > 0 or c.hourly_rate is not null order by c.name"
        )

    async def generate_order(self, customer_id: int) -> int:
        """An order from the customer's approved entries that are on no order yet; returns its id."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            customer = await conn.fetchrow("select id, name, hourly_rate from customer where id = $1 for update",
                                           customer_id)
            if customer is None:
                raise OrderRefused(f"customer {customer_id} does not exist")
            entries = await conn.fetch(
                "select id, work_date, description, billable_hours, related_case from time_entry "
                "where customer_id = $1 and status = 'approved' and order_id is null for update",
                customer_id,
            )
            if not entries:
                raise OrderRefused(f"{customer['name']} has no approved time entries that are not on an order")
            rate = effective_rate(customer["hourly_rate"], self.settings.timetracking_default_rate)
            lines = build_order_lines([
                EntryForBilling(e["id"], e["work_date"], e["description"], e["billable_hours"], e["related_case"])
                for e in entries
            ], rate)
            year = datetime.now(UTC).year
            # The advisory lock makes order numbers unique and gap-free under concurrent generation.
            await conn.execute("select pg_advisory_xact_lock(7420002)")
            existing = await conn.fetch("select order_number from billing_order where order_number like $1",
                                        f"ORD-{year}-%")
            number = next_order_number((r["order_number"] for r in existing), year)
            order_id = await conn.fetchval(
                "insert into billing_order (order_number, customer_id, status, currency, total_amount, "
                "idempotency_key) values ($1, $2, 'open', $3, $4, $5) returning id",
                number, customer_id, self.settings.timetracking_currency, order_total(lines),
                new_export_key(),
            )
            await conn.executemany(
                "insert into order_line (order_id, time_entry_id, line_number, description, quantity, "
                "unit_price, amount) values ($1, $2, $3, $4, $5, $6, $7)",
                [(order_id, line.time_entry_id, line.line_number, line.description, line.quantity,
                  line.unit_price, line.amount) for line in lines],
            )
            await conn.execute("update time_entry set order_id = $1 where id = any($2::int[])",
                               order_id, [e["id"] for e in entries])
            await record(conn, AuditRecord(
                event_type="order_generated", entity_type="order", entity_id=str(order_id),
                customer_id=customer_id, system="hub", outcome="written",
                after={"order_number": number, "lines": len(lines), "total": order_total(lines)},
            ))
        return order_id

    async def order(self, order_id: int) -> OrderView | None:
        row = await self.db.pool.fetchrow(
            "select o.*, c.name as customer_name, c.economic_customer_number from billing_order o "
            "join customer c on c.id = o.customer_id where o.id = $1", order_id,
        )
        if row is None:
            return None
        lines = await self.db.pool.fetch(
            "select line_number, description, quantity, unit_price, amount, time_entry_id from order_line "
            "where order_id = $1 order by line_number", order_id,
        )
        return OrderView(row, [dict(line) for line in lines])

    async def orders(self) -> list[asyncpg.Record]:
        return await self.db.pool.fetch(
            "select o.id, o.order_number, o.status, o.total_amount, o.currency, o.economic_draft_number, "
            "o.created_at, o.exported_at, c.name as customer_name, "
            "(select count(*) from order_line l where l.order_id = o.id) as line_count "
            "from billing_order o join customer c on c.id = o.customer_id order by o.created_at desc, o.id desc"
        )


@dataclass
class OrderView:
    row: asyncpg.Record
    lines: list[dict[str, Any]]

    @property
    def number(self) -> str:
        return self.row["order_number"]
