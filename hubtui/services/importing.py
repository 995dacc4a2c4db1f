"""Importing from vTiger into the hub: Accounts become hub customers, Timelogs become pending time entries.

How an import run behaves, and why:

* **One transaction per run.** Pages are read one at a time and written as they arrive (bulk statements
  over `unnest` arrays: two per page of 100, never one per row; the hub's vTiger links are read once per
  run), all inside one transaction on one pooled connection. 10,000 accounts take about 2 s against the
  local sandbox, a third of it reading. A connector error, a database error or a cancel rolls back
  everything, so a run is never half-written; the next run starts again from the same watermark.
* **The watermark lives in the same transaction** as the data it covers: it becomes visible exactly when
  the data commits, and can never run ahead of it. It only ever moves forward.
* **"Modified since" is inclusive** (`modifiedtime >= watermark`). vTiger's `modifiedtime` has one-second
  resolution, so a record changed later in the same second as the newest one read would be lost by `>`.
  The price is that a run re-reads the record(s) of that one second; they are counted as read and as
  already in the hub.
* **Two processes at once** are serialised by a transaction-scoped advisory lock per import kind (the
  second waits, then reads from the watermark the first committed). Independently of that lock the unique
  `customer.vtiger_id` / `time_entry.remote_id` plus `ON CONFLICT DO NOTHING` make duplicates impossible.
* **Hub values are never overwritten**: an account whose vTiger id is already in the hub is only counted.
  Every account read is kept in `remote_snapshot` (the cache of last values read), whatever happened to it.
* **Timelogs whose account has no hub customer hold the watermark back** at the earliest of them, so they
  are read again once `hubtui sync customers` has imported the account. Bad values (duration, date) do
  not hold it back: fixing them in vTiger changes `modifiedtime`, and the fixed record is read again.
* One `AuditEvent` per run (`import_customers` / `import_timelogs`), written with the data; a failed run is
  audited too, in its own small transaction, before the error propagates.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from hubtui.config import Settings
from hubtui.connectors.base import ConnectorError
from hubtui.connectors.vtiger import VtigerClient, vtql_quote, vtql_select
from hubtui.core.billing import parse_minutes, truthy
from hubtui.core.fields import FIELDS, described_field_map, hub_values_from_vtiger, vtiger_account_columns, without_nul
from hubtui.store.audit import AuditRecord, record
from hubtui.store.customers import (
    NewCustomer,
    holders_of_economic_numbers,
    ids_by_vtiger_id,
    insert_linked_customers,
)
from hubtui.store.db import Database
from hubtui.store.imports import ImportedTimelog, advance_watermark, insert_pending_entries, lock_import, watermark
from hubtui.store.snapshots import RemoteRecord, save_snapshots

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]

ACCOUNTS_MODULE = "Accounts"
ACCOUNTS_WATERMARK = "vtiger.accounts.modifiedtime"
TIMELOGS_WATERMARK = "vtiger.timelogs.modifiedtime"
SYSTEM = "vtiger"
MAX_ECONOMIC_NUMBER = 2_147_483_647  # the hub column is a Postgres integer
AUDITED_REASONS = 100  # reasons kept in the audit event; the summary keeps them all

_VTIGER_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_RECORD_ID = re.compile(r"(\d+)x(\d+)")


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One record an import could not take as it was, and why, in the support person's words."""

    remote_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.remote_id}: {self.reason}"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _next_run(watermark: str | None, what: str) -> str:
    return f"next run from {watermark}" if watermark else f"next run reads all {what}"


@dataclass(slots=True)
class CustomerImportSummary:
    """What `import_customers` did. `watermark` is where the next incremental run starts (inclusive)."""

    read: int = 0
    created: int = 0
    already_in_hub: int = 0
    skipped: list[ImportProblem] = field(default_factory=list)
    # Imported, but not entirely: e.g. an e-conomic number that is not a number was left out.
    warnings: list[ImportProblem] = field(default_factory=list)
    watermark: str | None = None
    full: bool = False

    def line(self) -> str:
        warnings = f", {_plural(len(self.warnings), 'warning', 'warnings')}" if self.warnings else ""
        return (
            f"vTiger accounts: {self.read} read, {_plural(self.created, 'new customer', 'new customers')}, "
            f"{self.already_in_hub} already in hub, {len(self.skipped)} skipped{warnings}; "
            f"{_next_run(self.watermark, 'accounts')}"
        )

    def counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "created": self.created,
            "already_in_hub": self.already_in_hub,
            "skipped": len(self.skipped),
            "warnings": len(self.warnings),
            "watermark": self.watermark,
            "full": self.full,
            "skipped_reasons": [str(item) for item in self.skipped[:AUDITED_REASONS]],
            "warning_reasons": [str(item) for item in self.warnings[:AUDITED_REASONS]],
        }


