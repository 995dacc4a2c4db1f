"""Where the hub's Postgres lives: the embedded pgserver by default, any server via DATABASE_URL.

The SQLModel tables (store/models.py) define the schema and Alembic migrates it; queries go through one
asyncpg pool, whose plain SQL is faster than an ORM for the bulk paths (the customer list, COPY, the
fleet check); the typed functions in store/ take its pool or one of its connections. A SQLModel session
is also available (the tests write whole records with it); its SQLAlchemy engine is created on first use,
so starting the app never pays for importing SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import asyncpg

from hubtui.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "hubtui"
# Keeps each process's pgserver handle alive: pgserver stops the server when the last handle goes.
_embedded_servers: dict[Path, object] = {}


class DatabaseError(Exception):
    """The database could not be reached or prepared; the message says which and why."""


def driver_dsn(url: str) -> str:
    """The SQLAlchemy URL (`postgresql+asyncpg://…`) as a plain libpq DSN for asyncpg."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _start_embedded_blocking(pgdata: Path) -> str:
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (common over SSH); pgserver copes without it.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # only needed when no DATABASE_URL is set

    pgdata.mkdir(parents=True, exist_ok=True)
    # 'stop': pgserver counts the processes using this data directory and the last one to exit stops
    # the server, so two hubtui sessions share one server safely.
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    _embedded_servers[pgdata] = server
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgresql+asyncpg://postgres@/{{database}}?host={quote(str(socket_dir))}"


async def embedded_url(pgdata: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded server and make sure `database` exists; return its URL."""
    try:
        template = await asyncio.to_thread(_start_embedded_blocking, pgdata)
    except Exception as error:  # pgserver raises bare CalledProcessError/AssertionError
        raise DatabaseError(f"could not start the embedded Postgres in {pgdata}: {error}") from error
    await ensure_database(template.format(database="postgres"), database)
    return template.format(database=database)


async def ensure_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(driver_dsn(admin_url))
    try:
        if not await conn.fetchval("select 1 from pg_database where datname = $1", database):
            await conn.execute(f'create database "{database}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # another hubtui process created it a moment ago
    finally:
        await conn.close()


async def drop_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(driver_dsn(admin_url))
    try:
        await conn.execute(f'drop database if exists "{database}" with (force)')
    finally:
        await conn.close()


async def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    # Started somewhere the team's settings were not found, this line says which database opened instead.
    log.info("DATABASE_URL is unset: using the embedded Postgres in %s", settings.pgdata_dir)
    return await embedded_url(settings.pgdata_dir)


class Database:
    """The hub database for the whole process."""

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self.pool = pool
        self._engine: AsyncEngine | None = None

    @classmethod
    async def connect(cls, url: str) -> Database:
        return cls(url, await asyncpg.create_pool(driver_dsn(url), min_size=1, max_size=5))

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            from sqlalchemy.ext.asyncio import create_async_engine

            self._engine = create_async_engine(self.url, pool_size=5, max_overflow=5, pool_pre_ping=True)
        return self._engine

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    async def close(self) -> None:
        await self.pool.close()
        if self._engine is not None:
            await self._engine.dispose()


# What asyncpg raises when a server cannot be reached, refuses us, or the URL is unusable.
CONNECT_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
                  asyncpg.ClientConfigurationError, ValueError)


async def open_database(settings: Settings, *, upgrade: bool = True) -> Database:
    from hubtui.store.migrate import upgrade_to_head

    url = await database_url(settings)
    try:
        if upgrade:
            await upgrade_to_head(url)
        return await Database.connect(url)
    except CONNECT_ERRORS as error:
        # The message names the server, never the password (asyncpg does not echo the DSN).
        raise DatabaseError(f"cannot open the database ({_where(settings)}): {error}") from error


def _where(settings: Settings) -> str:
    if settings.database_url is None:
        return f"embedded, in {settings.pgdata_dir}"
    from urllib.parse import urlsplit

    parts = urlsplit(settings.database_url.get_secret_value())
    return f"DATABASE_URL host {parts.hostname or 'local socket'}, database {parts.path.lstrip('/') or '?'}"
