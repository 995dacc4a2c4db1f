"""The approval queue: pending time entries, one at a time, approved or rejected by a support person.

Several people may work the queue at once on a shared database. The next entry is claimed with
`FOR UPDATE SKIP LOCKED` plus a lease that expires by itself (a dropped SSH session frees its entry after
CLAIM_MINUTES); a decision only lands while its entry is still pending and claimed by the same session,
so two people never decide the same entry, and the loser is told so.
"""

from __future__ import annotations

import dataclasses
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
    billable_hours: Decimal  # what `a` approves: typed with `e`, else 0 when not billable, else rounded up
    hours_edited: bool  # billable_hours were typed with `e` in this session
    hourly_rate: Decimal
    rate_is_default: bool
    amount: Decimal
    description: str
    related_case: str | None
    # Progress "position/total": see WizardSession.place and ApprovalQueue.describe.
    position: int
    total: int
    customer_position: int
    customer_total: int

    def as_json(self) -> dict[str, Any]:
        # Hours are only typed in the wizard: a headless peek never has any, so its JSON leaves the flag out.
        return {key: (str(value) if isinstance(value, Decimal | date) else value)
                for key, value in self.__dict__.items() if key != "hours_edited"}


@dataclass
class Decision:
    entry_id: int
    customer_id: int
    status: Literal["approved", "rejected"]


@dataclass
class WizardSession:
    """One person's pass through the queue: their lease token, what they skipped, what they decided, and
    hours they typed for entries not decided yet."""

    token: str = field(default_factory=lambda: f"{actor()}#{uuid.uuid4().hex[:12]}")
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    skipped: dict[int, int] = field(default_factory=dict)  # entry id -> its customer id
    decisions: list[Decision] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)  # customers with pending time, in name order, to go
    edited_hours: dict[int, Decimal] = field(default_factory=dict)  # typed with `e`, used by the next `a`

    def place(self, entry_id: int, customer_id: int) -> tuple[int, int]:
        """(N, customer's N) of "N/M": the entries this session has dealt with (decided and not undone, or
        skipped), other than this one, plus one; the second counts only the customer's entries.

        So N goes 1, 2, 3 … as a person works through the queue, whatever mix of approve, reject and skip;
        an undone decision no longer counts, so the undone entry gets back the place it had."""
        dealt = {decision.entry_id: decision.customer_id for decision in self.decisions} | self.skipped
        dealt.pop(entry_id, None)
        return len(dealt) + 1, sum(1 for customer in dealt.values() if customer == customer_id) + 1


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
        """The entry as the wizard shows it, with its progress "N/M" in the queue and within its customer.

        N is this session's count (WizardSession.place): the entries it has dealt with, other than this one,
        plus one. M is the queue of this pass: entries pending now plus those decided (by anyone) since the
        session started, so deciding, skipping or undoing, here or in another wizard, leaves M as it was."""
        entry = await time_entries.entry_to_review(self.db.pool, entry_id)
        if entry is None:
            return None
        size = await time_entries.queue_size(self.db.pool, session.started_at, entry.customer_id)
        edited = session.edited_hours.get(entry.id)
        if entry.billable_hours is not None:
            hours = entry.billable_hours
        else:
            hours = edited if edited is not None else self._hours(entry.duration_minutes, entry.billable)
        rate = effective_rate(entry.hourly_rate, self.settings.timetracking_default_rate)
        position, customer_position = session.place(entry.id, entry.customer_id)
        return QueueEntry(
            id=entry.id, customer_id=entry.customer_id, customer_name=entry.customer_name,
            economic_customer_number=entry.economic_customer_number, contact=entry.contact,
            work_date=entry.work_date, duration_minutes=entry.duration_minutes, billable=entry.billable,
            billable_hours=hours, hours_edited=edited is not None, hourly_rate=rate,
            rate_is_default=entry.hourly_rate is None, amount=line_amount(hours, rate),
            description=entry.description, related_case=entry.related_case,
            position=position, total=size.total, customer_position=customer_position,
            customer_total=size.customer_total,
        )

    def placed(self, entry: QueueEntry, session: WizardSession) -> QueueEntry:
        """`entry` with its N counted again from the session (an entry claimed ahead was described before
        the decisions and skips that came since); M stays as described."""
        position, customer_position = session.place(entry.id, entry.customer_id)
        return dataclasses.replace(entry, position=position, customer_position=customer_position)

    def _hours(self, duration_minutes: int, billable: bool) -> Decimal:
        """Hours approved unless typed: 0 for an entry marked not billable in vTiger, else the worked minutes
        rounded up per TIMETRACKING_ROUNDING_MINUTES."""
        if not billable:
            return Decimal("0.00")
        return billable_hours(duration_minutes, self.settings.timetracking_rounding_minutes)

    def edit_hours(self, entry: QueueEntry, hours: Decimal, session: WizardSession) -> QueueEntry:
        """Hours typed for the entry on screen: shown on its card and approved by the next `a`; nothing is
        decided or stored until then (skipping, or leaving the wizard, forgets them)."""
        try:
            hours = parse_hours(str(hours))
        except InvalidHours as error:
            raise DecisionRefused(error.message) from None
        session.edited_hours[entry.id] = hours
        return dataclasses.replace(entry, billable_hours=hours, hours_edited=True,
                                   amount=line_amount(hours, entry.hourly_rate))

    def skip(self, entry: QueueEntry, session: WizardSession) -> None:
        """Leave the entry pending for someone else, and forget hours typed for it."""
        session.skipped[entry.id] = entry.customer_id
        session.edited_hours.pop(entry.id, None)

    async def approve(self, entry_id: int, session: WizardSession | None = None,
                      hours: Decimal | None = None) -> Decimal:
        """Approve with `hours`, else the hours typed with `e` in `session`, else 0 for an entry marked not
        billable in vTiger, else the worked minutes rounded up per TIMETRACKING_ROUNDING_MINUTES; returns the
        hours approved."""
        if hours is None and session is not None:
            hours = session.edited_hours.get(entry_id)
        if hours is not None:
            try:
                hours = parse_hours(str(hours))  # the same rule as typed hours: > 0, ≤ 24, 2 decimals
            except InvalidHours as error:
                raise DecisionRefused(error.message) from None
        else:
            facts = await time_entries.billing_facts(self.db.pool, entry_id)
            if facts is None:
                raise DecisionRefused(f"time entry {entry_id} does not exist")
            hours = self._hours(facts.duration_minutes, facts.billable)
        await self._decide(entry_id, "approved", session, {"billable_hours": hours}, hours=hours)
        return hours

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
            session.edited_hours.pop(entry_id, None)

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
        """True when the customer has no pending entries left and approved hours (more than 0) on no order."""
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
        session.skipped.pop(last.entry_id, None)
        return last.entry_id

    async def release(self, session: WizardSession) -> None:
        await time_entries.release_claims(self.db.pool, session.token)
