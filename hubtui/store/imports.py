"""What the vTiger imports keep besides customers and snapshots: their watermarks (`sync_state`), the lock
that lets one run of a kind go at a time, and the pending time entries a Timelogs import creates.

Each function takes the connection to run on: an import run is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


async def lock_import(conn: asyncpg.Connection, key: str) -> None:
    """Wait until no other run of this import kind holds the lock, then hold it until the transaction ends
    (commit or rollback, whatever happens to the process)."""
    await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"hubtui.import:{key}")


async def watermark(conn: Conn, key: str) -> str | None:
    """Where the next incremental run of an import starts, as stored; None before the first run."""
    value: str | None = await conn.fetchval("select value from sync_state where key = $1", key)
    return value


async def advance_watermark(conn: Conn, key: str, value: str) -> None:
    """Store `value` unless the stored one is already later: a full re-import, or a slower concurrent run,
    never moves a watermark back."""
    await conn.execute(
        "insert into sync_state (key, value, updated_at) values ($1, $2, now()) "
        "on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at "
        "where sync_state.value < excluded.value",
        key,
        value,
    )


@dataclass(frozen=True, slots=True)
class ImportedTimelog:
    """A vTiger Timelog to add to the hub as a pending time entry."""

    remote_id: str
    customer_id: int
    contact: str | None
    work_date: date
    duration_minutes: int
    billable: bool
    description: str
    related_case: str | None


async def insert_pending_entries(conn: Conn, timelogs: Sequence[ImportedTimelog]) -> int:
    """Add the timelogs as pending time entries in one statement; one already in the hub (by remote id) is
    left exactly as it is. Return how many were added."""
    if not timelogs:
        return 0
    rows = await conn.fetch(
        "insert into time_entry (remote_id, customer_id, contact, work_date, duration_minutes, billable, "
        "description, related_case, status) "
        "select t.*, 'pending' from unnest($1::text[], $2::int[], $3::text[], $4::date[], $5::int[], "
        "$6::bool[], $7::text[], $8::text[]) as t "
        "on conflict (remote_id) do nothing returning remote_id",
        [t.remote_id for t in timelogs], [t.customer_id for t in timelogs], [t.contact for t in timelogs],
        [t.work_date for t in timelogs], [t.duration_minutes for t in timelogs], [t.billable for t in timelogs],
        [t.description for t in timelogs], [t.related_case for t in timelogs],
    )
    return len(rows)


async def any_time_entries(conn: Conn) -> bool:
    """Whether the hub holds any time entry at all (imported or not, decided or not)."""
    return bool(await conn.fetchval("select exists(select 1 from time_entry)"))
