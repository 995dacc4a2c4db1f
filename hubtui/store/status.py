"""What the Systems screen says about the hub's own database."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class HubFacts:
    server_version: str  # PostgreSQL's own, e.g. "16.4"
    customers: int


async def hub_facts(conn: Conn) -> HubFacts:
    row = await conn.fetchrow("select current_setting('server_version'), (select count(*) from customer)")
    return HubFacts(row[0], int(row[1]))
