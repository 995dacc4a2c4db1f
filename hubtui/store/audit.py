"""The audit log's table: who did what to which record, before and after, and how it went.

Every write attempt (and every import, export and undo) is one row in `audit_event`. Each function takes the
connection (or pool) to run on, so an event can share a transaction with the change it describes.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

UNDOES = "undoes_event"  # key in an undo event's `after`: the id of the event it undid


def actor() -> str:
    """Who runs this: the OS user, plus the SSH client's address when logged in over SSH."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment nor in the password database
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    return f"{user} via ssh from {ssh[0]}" if ssh else user


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An event to record; the actor is whoever runs this process."""

    event_type: str
    entity_type: str
    entity_id: str | None = None
    customer_id: int | None = None
    system: str | None = None
    outcome: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    message: str | None = None
    remote_log_id: str | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log as the audit screen shows it."""

    id: int
    event_type: str
    entity_type: str
    entity_id: str | None
    customer_id: int | None
    customer_name: str | None
    system: str | None
    outcome: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    message: str | None
    remote_log_id: str | None
    dry_run: bool
    actor: str
    created_at: datetime

    @property
    def field_after(self) -> dict[str, Any]:
        """The field values the event wrote (without an undo's reference to the event it undid)."""
        return {name: value for name, value in (self.after or {}).items() if name != UNDOES}

    @property
    def undoes(self) -> int | None:
        """For an undo event: the id of the event it undid."""
        value = (self.after or {}).get(UNDOES) if self.event_type == "undo" else None
        return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class Settlement:
    """The final outcome of an event written as "unknown"."""

    id: int
    outcome: str
    message: str | None
    remote_log_id: str | None  # None keeps the one recorded before


@dataclass(frozen=True, slots=True)
class UndoMark:
    """An undo event of a field write, as far as deciding whether that write can be undone again needs."""

    id: int
    outcome: str | None
    actor: str
    created_at: datetime


_SELECT = (
    "select e.id, e.event_type, e.entity_type, e.entity_id, e.customer_id, c.name as customer_name, "
    "e.system, e.outcome, e.before, e.after, e.message, e.remote_log_id, e.dry_run, e.actor, e.created_at "
    "from audit_event e left join customer c on c.id = e.customer_id "
)


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(**{**dict(row), "before": _load(row["before"]), "after": _load(row["after"])})


def _load(value: str | None) -> dict[str, Any] | None:
    return None if value is None else json.loads(value)


def _json(value: Mapping[str, Any] | None) -> str | None:
    # default=str: Decimal amounts and dates are kept as their exact text.
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


async def record(conn: Conn, event: AuditRecord) -> int:
    """Write one audit event (on `conn`, so it can join the caller's transaction); return its id."""
    event_id: int = await conn.fetchval(
        "insert into audit_event (event_type, entity_type, entity_id, customer_id, system, outcome, before, "
        "after, message, remote_log_id, dry_run, actor) "
        "values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12) returning id",
        event.event_type, event.entity_type, event.entity_id, event.customer_id, event.system, event.outcome,
        _json(event.before), _json(event.after), event.message, event.remote_log_id, event.dry_run, actor(),
    )
    return event_id


async def record_all(conn: Conn, events: Sequence[AuditRecord]) -> list[int]:
    """Write several events in one round trip, in the given order; return their ids in that order."""
    if not events:
        return []
    columns = list(zip(*(
        (e.event_type, e.entity_type, e.entity_id, e.customer_id, e.system, e.outcome, _json(e.before),
         _json(e.after), e.message, e.remote_log_id, e.dry_run) for e in events
    ), strict=True))
    rows = await conn.fetch(
        "insert into audit_event (event_type, entity_type, entity_id, customer_id, system, outcome, before, "
        "after, message, remote_log_id, dry_run, actor) "
        "select t.a, t.b, t.c, t.d, t.e, t.f, t.g, t.h, t.i, t.j, t.k, $12 "
        "from unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], "
        "$7::jsonb[], $8::jsonb[], $9::text[], $10::text[], $11::bool[]) with ordinality "
        "as t(a, b, c, d, e, f, g, h, i, j, k, n) order by n returning id",
        *columns, actor(),
    )
    # Ids come from one sequence in insertion order, which follows `order by n`.
    return sorted(row["id"] for row in rows)