@dataclass(slots=True)
class TimelogImportSummary:
    """What `import_timelogs` did. `watermark` is where the next incremental run starts (inclusive)."""

    read: int = 0
    created: int = 0
    already_imported: int = 0
    skipped: list[ImportProblem] = field(default_factory=list)
    watermark: str | None = None
    full: bool = False

    def line(self) -> str:
        return (
            f"vTiger timelogs: {self.read} read, "
            f"{_plural(self.created, 'new pending entry', 'new pending entries')}, "
            f"{self.already_imported} already imported, {len(self.skipped)} skipped; "
            f"{_next_run(self.watermark, 'timelogs')}"
        )

    def counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "created": self.created,
            "already_imported": self.already_imported,
            "skipped": len(self.skipped),
            "watermark": self.watermark,
            "full": self.full,
            "skipped_reasons": [str(item) for item in self.skipped[:AUDITED_REASONS]],
        }


def parse_economic_number(raw: object) -> tuple[int | None, str | None]:
    """The e-conomic customer number in a vTiger field: (number, None), (None, None) when empty, or
    (None, problem). Decimal custom fields come back as `"1001.00000000"`, which is still 1001."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None, None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None, f"'{text}' is not a number"
    if not number.is_finite() or number != number.to_integral_value():
        return None, f"'{text}' is not a whole number"
    if not 1 <= number <= MAX_ECONOMIC_NUMBER:
        return None, f"{text} is out of range"
    return int(number), None


def parse_work_date(raw: object) -> tuple[date | None, str | None]:
    """`yyyy-mm-dd` (a datetime's time part is ignored) as (date, None) or (None, problem)."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None, "no date"
    head = text[:10] if len(text) == 10 or (len(text) > 10 and text[10] in " T") else text
    try:
        return date.fromisoformat(head), None
    except ValueError:
        return None, f"date '{text}' is not yyyy-mm-dd"


def _modified(record: Mapping[str, Any]) -> str | None:
    value = str(record.get("modifiedtime") or "").strip()
    return value if _VTIGER_TIME.fullmatch(value) else None


def _newest(current: str | None, candidate: str | None) -> str | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current


def _record_order(record_id: str) -> tuple[int, int, str]:
    match = _RECORD_ID.fullmatch(record_id)
    return (int(match.group(1)), int(match.group(2)), "") if match else (-1, -1, record_id)


async def accounts_statement(vtiger: VtigerClient, settings: Settings, since: str | None) -> str:
    """The query an import of Accounts pages through: just the fields it stores, as far as `describe` lists
    them (a custom field named in settings may not exist in this installation)."""
    known = await vtiger.field_names(ACCOUNTS_MODULE)
    number_field = settings.vtiger_economic_number_field
    columns = vtiger_account_columns(
        described_field_map(settings, known), number_field if number_field in known else ""
    )
    return _changed_since(ACCOUNTS_MODULE, since, columns)


def _changed_since(module: str, since: str | None, columns: Sequence[str] = ("*",)) -> str:
    statement = vtql_select(module, columns)
    if since is not None:
        statement += f" where modifiedtime >= {vtql_quote(since)}"
    return statement


def _report(progress: Progress | None, done: int, total: int | None) -> None:
    if progress is not None:
        progress(done, total)


async def _stored_watermark(conn: asyncpg.Connection, key: str) -> str | None:
    value = await watermark(conn, key)
    if value is None:
        return None
    if not _VTIGER_TIME.fullmatch(value):
        log.warning("ignoring watermark %s=%r (not a vTiger time): reading everything", key, value)
        return None
    return str(value)


async def _advance_watermark(conn: asyncpg.Connection, key: str, value: str | None) -> None:
    if value is not None:
        await advance_watermark(conn, key, value)


async def _audit(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    event_type: str,
    entity_id: str,
    outcome: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    message: str,
    remote_log_id: str | None = None,
) -> None:
    await record(conn, AuditRecord(
        event_type=event_type, entity_type="sync", entity_id=entity_id, system=SYSTEM, outcome=outcome,
        before=before, after=after, message=message, remote_log_id=remote_log_id,
    ))


async def _audit_failure(
    db: Database, event_type: str, entity_id: str, previous: str | None, read: int, error: BaseException
) -> None:
    message = str(error) if isinstance(error, ConnectorError) else f"{type(error).__name__}: {error}"
    try:
        await _audit(
            db.pool,
            event_type=event_type,
            entity_id=entity_id,
            outcome="failed",
            before={"watermark": previous},
            after={"read": read, "written": 0},
            message=message,
            remote_log_id=getattr(error, "log_id", None),
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as audit_error:
        log.warning("could not record the failed %s in the audit log: %s", event_type, audit_error)


@asynccontextmanager
async def _import_run(db: Database, event_type: str, entity_id: str, watermark_key: str,
                      summary: CustomerImportSummary | TimelogImportSummary
                      ) -> AsyncIterator[tuple[asyncpg.Connection, str | None]]:
    """One import: a transaction holding the import's lock, the stored watermark to read from, and an audit
    event either way (written with the data when it commits, on its own when the import fails)."""
    previous: str | None = None
    try:
        async with db.pool.acquire() as conn, conn.transaction():
            await lock_import(conn, watermark_key)
            previous = await _stored_watermark(conn, watermark_key)
            yield conn, previous
            await _audit(conn, event_type=event_type, entity_id=entity_id, outcome="ok",
                         before={"watermark": previous}, after=summary.counts(), message=summary.line())
    except Exception as error:
        await _audit_failure(db, event_type, entity_id, previous, summary.read, error)
        raise


async def import_customers(
    db: Database,
    settings: Settings,
    vtiger: VtigerClient,
    progress: Progress | None = None,
    full: bool = False,
) -> CustomerImportSummary:
    """vTiger Accounts changed since the last run into the hub (see the module docstring).

    `progress(done, total)` is called after every page with `total=None` (vTiger does not say how many
    will come), and once at the end with `total == done`. Connector errors propagate as the typed
    `ConnectorError`s, with nothing written.
    """
    summary = CustomerImportSummary(full=full)
    async with _import_run(db, "import_customers", "vtiger.accounts", ACCOUNTS_WATERMARK, summary) as (conn, previous):
        newest = previous
        known = await ids_by_vtiger_id(conn)  # read once per run, kept up to date by each page
        _report(progress, 0, None)
        statement = await accounts_statement(vtiger, settings, None if full else previous)
        # A first import reads every account: a whole first round of pages costs at most a few requests
        # if there turn out to be fewer. An incremental one usually finds a handful.
        async for page in vtiger.query_pages(statement, bulk=full or previous is None):
            newest = _newest(newest, await _store_accounts(conn, settings, page, summary, known))
            _report(progress, summary.read, None)
        await _advance_watermark(conn, ACCOUNTS_WATERMARK, newest)
        summary.watermark = newest
    _report(progress, summary.read, summary.read)
    return summary


async def _store_accounts(
    conn: asyncpg.Connection, settings: Settings, page: Sequence[Mapping[str, Any]],
    summary: CustomerImportSummary, known: dict[str, int],
) -> str | None:
    """Write one page of accounts; return the newest `modifiedtime` in it. `known` (hub customer id by
    vTiger id) is kept up to date with the customers created here."""
    summary.read += len(page)
    accounts: dict[str, Mapping[str, Any]] = {}
    for account in page:
        vtiger_id = str(account.get("id") or "").strip()
        if vtiger_id:
            accounts[vtiger_id] = account  # offset paging can repeat a row: the last copy wins
        else:
            summary.skipped.append(ImportProblem("?", "an account without an id"))
    # The same order in every process, so concurrent runs take row locks in the same order.
    ids = sorted(accounts, key=_record_order)
    newest: str | None = None
    for vtiger_id in ids:
        newest = _newest(newest, _modified(accounts[vtiger_id]))
    linked = {vtiger_id: known[vtiger_id] for vtiger_id in ids if vtiger_id in known}
    summary.already_in_hub += len(linked)

    candidates: list[NewCustomer] = []
    number_field = settings.vtiger_economic_number_field
    for vtiger_id in ids:
        if vtiger_id in linked:
            continue  # never overwritten: differences are for a person to resolve
        account = accounts[vtiger_id]
        values = hub_values_from_vtiger(dict(account), settings)
        name = values.pop("name", None)
        if not name:
            summary.skipped.append(ImportProblem(vtiger_id, "the account has no name"))
            continue
        number, problem = parse_economic_number(account.get(number_field)) if number_field else (None, None)
        if problem:
            summary.warnings.append(ImportProblem(
                vtiger_id, f"'{name}': e-conomic number {problem} (field {number_field}, setting "
                           "VTIGER_ECONOMIC_NUMBER_FIELD); imported without one"))
        candidates.append(NewCustomer(name=name, **{column: values.get(column) for column in FIELDS[1:]},
                                      vtiger_id=vtiger_id, economic_customer_number=number))

    if candidates:
        created = await insert_linked_customers(conn, candidates)
        summary.created += len(created)
        linked.update(created)
        known.update(created)
        refused = [c for c in candidates if c.vtiger_id not in created]
        if refused:
            # Only without the advisory lock (another code path) could a concurrent run have taken them.
            racing = await ids_by_vtiger_id(conn, [c.vtiger_id or "" for c in refused])
            summary.already_in_hub += len(racing)
            linked.update(racing)
            known.update(racing)
            conflicting = [c for c in refused if c.vtiger_id not in racing]
            if conflicting:
                await _explain_refused(conn, conflicting, summary, number_field)

    await save_snapshots(conn, SYSTEM, [
        RemoteRecord(vtiger_id, linked.get(vtiger_id), without_nul(dict(accounts[vtiger_id])),
                     str(accounts[vtiger_id].get("modifiedtime") or "") or None)
        for vtiger_id in ids
    ])
    return newest


async def _explain_refused(
    conn: asyncpg.Connection, refused: Sequence[NewCustomer], summary: CustomerImportSummary,
    number_field: str,
) -> None:
    """New accounts the insert left out: their e-conomic number already belongs to another hub customer."""
    numbers = [c.economic_customer_number for c in refused if c.economic_customer_number is not None]
    holders = await holders_of_economic_numbers(conn, numbers)
    for candidate in refused:
        holder = holders.get(candidate.economic_customer_number or 0)
        if holder is None:
            reason = f"'{candidate.name}' conflicts with an existing hub customer"
        else:
            linked = f", vTiger {holder.vtiger_id}" if holder.vtiger_id else ", not linked to vTiger"
            reason = (
                f"'{candidate.name}': e-conomic number {candidate.economic_customer_number} ({number_field}) "
                f"already belongs to hub customer #{holder.id} '{holder.name}'{linked} — link or correct them "
                "by hand, then run `hubtui sync customers --full`"
            )
        summary.skipped.append(ImportProblem(candidate.vtiger_id or "?", reason))


async def import_timelogs(
    db: Database,
    settings: Settings,
    vtiger: VtigerClient,
    progress: Progress | None = None,
    full: bool = False,
) -> TimelogImportSummary:
    """vTiger Timelogs changed since the last run into the hub as pending time entries.

    The configured Timelogs fields are checked against `describe` first: a missing one raises the
    connector's `ConfigurationError` naming the field and its setting, before anything is read.
    Entries already in the hub (by remote id) are left exactly as they are, decided or not.
    """
    summary = TimelogImportSummary(full=full)
    async with _import_run(db, "import_timelogs", "vtiger.timelogs", TIMELOGS_WATERMARK, summary) as (conn, previous):
        fields = await vtiger.check_timelog_fields()
        newest = previous
        hold: _Hold = _Hold()
        customers = await ids_by_vtiger_id(conn)
        _report(progress, 0, None)
        statement = _changed_since(settings.vtiger_timelog_module, None if full else previous)
        names: dict[str, str] = {}
        async for page in vtiger.query_pages(statement):
            await _learn_names(vtiger, fields, page, names)
            stored = await _store_timelogs(conn, fields, page, summary, hold, customers, names)
            newest = _newest(newest, stored)
            _report(progress, summary.read, None)
        watermark = hold.limit(newest, previous)
        await _advance_watermark(conn, TIMELOGS_WATERMARK, watermark)
        summary.watermark = _newest(previous, watermark)
    _report(progress, summary.read, summary.read)
    return summary


@dataclass(slots=True)
class _Hold:
    """The earliest `modifiedtime` of a timelog skipped only because its customer is not in the hub yet."""

    earliest: str | None = None
    untimed: bool = False  # such a timelog had no usable modifiedtime: do not advance at all

    def add(self, modified: str | None) -> None:
        if modified is None:
            self.untimed = True
        elif self.earliest is None or modified < self.earliest:
            self.earliest = modified

    def limit(self, newest: str | None, previous: str | None) -> str | None:
        if self.untimed:
            return previous
        if self.earliest is not None and (newest is None or self.earliest < newest):
            return self.earliest
        return newest


def _field_text(row: Mapping[str, Any], fields: Mapping[str, str], what: str) -> str:
    name = fields.get(what)
    raw = row.get(name) if name else None
    return "" if raw is None else str(raw).strip()


def _named(names: Mapping[str, str], record_id: str) -> str | None:
    return names.get(record_id, record_id) if record_id else None


async def _learn_names(vtiger: VtigerClient, fields: Mapping[str, str], page: Sequence[Mapping[str, Any]],
                       names: dict[str, str]) -> None:
    """Contact and case names for the wizard ("Jens Hansen (4x2280)"), read once per id.

    Timelogs only hold record ids; a support person recognises names. A record that cannot be read keeps
    its id: the entry is imported all the same."""
    wanted = {_field_text(row, fields, what) for row in page for what in ("contact_id", "case_id")}
    missing = sorted(record_id for record_id in wanted if record_id and record_id not in names)

    async def learn(record_id: str) -> None:
        try:
            record = await vtiger.retrieve(record_id)
        except ConnectorError as error:
            log.warning("cannot read the name of %s: %s", record_id, error)
            names[record_id] = record_id
            return
        person = " ".join(str(record.get(key) or "").strip() for key in ("firstname", "lastname")).strip()
        number = str(record.get("ticket_no") or record.get("case_no") or "").strip()
        title = str(record.get("ticket_title") or record.get("title") or "").strip()
        label = person or " ".join(part for part in (number, title) if part)
        names[record_id] = f"{label} ({record_id})" if label else record_id

    await asyncio.gather(*(learn(record_id) for record_id in missing))


async def _store_timelogs(
    conn: asyncpg.Connection, fields: Mapping[str, str], page: Sequence[Mapping[str, Any]],
    summary: TimelogImportSummary, hold: _Hold, customers: Mapping[str, int], names: Mapping[str, str],
) -> str | None:
    """Write one page of timelogs as pending entries; return the newest `modifiedtime` in it.
    `customers` is the hub customer id by vTiger account id."""
    summary.read += len(page)
    timelogs: dict[str, Mapping[str, Any]] = {}
    for row in page:
        remote_id = str(row.get("id") or "").strip()
        if remote_id:
            timelogs[remote_id] = row
        else:
            summary.skipped.append(ImportProblem("?", "a timelog without an id"))
    ids = sorted(timelogs, key=_record_order)

    newest: str | None = None
    entries: list[ImportedTimelog] = []
    for remote_id in ids:
        row = timelogs[remote_id]
        modified = _modified(row)
        newest = _newest(newest, modified)
        account = _field_text(row, fields, "account_id")
        customer_id = customers.get(account)
        minutes, duration_problem = parse_minutes(_field_text(row, fields, "duration"))
        work_date, date_problem = parse_work_date(_field_text(row, fields, "date"))
        if not account:
            reason = f"not linked to an account (field {fields.get('account_id', '?')})"
        elif customer_id is None:
            reason = f"no hub customer for {account} — run `hubtui sync customers` first"
            hold.add(modified)
        else:
            reason = duration_problem or date_problem or ""
        if reason or minutes is None or work_date is None or customer_id is None:
            summary.skipped.append(ImportProblem(remote_id, reason))
            continue
        billable_text = _field_text(row, fields, "billable")
        entries.append(ImportedTimelog(
            remote_id,
            customer_id,
            _named(names, _field_text(row, fields, "contact_id")),
            work_date,
            minutes,
            truthy(billable_text) if "billable" in fields else True,
            _field_text(row, fields, "description"),
            _named(names, _field_text(row, fields, "case_id")),
        ))

    created = await insert_pending_entries(conn, entries)
    summary.created += created
    summary.already_imported += len(entries) - created
    return newest
