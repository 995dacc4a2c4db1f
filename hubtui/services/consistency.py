"""The three-system diff as a use case: read one customer everywhere, apply a write plan, undo it.

Reads run in parallel, each system with its own timeout; a system that fails is "unavailable: <reason>"
and its last cached values are offered for display (never for choosing). A plan is applied with ONE write
per system, all systems in parallel, each guarded against lost updates and each recorded in the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

import asyncpg

from hubtui.config import Settings
from hubtui.connectors.base import (
    ChangedSinceRead,
    ConnectorError,
    ConnectorTimeout,
    MalformedResponse,
    NotFound,
    Unavailable,
    WriteBlocked,
)
from hubtui.connectors.economic import EconomicClient
from hubtui.connectors.vtiger import VtigerClient, vtql_select
from hubtui.core.compare import (
    CustomerComparison,
    compare_customer,
    hub_view_of_economic,
    hub_view_of_vtiger,
)
from hubtui.core.fields import (
    FieldMapping,
    described_field_map,
    field_label,
    field_map,
    system_name,
    vtiger_account_columns,
    without_nul,
)
from hubtui.core.memory import collector_paused
from hubtui.core.normalize import normalize
from hubtui.core.plan import WritePlan, undo_plan
from hubtui.services.audit import undo_refusal
from hubtui.services.safety import SafetyModes, WriteSafety
from hubtui.store.audit import (
    AuditEntry,
    AuditRecord,
    Settlement,
    claim_unknown,
    get_event,
    hold_in_flight,
    mark_undoing,
    record,
    record_all,
    settle_events,
    unknown_writes,
)
from hubtui.store.customers import (
    customers_to_compare,
    get_customer,
    store_discrepancy_count,
    store_discrepancy_counts,
    write_fields,
)
from hubtui.store.db import Database
from hubtui.store.snapshots import RemoteRecord, last_snapshot, save_snapshots

log = logging.getLogger(__name__)
T = TypeVar("T")

Outcome = Literal["written", "dry_run", "blocked", "disabled", "failed", "changed", "unknown"]
# How the message of a write whose answer was lost, but that a re-read showed landed, begins.
CONFIRMED = "confirmed by re-read"


def confirmed_by_reread(message: str | None) -> bool:
    """Whether a "written" outcome took a re-read to know (its answer was lost)."""
    return (message or "").startswith(CONFIRMED)


# The message of a remote write's audit event from just before it is sent until its outcome is known.
IN_FLIGHT_MESSAGE = ("being written, no answer yet; if this stays, hubtui stopped before the answer came: "
                     "opening the customer reads the record back and settles it")


def _fate_unknown(error: ConnectorError) -> bool:
    """Whether a write that raised `error` (after the retries) may have been applied all the same: no answer,
    a cut connection, a 5xx or a garbled body — unlike a refusal the system answered with."""
    return isinstance(error, ConnectorTimeout | Unavailable | MalformedResponse) or (error.status or 0) >= 500


def _shown(value: object) -> str:
    text = _text(value)
    return f"'{text}'" if text and text.strip() else "empty"


def _moved(system: str, plan: WritePlan, now: Mapping[str, object]) -> str | None:
    """The lost-update guard's values half: the first field about to be written that no longer holds what
    the person saw (compared as the diff compares), in words; None when all still do."""
    before, _ = plan.audit_values(system)
    for name, seen in before.items():
        if normalize(name, now.get(name)) != normalize(name, seen):
            return (f"changed in {system_name(system)} since you looked: {field_label(name)} is now "
                    f"{_shown(now.get(name))}")
    return None


def _landed(name: str, now: object, seen: str | None, sent: str | None) -> bool | None:
    """Whether a field holds the value sent (True), still the one seen (False), or neither (None)."""
    text = _text(now)
    value = text if text and text.strip() else None  # blank is empty, as the diff shows it
    key, sent_key, seen_key = normalize(name, value), normalize(name, sent), normalize(name, seen)
    if value == sent or key == sent_key != seen_key:
        return True
    if value == seen or key == seen_key != sent_key:
        return False
    return None


def _verdict(system: str, before: Mapping[str, str | None], after: Mapping[str, str | None],
             now: Mapping[str, object], lost: str, again: str) -> tuple[Outcome, str]:
    """Settle a write whose answer was `lost` by the values the system holds `now`; `again` says how to send
    it again if it did not land."""
    landed = {name: _landed(name, now.get(name), before[name], after.get(name)) for name in before}
    if all(landed.values()):
        return "written", f"{CONFIRMED}; {lost}"
    if all(value is False for value in landed.values()):
        return "failed", f"not written, as a re-read shows ({lost}): {again}"
    name = next(name for name, value in landed.items() if value is not True)
    return "changed", (f"changed in {system_name(system)} since you looked: {field_label(name)} is now "
                       f"{_shown(now.get(name))} ({lost}): look at it again before writing")


class CustomerGone(Exception):
    """The hub customer no longer exists (deleted by someone else)."""


@dataclass
class SystemRead:
    """What one system said about the customer, or why it could not say."""

    system: str
    values: dict[str, object] | None  # keyed by hub field names; None = unavailable
    modified: str | None = None  # the lost-update marker: updated_at / modifiedtime / lastUpdated
    reason: str = ""  # why unavailable
    cached: dict[str, object] | None = None  # last values read, shown greyed while unavailable
    cached_at: datetime | None = None

    @property
    def available(self) -> bool:
        return self.values is not None


@dataclass
class CustomerReading:
    customer_id: int
    name: str
    vtiger_id: str | None
    economic_number: int | None
    reads: dict[str, SystemRead]
    comparison: CustomerComparison
    # Earlier writes to this customer whose outcome was unknown, settled by this read: audit id → result.
    settled: dict[int, SystemResult] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every system the customer is linked to was read: only then is its count replaced."""
        return all_linked_read(self.vtiger_id, self.economic_number, self.reads)