# Advisory-lock namespace of audit events whose remote write is in flight: the writing session holds the lock
# (key: the event id) until it records the outcome, so nobody settles a write still under way, and a process
# that dies lets go of it with its connection, leaving an "unknown" that the next read settles.
IN_FLIGHT = 0x68756277


async def hold_in_flight(conn: asyncpg.Connection, ids: Sequence[int]) -> None:
    """Lock `ids` for this session until `settle_events(..., release=True)` (or the connection ends)."""
    await conn.execute("select pg_advisory_lock($1, id) from unnest($2::int[]) as id", IN_FLIGHT, list(ids))


async def unknown_writes(conn: Conn, customer_id: int) -> list[AuditEntry]:
    """The customer's remote writes whose outcome is still "unknown", oldest first."""
    rows = await conn.fetch(_SELECT + "where e.customer_id = $1 and e.outcome = 'unknown' order by e.id",
                            customer_id)
    return [_entry(row) for row in rows]


async def claim_unknown(conn: asyncpg.Connection, ids: Sequence[int]) -> set[int]:
    """Of `ids`, the events still "unknown" and not in flight, locked until the caller's transaction ends."""
    rows = await conn.fetch(
        "select id from audit_event where id = any($2::int[]) and outcome = 'unknown' "
        "and pg_try_advisory_xact_lock($1, id)", IN_FLIGHT, list(ids),
    )
    return {row["id"] for row in rows}


async def settle_events(conn: asyncpg.Connection, settlements: Sequence[Settlement], *,
                        release: bool = False) -> None:
    """Record the final outcome of events written as "unknown"; with `release`, let go of their in-flight
    locks (`hold_in_flight`) in the same round trip."""
    if not settlements:
        return
    await conn.execute(
        "with done as (update audit_event e set outcome = v.outcome, message = v.message, "
        "remote_log_id = coalesce(v.log_id, e.remote_log_id), dry_run = v.outcome = 'dry_run' "
        "from unnest($2::int[], $3::text[], $4::text[], $5::text[]) as v(id, outcome, message, log_id) "
        "where e.id = v.id returning e.id) "
        "select pg_advisory_unlock($1, id) from done where $6",
        IN_FLIGHT, [s.id for s in settlements], [s.outcome for s in settlements],
        [s.message for s in settlements], [s.remote_log_id for s in settlements], release,
    )


async def mark_undoing(conn: Conn, ids: Sequence[int], undone_id: int) -> None:
    """Note in the undo events `ids` which event they undid (`after[UNDOES]`)."""
    await conn.execute(
        f"update audit_event set after = coalesce(after, '{{}}'::jsonb) || jsonb_build_object('{UNDOES}', $1::int) "
        "where id = any($2::int[])", undone_id, list(ids),
    )


async def first_undo(conn: Conn, customer_id: int, event_id: int) -> UndoMark | None:
    """The first undo of `event_id` that wrote, or may have written (outcome still unknown)."""
    row = await conn.fetchrow(
        "select id, outcome, actor, created_at from audit_event where customer_id = $1 and event_type = 'undo' "
        f"and outcome in ('written', 'unknown') and after ->> '{UNDOES}' = $2 order by id limit 1",
        customer_id, str(event_id),
    )
    return None if row is None else UndoMark(*row)


async def recent_events(
    conn: Conn,
    *,
    customer_id: int | None = None,
    system: str | None = None,
    outcome: str | None = None,
    text: str | None = None,
    limit: int = 500,
) -> list[AuditEntry]:
    """Newest first, optionally only one customer's, one system's or one outcome's, or those whose customer
    name or event type contains `text`."""
    rows = await conn.fetch(
        _SELECT + "where ($1::int is null or e.customer_id = $1) and ($2::text is null or e.system = $2) "
        "and ($3::text is null or e.outcome = $3) "
        "and ($4::text is null or c.name ilike '%' || $4 || '%' or e.event_type ilike '%' || $4 || '%') "
        "order by e.created_at desc, e.id desc limit $5",
        customer_id, system, outcome, text, limit,
    )
    return [_entry(row) for row in rows]


async def get_event(conn: Conn, event_id: int) -> AuditEntry | None:
    row = await conn.fetchrow(_SELECT + "where e.id = $1", event_id)
    return None if row is None else _entry(row)
