"""The last values read from each remote record (`remote_snapshot`), so a system that is down can still be
shown, greyed, with when it was read.

Each function takes the connection (or pool) to run on, so a service can put several in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """A remote record as it was just read."""

    remote_id: str
    customer_id: int | None  # the hub customer linked to it, if any
    values: Mapping[str, Any]  # as the remote system names its fields
    remote_modified: str | None  # the system's own change marker (modifiedtime / lastUpdated)


@dataclass(frozen=True, slots=True)
class Snapshot:
    values: dict[str, Any]
    read_at: datetime


async def save_snapshots(conn: Conn, system: str, records: Sequence[RemoteRecord]) -> None:
    """Keep these records as `system`'s last values read, replacing what was kept of them before."""
    if not records:
        return
    await conn.execute(
        "insert into remote_snapshot (system, remote_id, customer_id, values, remote_modified, read_at) "
        "select $1, t.remote_id, t.customer_id, t.values::jsonb, t.remote_modified, now() "
        "from unnest($2::text[], $3::int[], $4::text[], $5::text[]) "
        "as t(remote_id, customer_id, values, remote_modified) "
        "on conflict (system, remote_id) do update set customer_id = excluded.customer_id, "
        "values = excluded.values, remote_modified = excluded.remote_modified, read_at = excluded.read_at",
        system,
        [r.remote_id for r in records],
        [r.customer_id for r in records],
        # default=str: dates and amounts are kept as their text.
        [json.dumps(r.values, ensure_ascii=False, default=str) for r in records],
        [r.remote_modified for r in records],
    )


async def last_snapshot(conn: Conn, system: str, remote_id: str) -> Snapshot | None:
    row = await conn.fetchrow(
        "select values, read_at from remote_snapshot where system = $1 and remote_id = $2", system, remote_id,
    )
    return None if row is None else Snapshot(json.loads(row["values"]), row["read_at"])