def all_linked_read(vtiger_id: str | None, economic_number: int | None, reads: dict[str, SystemRead]) -> bool:
    """Whether every system a customer is linked to was read (for a customer linked to none: yes)."""
    return (not vtiger_id or reads["vtiger"].available) and (
        economic_number is None or reads["economic"].available)


@dataclass
class SystemResult:
    """The outcome of one system's write: per field, and as a whole."""

    system: str
    outcome: Outcome
    fields: dict[str, tuple[object, object]]  # hub field → (before, after)
    message: str = ""
    payload: dict[str, Any] | None = None  # what was (or, under dry-run, would have been) sent
    log_id: str | None = None
    audit_id: int | None = None


@dataclass
class ApplyResult:
    results: dict[str, SystemResult] = field(default_factory=dict)
    reading: CustomerReading | None = None  # the customer as re-read after applying

    @property
    def failed_systems(self) -> list[str]:
        """The systems `r` deals with: failed or changed ones are sent again, unknown ones settled first."""
        return [s for s, r in self.results.items() if r.outcome in ("failed", "changed", "unknown")]


class ConsistencyService:
    """One per session: it holds the field map checked against vTiger's `describe`."""

    def __init__(self, db: Database, settings: Settings, vtiger: VtigerClient, economic: EconomicClient):
        self.db = db
        self.settings = settings
        self.vtiger = vtiger
        self.economic = economic
        self._mappings: tuple[FieldMapping, ...] | None = None

    @property
    def field_map_checked(self) -> bool:
        """Whether `mappings()` has checked the vTiger field names against describe yet."""
        return self._mappings is not None

    async def mappings(self) -> tuple[FieldMapping, ...]:
        """The field map with vTiger fields that `describe` does not list turned into "not in vTiger".

        Until vTiger has answered `describe` once, the configured map is used (and vTiger asked again next
        time); a vTiger that hangs costs one timeout here, like any other vTiger read."""
        if self._mappings is not None:
            return self._mappings
        configured = field_map(self.settings)
        try:
            described = await asyncio.wait_for(self.vtiger.describe("Accounts"), self.settings.http_timeout_seconds)
        except (TimeoutError, ConnectorError) as error:
            log.warning("cannot check the vTiger field map against describe: %s", error or "no answer in time")
            return configured
        known = {str(item.get("name")) for item in described.get("fields", [])}
        self._mappings = described_field_map(self.settings, known)
        return self._mappings

    async def read(self, customer_id: int) -> CustomerReading:
        customer = await get_customer(self.db.pool, customer_id)
        if customer is None:
            raise CustomerGone(f"customer {customer_id} no longer exists in the hub")
        hub = SystemRead("hub", customer.values, modified=customer.updated_at.isoformat())
        # vTiger's describe (for the field map) runs inside the vTiger branch, so it never delays the others;
        # e-conomic's side of the map does not depend on it.
        # Writes whose outcome is unknown are looked up meanwhile, to be settled by what this read finds.
        (vtiger_read, mappings), economic_read, unsettled = await asyncio.gather(
            self._read_vtiger(customer_id, customer.vtiger_id),
            self._read_economic(customer_id, customer.economic_customer_number, field_map(self.settings)),
            unknown_writes(self.db.pool, customer_id),
        )
        reads = {"hub": hub, "vtiger": vtiger_read, "economic": economic_read}
        comparison = compare_customer(
            hub.values, vtiger_read.values, economic_read.values, mappings, self.settings.trusted_systems
        )
        if all_linked_read(customer.vtiger_id, customer.economic_customer_number, reads):
            # A linked system that could not be read would hide its differences: keep the last real count.
            await store_discrepancy_count(self.db.pool, customer_id, comparison.discrepancy_count)
        reading = CustomerReading(customer_id, customer.name, customer.vtiger_id,
                                  customer.economic_customer_number, reads, comparison)
        if unsettled:
            reading.settled = await self._settle(reading, unsettled)
        return reading

    async def _read_vtiger(self, customer_id: int, vtiger_id: str | None
                           ) -> tuple[SystemRead, tuple[FieldMapping, ...]]:
        if not vtiger_id:
            return SystemRead("vtiger", None, reason="not linked: the customer has no vTiger id"), \
                field_map(self.settings)

        async def account_and_map() -> tuple[dict[str, Any], tuple[FieldMapping, ...]]:
            return await self.vtiger.retrieve(vtiger_id), await self.mappings()

        # One deadline for the whole vTiger branch (describe, when not yet known, and retrieve).
        answer = await self._timed(account_and_map(), "vTiger")
        if isinstance(answer, str):
            mappings = self._mappings or field_map(self.settings)
            return await self._unavailable("vtiger", vtiger_id, answer, mappings), mappings
        record, mappings = answer
        account = without_nul(record)
        await self._remember("vtiger", vtiger_id, customer_id, account, account.get("modifiedtime"))
        return SystemRead("vtiger", hub_view_of_vtiger(account, mappings),
                          modified=str(account.get("modifiedtime") or "") or None), mappings

    async def _read_economic(self, customer_id: int, number: int | None,
                             mappings: tuple[FieldMapping, ...]) -> SystemRead:
        if number is None:
            return SystemRead("economic", None, reason="not linked: the customer has no e-conomic number")
        record_or_error = await self._timed(self.economic.get_customer(number), "e-conomic")
        if isinstance(record_or_error, str):
            return await self._unavailable("economic", str(number), record_or_error, mappings)
        customer = without_nul(record_or_error)
        await self._remember("economic", str(number), customer_id, customer, customer.get("lastUpdated"))
        return SystemRead("economic", hub_view_of_economic(customer, mappings),
                          modified=str(customer.get("lastUpdated") or "") or None)

    async def _timed(self, call: Awaitable[T], title: str) -> T | str:
        """The record, or a one-line reason why it could not be read (its own timeout per system)."""
        timeout = self.settings.http_timeout_seconds
        try:
            return await asyncio.wait_for(call, timeout)
        except TimeoutError:
            return f"{title} did not answer within {timeout:g} s"
        except NotFound as error:
            return f"not found in {title}: {error.message}"
        except ConnectorError as error:
            return str(error)

    async def _unavailable(self, system: str, remote_id: str, reason: str,
                           mappings: tuple[FieldMapping, ...]) -> SystemRead:
        log.warning("%s unavailable for %s: %s", system, remote_id, reason)
        snapshot = await last_snapshot(self.db.pool, system, remote_id)
        if snapshot is None:
            return SystemRead(system, None, reason=reason)
        view = hub_view_of_vtiger if system == "vtiger" else hub_view_of_economic
        return SystemRead(system, None, reason=reason, cached=view(snapshot.values, mappings),
                          cached_at=snapshot.read_at)

    async def _remember(self, system: str, remote_id: str, customer_id: int, values: dict[str, Any],
                        modified: object) -> None:
        await save_snapshots(self.db.pool, system, [
            RemoteRecord(remote_id, customer_id, values, str(modified) if modified else None)])

    async def apply(self, reading: CustomerReading, plan: WritePlan, *, event_type: str = "field_sync",
                    only: Iterable[str] | None = None) -> ApplyResult:
        """Write `plan`: one write per system, in parallel; then read the customer again.

        Every write is recorded as it happened. A remote system's audit event is written first, as "unknown"
        (with the hub's write, while the lost-update guards read), and held as in flight until its outcome
        is known: a write whose answer is lost is settled by reading the record back, and a process that
        dies meanwhile leaves an "unknown" that the next `read` of the customer settles."""
        systems = [s for s in plan.systems if only is None or s in set(only)]
        remote = [s for s in systems if s != "hub"]
        writers = {"vtiger": self._write_vtiger, "economic": self._write_economic}
        async with self.db.pool.acquire() as conn:
            begun = asyncio.ensure_future(self._begin(conn, reading, plan, systems, event_type))
            answers = await asyncio.gather(*(writers[s](reading, plan.only(s), begun) for s in remote),
                                           return_exceptions=True)
            hub, ids = await begun  # a failed begin failed every writer before it sent anything
            outcomes = dict(zip(remote, answers, strict=True))
            done = {s: r for s, r in outcomes.items() if isinstance(r, SystemResult)}
            await settle_events(conn, [Settlement(ids[s], r.outcome, r.message or None, r.log_id)
                                       for s, r in done.items()], release=True)
        for system, outcome in done.items():
            outcome.audit_id = ids[system]
        error = next((answer for answer in answers if isinstance(answer, BaseException)), None)
        if error is not None:
            raise error  # its event stays "unknown" until a read settles it
        result = ApplyResult({s: hub if s == "hub" and hub is not None else done[s] for s in systems})
        try:
            result.reading = await self.read(reading.customer_id)
        except CustomerGone:
            result.reading = None
        for outcome in result.results.values():
            # An "unknown" whose re-read failed a moment ago may have been settled by this read.
            if result.reading is not None and (settled := result.reading.settled.get(outcome.audit_id or 0)):
                outcome.outcome, outcome.message = settled.outcome, settled.message
        return result

    async def _begin(self, conn: asyncpg.Connection, reading: CustomerReading, plan: WritePlan,
                     systems: list[str], event_type: str) -> tuple[SystemResult | None, dict[str, int]]:
        """The hub's write with its audit event, and an "unknown" event per remote system held as in flight,
        in one transaction: the events come in hub, vTiger, e-conomic order, each before its write is sent."""
        remote = [s for s in systems if s != "hub"]
        async with conn.transaction():
            hub = await self._write_hub(conn, reading, plan.only("hub"), event_type) if "hub" in systems else None
            pending = [SystemResult(s, "unknown", self._fields(plan, s), IN_FLIGHT_MESSAGE) for s in remote]
            ids = await record_all(conn, [
                self._audit_record(reading, plan.only(p.system), p, event_type) for p in pending])
            if ids:
                await hold_in_flight(conn, ids)
        return hub, dict(zip(remote, ids, strict=True))

    def _fields(self, plan: WritePlan, system: str) -> dict[str, tuple[object, object]]:
        before, after = plan.audit_values(system)
        return {name: (before[name], after[name]) for name in before}

    async def _write_hub(self, conn: asyncpg.Connection, reading: CustomerReading, plan: WritePlan,
                         event_type: str) -> SystemResult:
        """The hub's change and its audit event, in the caller's transaction: never one without the other."""
        before, _ = plan.audit_values("hub")
        fields = self._fields(plan, "hub")
        # Guarded field by field: if anyone changed one of these fields since it was read, nothing is written.
        if not await write_fields(conn, reading.customer_id, plan.hub, before):
            result = SystemResult("hub", "changed", fields, "the hub record was changed since you looked")
        else:
            result = SystemResult("hub", "written", fields, payload=dict(plan.hub))
        result.audit_id = await record(conn, self._audit_record(reading, plan, result, event_type))
        return result

    async def _write_vtiger(self, reading: CustomerReading, plan: WritePlan, begun: Awaitable[object]
                            ) -> SystemResult:
        fields = self._fields(plan, "vtiger")
        changes = {name: "" if value is None else value for name, value in plan.vtiger.items()}
        vtiger_id = reading.vtiger_id or ""
        if not self.settings.vtiger_sync_enabled:
            disabled = await self.vtiger.revise(vtiger_id, changes)  # reports "disabled", sends nothing
            return SystemResult("vtiger", "disabled", fields, disabled.reason, payload=disabled.payload)
        try:
            # vTiger has no conditional write: compare the record just before revising.
            current = await self.vtiger.retrieve(vtiger_id)
        except ConnectorError as error:
            return SystemResult("vtiger", "failed", fields, str(error), payload=changes, log_id=error.log_id)
        now = hub_view_of_vtiger(without_nul(current), reading.comparison.mappings)
        moved = _moved("vtiger", plan, now)
        if moved is None and str(current.get("modifiedtime") or "") != (reading.reads["vtiger"].modified or ""):
            moved = f"changed in vTiger at {current.get('modifiedtime')} since you looked"
        if moved is not None:
            return SystemResult("vtiger", "changed", fields, moved)
        await begun  # its audit event exists before the write is sent
        try:
            result = await self.vtiger.revise(vtiger_id, changes)
        except ConnectorError as error:
            return await self._after_error("vtiger", reading, plan, error, changes)
        return SystemResult("vtiger", result.outcome, fields, result.reason,
                            payload=dict(result.payload or {}))

    async def _write_economic(self, reading: CustomerReading, plan: WritePlan, begun: Awaitable[object]
                              ) -> SystemResult:
        fields = self._fields(plan, "economic")
        number = reading.economic_number or 0
        current = None
        try:
            if SafetyModes.of(self.settings).economic.live:
                # The lost-update guard compares the values too (lastUpdated has 1 s resolution); the PUT
                # carries this very record, so a change to another field in that second is kept.
                current = await self.economic.get_customer(number)
                now = hub_view_of_economic(without_nul(current), reading.comparison.mappings)
                if (moved := _moved("economic", plan, now)) is not None:
                    return SystemResult("economic", "changed", fields, moved)
                await begun  # its audit event exists before the write is sent
            result = await self.economic.update_customer(
                number, plan.economic, expected_last_updated=reading.reads["economic"].modified, current=current
            )
        except WriteBlocked as error:
            return SystemResult("economic", "blocked", fields, str(error), payload=plan.economic)
        except ChangedSinceRead as error:
            return SystemResult("economic", "changed", fields, str(error))
        except ConnectorError as error:
            if current is None:  # the read failed: nothing was sent
                return SystemResult("economic", "failed", fields, str(error), payload=plan.economic,
                                    log_id=error.log_id)
            return await self._after_error("economic", reading, plan, error, plan.economic)
        if result.outcome == "dry_run":
            log.info("DRY-RUN e-conomic %s %s: %s", result.method, result.path,
                     json.dumps(result.payload, ensure_ascii=False, default=str))
        return SystemResult("economic", result.outcome, fields, result.reason,
                            payload=dict(result.payload or {}), log_id=result.log_id)

    async def _after_error(self, system: str, reading: CustomerReading, plan: WritePlan, error: ConnectorError,
                           payload: Mapping[str, Any]) -> SystemResult:
        """A sent write that raised: "failed" when the system refused it; when its fate is unknown (no
        answer, a 5xx or a garbled one, after the retries) the record is read back to settle it."""
        fields = self._fields(plan, system)
        if not _fate_unknown(error):
            return SystemResult(system, "failed", fields, str(error), payload=dict(payload), log_id=error.log_id)
        try:
            now = await self._values_now(system, reading)
        except ConnectorError as reread:
            record_id = reading.vtiger_id if system == "vtiger" else reading.economic_number
            names = ", ".join(field_label(name) for name in fields)
            message = (f"no usable answer ({error}) and reading it back failed too ({reread}): check "
                       f"{system_name(system)} record {record_id}, {names}; r reads it back and settles this "
                       "before sending anything")
            return SystemResult(system, "unknown", fields, message, payload=dict(payload), log_id=error.log_id)
        outcome, message = _verdict(system, *plan.audit_values(system), now, f"no usable answer: {error}",
                                    "press r to send it again")
        return SystemResult(system, outcome, fields, message, payload=dict(payload), log_id=error.log_id)

    async def _values_now(self, system: str, reading: CustomerReading) -> dict[str, object]:
        """The record as `system` holds it now, keyed by hub field names."""
        mappings = reading.comparison.mappings
        if system == "vtiger":
            return hub_view_of_vtiger(without_nul(await self.vtiger.retrieve(reading.vtiger_id or "")), mappings)
        customer = await self.economic.get_customer(reading.economic_number or 0)
        return hub_view_of_economic(without_nul(customer), mappings)

    async def _settle(self, reading: CustomerReading, events: list[AuditEntry]) -> dict[int, SystemResult]:
        """Earlier writes whose outcome is unknown, settled by the values `reading` found; one still in flight
        (in this or another session) is left to the session writing it."""
        readable = [e for e in events if e.system in ("vtiger", "economic") and reading.reads[e.system].available]
        if not readable:
            return {}
        settled: dict[int, SystemResult] = {}
        async with self.db.pool.acquire() as conn, conn.transaction():
            free = await claim_unknown(conn, [event.id for event in readable])
            for event in readable:
                system, values = event.system or "", reading.reads[event.system or ""].values
                if event.id not in free or values is None:
                    continue
                before = {name: _text(value) for name, value in (event.before or {}).items()}
                after = {name: _text((event.after or {}).get(name)) for name in before}
                outcome, message = _verdict(system, before, after, values, "hubtui never heard its answer",
                                            "write it again from the customer's diff if it is still wanted")
                settled[event.id] = SystemResult(system, outcome, {n: (before[n], after[n]) for n in before},
                                                 message, log_id=event.remote_log_id, audit_id=event.id)
            await settle_events(conn, [Settlement(i, r.outcome, r.message, r.log_id) for i, r in settled.items()])
        for result in settled.values():
            log.info("settled audit event %s (%s): %s", result.audit_id, result.system, result.outcome)
        return settled

    def _audit_record(self, reading: CustomerReading, plan: WritePlan, outcome: SystemResult,
                      event_type: str) -> AuditRecord:
        before, after = plan.audit_values(outcome.system)
        return AuditRecord(
            event_type=event_type,
            entity_type="customer",
            entity_id=str(reading.customer_id),
            customer_id=reading.customer_id,
            system=outcome.system,
            outcome=outcome.outcome,
            before=before,
            after=after,
            message=outcome.message or None,
            remote_log_id=outcome.log_id,
            dry_run=outcome.outcome == "dry_run",
        )

    async def undo_preview(self, event_id: int) -> UndoPreview:
        """What undoing `event_id` would write, against the record as that system holds it NOW.

        UndoRefused when the event cannot be undone (`undo_refusal`), the system cannot be read, or there is
        nothing left to write."""
        event = await get_event(self.db.pool, event_id)
        if event is None:
            raise UndoRefused(f"audit event {event_id} does not exist")
        why = await undo_refusal(self.db, event)
        if why is not None or event.system is None or event.customer_id is None or event.before is None:
            raise UndoRefused(why or f"event {event_id} holds no values to write back")
        system, title = event.system, system_name(event.system)
        try:
            reading = await self.read(event.customer_id)
        except CustomerGone as error:
            raise UndoRefused(f"{error}; there is nothing to write back to") from None
        if not reading.reads[system].available:
            raise UndoRefused(f"{title} cannot be read now ({reading.reads[system].reason}), so the undo cannot "
                              "show what it would overwrite; try again when it answers")
        plan = undo_plan({system: event.before}, reading.comparison)
        skipped = {s.field: s.reason for s in plan.skipped}
        planned = {change.field for change in plan.changes}
        written = event.field_after
        fields = []
        for name, restore in event.before.items():
            known = any(mapping.hub == name for mapping in reading.comparison.mappings)
            current = reading.comparison.field(name).value(system) if known else None
            changed = name in written and known and \
                normalize(name, current) != normalize(name, _text(written[name]))
            fields.append(UndoField(name, current, _text(restore), _text(written.get(name)), changed,
                                    written=name in planned, why=skipped.get(name, "")))
        if plan.is_empty:
            reasons = "; ".join(dict.fromkeys(skipped.values())) or f"{title} already holds the values from before"
            raise UndoRefused(f"nothing to undo: {reasons}")
        return UndoPreview(event, reading, plan, fields, SafetyModes.of(self.settings).of_system(system))

    async def undo(self, event_id: int, preview: UndoPreview | None = None) -> ApplyResult:
        """Write an audit event's "before" values back, through the same plan, flags and audit path; each undo
        event records the event it undid (`after["undoes_event"]`).

        With the `preview` the person confirmed, exactly what it showed is written (a field changed since the
        event included: they saw it), and the write is guarded against changes made after that read. Without
        one, the customer is read now and a field changed since the event is left alone."""
        if preview is None:
            preview = await self.undo_preview(event_id)
            event = preview.event
            plan = undo_plan({event.system or "": event.before or {}}, preview.reading.comparison,
                             after={event.system or "": event.field_after})
            if plan.is_empty:
                raise UndoRefused("nothing to undo: " + "; ".join(s.reason for s in plan.skipped))
        else:
            # Someone may have undone it while the dialog was open.
            why = await undo_refusal(self.db, preview.event)
            if why is not None or preview.event.id != event_id:
                raise UndoRefused(why or f"the preview is of event {preview.event.id}, not {event_id}")
            plan = preview.plan
        result = await self.apply(preview.reading, plan, event_type="undo")
        ids = [outcome.audit_id for outcome in result.results.values() if outcome.audit_id is not None]
        await mark_undoing(self.db.pool, ids, event_id)
        return result


