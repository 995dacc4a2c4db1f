"""Where the hub's Postgres lives: the embedded pgserver by default, any server via DATABASE_URL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hubtui.config import Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "hubtui"
_embedded_servers: dict[Path, object] = {}


class DatabaseError(Exception):
    """The database could not be reached or prepared; the message says which and why."""


def _start_embedded_blocking(pgdata: Path) -> str:
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (common over SSH); pgserver copes without it.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # heavy import, only needed when no DATABASE_URL is set

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
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("select 1 from pg_database where datname = :d"), {"d": database})
            if not exists:
                await conn.execute(text(f'create database "{database}"'))
    finally:
        await engine.dispose()


async def drop_database(admin_url: str, database: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'drop database if exists "{database}" with (force)'))
    finally:
        await engine.dispose()


async def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return await embedded_url(settings.pgdata_dir)


def make_engine(url: str) -> AsyncEngine:
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


class Database:
    """One engine and session factory for the whole process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()


async def open_database(settings: Settings, *, upgrade: bool = True) -> Database:
    from hubtui.store.migrate import upgrade_to_head

    url = await database_url(settings)
    if upgrade:
        await upgrade_to_head(url)
    return Database(make_engine(url))
