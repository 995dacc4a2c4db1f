"""Shared fixtures: a real Postgres (the embedded pgserver) with a throwaway database per test session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hubtui_process import SETTING_NAMES

from hubtui.config import Settings, user_config_file
from hubtui.store.customer_list import ALL_TABLES
from hubtui.store.db import Database, drop_database, embedded_url, ensure_database
from hubtui.store.migrate import upgrade_to_head

# Outside pytest's per-run tmp dirs so the cluster (initdb ~2 s) is reused between runs.
TEST_PGDATA = Path(tempfile.gettempdir()) / "hubtui-test-pgdata"

# A developer's own ~/.config/hubtui/.env must never reach a test, in this process or in the hubtui processes
# it starts (they inherit os.environ): the user config file lives in an empty directory for the session.
ISOLATED_CONFIG_HOME = Path(tempfile.mkdtemp(prefix="hubtui-test-config-"))
os.environ["XDG_CONFIG_HOME"] = str(ISOLATED_CONFIG_HOME)
assert user_config_file().is_relative_to(ISOLATED_CONFIG_HOME), "the user config file is not isolated"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(ISOLATED_CONFIG_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
async def admin_url() -> AsyncIterator[str]:
    yield await embedded_url(TEST_PGDATA, "postgres")


@pytest.fixture(scope="session")
async def database_url(admin_url: str) -> AsyncIterator[str]:
    name = f"hubtui_test_{os.getpid()}"
    await drop_database(admin_url, name)
    await ensure_database(admin_url, name)
    url = admin_url.replace("/postgres?", f"/{name}?", 1)
    await upgrade_to_head(url)
    yield url
    await drop_database(admin_url, name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An empty hub database for one test."""
    database = await Database.connect(database_url)
    await database.pool.execute(f"truncate {ALL_TABLES} restart identity cascade")
    yield database
    await database.close()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a fresh install has them: defaults only, no .env, data under tmp."""
    for name in list(os.environ):
        if name.upper() in SETTING_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return Settings(hubtui_data_dir=tmp_path / "data")