class UndoRefused(ValueError):
    """An undo that cannot or need not be done; the message says why, in words for the person."""


@dataclass(frozen=True)
class UndoField:
    """One field of an undo: what the system holds now next to what the undo would restore."""

    field: str
    current: str | None  # in that system now
    restore: str | None  # the event's "before": what the undo writes back
    wrote: str | None  # the event's "after": what the event wrote
    changed_since: bool  # `current` is no longer what the event wrote: someone changed it since
    written: bool = True  # False: the undo leaves it alone (already so, or `why`)
    why: str = ""


@dataclass
class UndoPreview:
    event: AuditEntry
    reading: CustomerReading  # the read the person saw; the undo's writes are guarded against changes since
    plan: WritePlan
    fields: list[UndoField]
    safety: WriteSafety  # what the undo's write to that system would do: LIVE, DRY-RUN, READ-ONLY, disabled


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass
class CustomerCheck:
    """One customer's result in a fleet check."""

    customer_id: int
    name: str
    comparison: CustomerComparison
    # Every system the customer is linked to was read, so its count was stored; otherwise the stored count
    # (and its checked_at) were kept, and `comparison` covers only the systems that were read.
    compared: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "hub_id": self.customer_id,
            "name": self.name,
            "discrepancy_count": self.comparison.discrepancy_count,
            "discrepancies": self.comparison.discrepancies_as_dict(),
            "systems_available": self.comparison.available,
            "compared": self.compared,
        }


