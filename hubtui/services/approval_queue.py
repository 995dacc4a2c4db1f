"""The approval queue: pending time entries, one at a time, approved or rejected by a support person.

Several people may work the queue at once on a shared database. The next entry is claimed with
`FOR UPDATE SKIP LOCKED` plus a lease that expires by itself (a dropped SSH session frees its entry after
CLAIM_MINUTES); a decision only lands while its entry is still pending and claimed by the same session,
so two people never decide the same entry, and the loser is told so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from hubtui.config import Settings
from hubtui.core.billing import InvalidHours, billable_hours, effective_rate, line_amount, parse_hours
from hubtui.store import time_entries
from hubtui.store.audit import AuditRecord, actor, record
from hubtui.store.db import Database

CLAIM_MINUTES = 10


class DecisionRefused(Exception):
    """A decision that could not land: someone else decided the entry first, or it is in an order."""


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


class ApprovalQueue:
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
            await time_entries.release_claims(conn, session.token, keep)
            reloaded = False
            while True:
                if not session.customers:
                    if reloaded:
                        return None
                    session.customers = await time_entries.customers_with_pending(conn)
                    reloaded = True
                    continue
                entry_id = await time_entries.lock_first_free(conn, session.customers[0], list(session.skipped))
                if entry_id is not None:
                    break
                session.customers.pop(0)
            await time_entries.claim(conn, entry_id, session.token, CLAIM_MINUTES)
        return await self.describe(entry_id, session)

    async def describe(self, entry_id: int, session: WizardSession) -> QueueEntry | None:
        entry = await time_entries.entry_to_review(self.db.pool, entry_id)
        if entry is None:
            return None
        progress = await time_entries.queue_progress(self.db.pool, session.started_at, entry.customer_id)
        hours = entry.billable_hours or billable_hours(entry.duration_minutes,
                                                       self.settings.timetracking_rounding_minutes)
        rate = effective_rate(entry.hourly_rate, self.settings.timetracking_default_rate)
        return QueueEntry(
            id=entry.id, customer_id=entry.customer_id, customer_name=entry.customer_name,
            economic_customer_number=entry.economic_customer_number, contact=entry.contact,
            work_date=entry.work_date, duration_minutes=entry.duration_minutes, billable=entry.billable,
            billable_hours=hours, hourly_rate=rate, rate_is_default=entry.hourly_rate is None,
            amount=line_amount(hours, rate), description=entry.description, related_case=entry.related_case,
            position=progress.done + 1, total=progress.total,
            customer_position=progress.customer_done + 1, customer_total=progress.customer_total,
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
            minutes = await time_entries.duration_minutes(self.db.pool, entry_id)
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
            customer_id = await time_entries.decide(conn, entry_id, status, hours, reason, actor(),
                                                    session.token if session else None)
            if customer_id is None:
                raise DecisionRefused(await self._why_refused(entry_id))
            await record(conn, AuditRecord(
                event_type=f"entry_{status}", entity_type="time_entry", entity_id=str(entry_id),
                customer_id=customer_id, system="hub", outcome=status, before={"status": "pending"},
                after={"status": status, **audit_after},
            ))
        if session is not None:
            session.decisions.append(Decision(entry_id, customer_id, status))

    async def _why_refused(self, entry_id: int) -> str:
        current = await time_entries.entry_state(self.db.pool, entry_id)
        if current is None:
            return f"time entry {entry_id} does not exist"
        if current.status != "pending":
            return (f"time entry {entry_id} was already {current.status} by {current.decided_by}: "
                    "someone else decided it first")
        holder = (current.claimed_by or "someone").split("#")[0]
        return f"time entry {entry_id} is open in {holder}'s wizard right now; try again in a few minutes"

    async def ready_for_order(self, customer_id: int) -> bool:
        """True when the customer has no pending entries left and approved time that is on no order."""
        time = await time_entries.customer_time(self.db.pool, customer_id)
        return time.pending == 0 and time.approved_not_ordered > 0

    async def undo_last(self, session: WizardSession) -> int | None:
        """Put this session's last decision back to pending and claim it again; return its id."""
        if not session.decisions:
            return None
        last = session.decisions.pop()
        async with self.db.pool.acquire() as conn, conn.transaction():
            if not await time_entries.reopen(conn, last.entry_id, last.status, session.token, CLAIM_MINUTES):
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
        await time_entries.release_claims(self.db.pool, session.token)
