"""Schema migrations: `hubtui db upgrade`, and the quick check the app runs on every start.

Alembic is imported only when a migration has to run; the start-up check compares the database's
revision with HEAD_REVISION (a test keeps that constant equal to Alembic's own head).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from hubtui.store.db import driver_dsn

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HEAD_REVISION = "0004"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' would be read as interpolation by configparser
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def current_revision(url: str) -> str | None:
    conn = await asyncpg.connect(driver_dsn(url))
    try:
        if not await conn.fetchval("select to_regclass('alembic_version') is not null"):
            return None
        return await conn.fetchval("select version_num from alembic_version")
    finally:
        await conn.close()


_MIGRATION_LOCK = 7_420_001  # pg_advisory_lock key: one migrating process at a time


async def upgrade_to_head(url: str) -> bool:
    """Bring the schema to the newest migration; return True when anything ran."""
    if await current_revision(url) == HEAD_REVISION:
        return False
    from alembic import command

    # Two hubtui processes starting together on an empty database: the second waits, then finds the
    # schema already current.
    lock = await asyncpg.connect(driver_dsn(url))
    try:
        await lock.execute("select pg_advisory_lock($1)", _MIGRATION_LOCK)
        if await current_revision(url) == HEAD_REVISION:
            return False
        # Alembic's env.py runs its own event loop, so it gets a thread of its own.
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        return True
    finally:
        await lock.close()