@dataclass
class FleetCheck:
    customers: list[CustomerCheck]
    systems_available: dict[str, bool]
    unavailable_reasons: dict[str, str]
    seconds: float
    # System → why it could not be read completely and which customers kept their count, as one line;
    # only systems some checked customer is linked to. Empty when the check is complete.
    incomplete: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        counts = [c.comparison.discrepancy_count for c in self.customers]
        compared = sum(1 for c in self.customers if c.compared)
        return {
            "checked": len(counts),
            "compared": compared,
            "kept": len(counts) - compared,
            "with_discrepancies": sum(1 for n in counts if n),
            "discrepancies": sum(counts),
            "seconds": round(self.seconds, 2),
            "systems_available": self.systems_available,
            "unavailable": self.unavailable_reasons,
            "incomplete": self.incomplete,
        }


Progress = Callable[[str, int, int | None], None]  # (what is happening, done, total)


async def check_fleet(service: ConsistencyService, progress: Progress | None = None,
                      customer_ids: Iterable[int] | None = None) -> FleetCheck:
    """Compare every customer (or `customer_ids`) using bulk paged reads of both remote systems.

    Two bulk reads replace one request per customer per system: vTiger Accounts 100 a page, e-conomic
    customers 1000 a page, both in parallel. The counts are stored, so the list opens with them — only for
    customers compared with every system they are linked to: a system that could not be read completely
    (a page failed after its retries) leaves its customers' counts as they were, and is named with the
    failed request in `FleetCheck.incomplete`."""
    started = time.perf_counter()
    report = progress or (lambda what, done, total: None)
    mappings = await service.mappings()
    # Just the mapped fields once describe has said they exist; all of them while it has not answered (a
    # named field this vTiger lacks would make it refuse the whole query).
    columns = vtiger_account_columns(mappings) if service.field_map_checked else ["*"]
    wanted = list(customer_ids) if customer_ids is not None else None
    report("reading the hub, vTiger and e-conomic", 0, None)
    hub_read = asyncio.create_task(customers_to_compare(service.db.pool, wanted))
    vtiger_rows, economic_rows = await asyncio.gather(
        _bulk(service.vtiger.query(vtql_select("Accounts", columns), bulk=True), "vTiger"),
        _bulk(service.economic.customers(), "e-conomic"),
    )
    reasons = {system: rows for system, rows in (("vtiger", vtiger_rows), ("economic", economic_rows))
               if isinstance(rows, str)}
    available = {"hub": True, "vtiger": "vtiger" not in reasons, "economic": "economic" not in reasons}
    if not (available["vtiger"] or available["economic"]):
        # Nothing to compare the hub with: keep the last real counts rather than call everyone consistent.
        hub_read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_read
        incomplete = {system: _incomplete(system, reason, None) for system, reason in reasons.items()}
        for message in incomplete.values():
            log.warning("fleet check incomplete: %s", message)
        return FleetCheck([], available, reasons, time.perf_counter() - started, incomplete)
    hub_customers = await hub_read
    accounts = {} if isinstance(vtiger_rows, str) else {a.get("id"): without_nul(a) for a in vtiger_rows}
    books = {} if isinstance(economic_rows, str) else {
        c.get("customerNumber"): without_nul(c) for c in economic_rows
    }
    trusted = service.settings.trusted_systems
    checks: list[CustomerCheck] = []
    kept = {"vtiger": 0, "economic": 0}  # customers linked to a system that could not be read
    total = len(hub_customers)
    # Thousands of live dicts would set off full garbage collections that free nothing.
    with collector_paused():
        for done, row in enumerate(hub_customers, start=1):
            account = accounts.get(row.vtiger_id) if row.vtiger_id else None
            customer = books.get(row.economic_customer_number) if row.economic_customer_number else None
            comparison = compare_customer(
                row.values,
                hub_view_of_vtiger(account, mappings) if account is not None else None,
                hub_view_of_economic(customer, mappings) if customer is not None else None,
                mappings,
                trusted,
            )
            compared = True
            if row.vtiger_id and not available["vtiger"]:
                kept["vtiger"] += 1
                compared = False
            if row.economic_customer_number and not available["economic"]:
                kept["economic"] += 1
                compared = False
            checks.append(CustomerCheck(row.id, row.name, comparison, compared))
            if done % 250 == 0:
                # ~20 ms of comparing at a time, so keys typed meanwhile are answered without a noticeable wait.
                report("comparing", done, total)
                await asyncio.sleep(0)
    report("saving the counts", total, total)
    await store_discrepancy_counts(
        service.db.pool, {c.customer_id: c.comparison.discrepancy_count for c in checks if c.compared})
    incomplete = {system: _incomplete(system, reasons[system], count) for system, count in kept.items() if count}
    for message in incomplete.values():
        log.warning("fleet check incomplete: %s", message)
    return FleetCheck(checks, available, reasons, time.perf_counter() - started, incomplete)


async def _bulk(call: Awaitable[list[dict[str, Any]]], title: str) -> list[dict[str, Any]] | str:
    try:
        return await call
    except ConnectorError as error:
        reason = _read_failure(error)
        log.warning("fleet check: %s could not be read: %s", title, reason)
        return reason


def _read_failure(error: ConnectorError) -> str:
    """The error in one line that also names the request it ended (which page) and how often it was sent."""
    text = str(error)
    notes = [error.request] if error.request and error.request not in text else []
    if error.attempts > 1:
        notes.append(f"sent {error.attempts} times")
    return f"{text} ({', '.join(notes)})" if notes else text


def _incomplete(system: str, reason: str, kept: int | None) -> str:
    """What a system that could not be read means for the check, and what to do; `kept` None = everyone."""
    whose = "any customer" if kept is None else f"the {kept:,} customers in {system_name(system)}"
    return f"{reason}; the check is incomplete: no counts were changed for {whose} — run it again"
