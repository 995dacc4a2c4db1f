"""Alembic, driven from code: `hubtui db upgrade`, and the quick check the app runs on start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' would be read as interpolation by configparser
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def current_revision(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("select to_regclass('alembic_version') is not null"))
            if not exists:
                return None
            return await conn.scalar(text("select version_num from alembic_version"))
    finally:
        await engine.dispose()


async def upgrade_to_head(url: str) -> bool:
    """Bring the schema to the newest migration; return True when anything ran."""
    if await current_revision(url) == head_revision():
        return False
    # Alembic's env.py runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    return True
