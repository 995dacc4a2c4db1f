"""The audit log: who did what to which record, before and after, and how it went.

Every write attempt (and every import, export and undo) is one row in `audit_event`. Rows are written
through the raw driver so they can share a transaction with the change they describe.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from hubtui.store.db import Database

FIELD_WRITES = frozenset({"field_sync", "undo"})  # the events that write customer fields, and can be undone
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


_SELECT = (
    "select e.id, e.event_type, e.entity_type, e.entity_id, e.customer_id, c.name as customer_name, "
    "e.system, e.outcome, e.before, e.after, e.message, e.remote_log_id, e.dry_run, e.actor, e.created_at "
    "from audit_event e left join customer c on c.id = e.customer_id "
)


def _row(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(**{**dict(row), "before": _load(row["before"]), "after": _load(row["after"])})


def _json(value: Mapping[str, Any] | None) -> str | None:
    # default=str: Decimal amounts and dates are kept as their exact text.
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


async def record(conn: asyncpg.Connection | asyncpg.Pool, event: AuditRecord) -> int:
    """Write one audit event (on `conn`, so it can join the caller's transaction); return its id."""
    return await conn.fetchval(
        "insert into audit_event (event_type, entity_type, entity_id, customer_id, system, outcome, before, "
        "after, message, remote_log_id, dry_run, actor) "
        "values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12) returning id",
        event.event_type, event.entity_type, event.entity_id, event.customer_id, event.system, event.outcome,
        _json(event.before), _json(event.after), event.message, event.remote_log_id, event.dry_run, actor(),
    )


async def record_all(conn: asyncpg.Connection | asyncpg.Pool, events: list[AuditRecord]) -> list[int]:
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


async def hold_in_flight(conn: asyncpg.Connection, ids: list[int]) -> None:
    """Lock `ids` for this session until `settle_events(..., release=True)` (or the connection ends)."""
    await conn.execute("select pg_advisory_lock($1, id) from unnest($2::int[]) as id", IN_FLIGHT, ids)


async def unknown_writes(conn: asyncpg.Connection | asyncpg.Pool, customer_id: int) -> list[AuditEntry]:
    """The customer's remote writes whose outcome is still "unknown", oldest first."""
    rows = await conn.fetch(_SELECT + "where e.customer_id = $1 and e.outcome = 'unknown' order by e.id",
                            customer_id)
    return [_row(row) for row in rows]


async def claim_unknown(conn: asyncpg.Connection, ids: list[int]) -> set[int]:
    """Of `ids`, the events still "unknown" and not in flight, locked until the caller's transaction ends."""
    rows = await conn.fetch(
        "select id from audit_event where id = any($2::int[]) and outcome = 'unknown' "
        "and pg_try_advisory_xact_lock($1, id)", IN_FLIGHT, ids,
    )
    return {row["id"] for row in rows}


async def settle_events(conn: asyncpg.Connection, outcomes: list[tuple[int, str, str | None, str | None]],
                        *, release: bool = False) -> None:
    """Record the final (id, outcome, message, remote log id) of events written as "unknown"; with `release`,
    let go of their in-flight locks (`hold_in_flight`) in the same round trip."""
    if not outcomes:
        return
    ids, words, messages, log_ids = (list(column) for column in zip(*outcomes, strict=True))
    await conn.execute(
        "with done as (update audit_event e set outcome = v.outcome, message = v.message, "
        "remote_log_id = coalesce(v.log_id, e.remote_log_id), dry_run = v.outcome = 'dry_run' "
        "from unnest($2::int[], $3::text[], $4::text[], $5::text[]) as v(id, outcome, message, log_id) "
        "where e.id = v.id returning e.id) "
        "select pg_advisory_unlock($1, id) from done where $6",
        IN_FLIGHT, ids, words, messages, log_ids, release,
    )


async def recent_events(
    db: Database,
    *,
    customer_id: int | None = None,
    system: str | None = None,
    outcome: str | None = None,
    text: str | None = None,
    limit: int = 500,
) -> list[AuditEntry]:
    """Newest first, optionally only one customer's, one system's or one outcome's."""
    rows = await db.pool.fetch(
        _SELECT + "where ($1::int is null or e.customer_id = $1) and ($2::text is null or e.system = $2) "
        "and ($3::text is null or e.outcome = $3) "
        "and ($4::text is null or c.name ilike '%' || $4 || '%' or e.event_type ilike '%' || $4 || '%') "
        "order by e.created_at desc, e.id desc limit $5",
        customer_id, system, outcome, text, limit,
    )
    return [_row(row) for row in rows]


async def get_event(db: Database, event_id: int) -> AuditEntry | None:
    row = await db.pool.fetchrow(
        _SELECT + "where e.id = $1",
        event_id,
    )
    return None if row is None else _row(row)


def _load(value: str | None) -> dict[str, Any] | None:
    return None if value is None else json.loads(value)


_NOT_WRITTEN = {
    "blocked": "it was BLOCKED (read-only)",
    "disabled": "sync to that system was disabled",
    "failed": "it FAILED",
    "changed": "the record had changed since it was read, so nothing was sent",
    "unknown": "whether it landed is not known yet; open the customer so hubtui reads it back and settles it, "
               "then try again",
}


async def undo_refusal(db: Database, event: AuditEntry) -> str | None:
    """Why `event` cannot be undone, or None when it can: only a field write that really wrote (not a dry
    run, not blocked or failed) and that no undo has undone yet. The one place this rule lives."""
    if event.event_type not in FIELD_WRITES:
        return f"event {event.id} is {event.event_type}, not a field write: only field writes can be undone"
    if event.customer_id is None or event.system is None or not event.before:
        return f"event {event.id} holds no values to write back"
    if event.dry_run or event.outcome == "dry_run":
        return "nothing was written: it was a DRY-RUN"
    if event.outcome != "written":  # a settled "unknown" is "written" (confirmed by re-read)
        return "nothing was written: " + _NOT_WRITTEN.get(event.outcome or "", f"it was {event.outcome}")
    undo = await db.pool.fetchrow(
        "select id, outcome, actor, created_at from audit_event where customer_id = $1 and event_type = 'undo' "
        f"and outcome in ('written', 'unknown') and after ->> '{UNDOES}' = $2 order by id limit 1",
        event.customer_id, str(event.id),
    )
    if undo is None:
        return None
    when = undo["created_at"].astimezone()
    at = f"{when:%H:%M}" if when.date() == datetime.now(when.tzinfo).date() else f"{when:%Y-%m-%d %H:%M}"
    if undo["outcome"] == "unknown":
        return (f"undo event {undo['id']} at {at} may already have undone it (its result is not known yet); "
                "open the customer so hubtui reads it back, then look again")
    return f"already undone by event {undo['id']} at {at} ({undo['actor']})"
