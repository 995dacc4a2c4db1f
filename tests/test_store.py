"""The hub store on a real Postgres: migrations from nothing, a faithful round trip, bulk load, demo seed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from hubtui.config import Settings
from hubtui.core.customer_index import Column
from hubtui.sandbox.demo_data import DemoCompany, demo_companies
from hubtui.services.demo import DEFAULT_DEMO_CUSTOMERS, demo_settings, replace_all_customers, seed_demo
from hubtui.store.customer_list import load_customer_index
from hubtui.store.customers import (
    count_customers,
    get_customer,
    last_checked,
    store_discrepancy_counts,
    write_fields,
)
from hubtui.store.db import Database, drop_database, ensure_database
from hubtui.store.migrate import HEAD_REVISION, alembic_head, current_revision, upgrade_to_head
from hubtui.store.models import Customer
from hubtui.store.status import hub_facts

HUB_TABLES = {
    "customer", "remote_snapshot", "time_entry", "billing_order", "order_line", "audit_event", "sync_state",
}
MONEY_COLUMNS = [
    ("customer", "hourly_rate"),
    ("billing_order", "total_amount"),
    ("order_line", "unit_price"),
    ("order_line", "amount"),
    ("order_line", "quantity"),
    ("time_entry", "billable_hours"),
]
DANISH = re.compile("[æøåÆØÅ]")


@pytest.fixture
async def empty_url(admin_url: str) -> AsyncIterator[str]:
    """A database that exists and holds nothing at all: not even alembic_version."""
    name = f"hubtui_empty_{os.getpid()}"
    await drop_database(admin_url, name)
    await ensure_database(admin_url, name)
    yield admin_url.replace("/postgres?", f"/{name}?", 1)
    await drop_database(admin_url, name)


async def table_names(db: Database) -> set[str]:
    rows = await db.pool.fetch(
        "select table_name from information_schema.tables where table_schema = 'public'"
    )
    return {row[0] for row in rows}


# --- migrations -------------------------------------------------------------------------------------


async def test_migrations_create_every_table_on_an_empty_database(empty_url: str) -> None:
    assert await current_revision(empty_url) is None
    assert await upgrade_to_head(empty_url) is True
    db = await Database.connect(empty_url)
    try:
        assert await table_names(db) == HUB_TABLES | {"alembic_version"}
        assert await current_revision(empty_url) == alembic_head()
        customer_columns = {
            row[0] for row in await db.pool.fetch(
                "select column_name from information_schema.columns where table_name = 'customer'"
            )
        }
        assert {
            "name", "cvr_number", "address", "city", "postal_code", "country", "phone", "mobile_phone",
            "email", "website", "invoice_email", "vtiger_id", "economic_customer_number", "hourly_rate",
            "created_at", "updated_at",
        } <= customer_columns
        audit = {
            row[0]: row[1] for row in await db.pool.fetch(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'audit_event'"
            )
        }
        assert audit["before"] == audit["after"] == "jsonb"
        assert audit["dry_run"] == "boolean"
        assert {"event_type", "entity_type", "actor", "created_at"} <= audit.keys()
    finally:
        await db.close()
    # The app upgrades on every start: the second time there is nothing to do.
    assert await upgrade_to_head(empty_url) is False
    assert await current_revision(empty_url) == alembic_head()


def test_cli_db_upgrade_migrates_the_configured_database(empty_url: str, tmp_path: Path) -> None:
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update({"DATABASE_URL": empty_url, "HUBTUI_DATA_DIR": str(tmp_path / "data")})

    def upgrade() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hubtui", "db", "upgrade"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    first = upgrade()
    assert first.returncode == 0, first.stderr
    assert "upgraded" in first.stdout and HEAD_REVISION in first.stdout
    second = upgrade()
    assert second.returncode == 0, second.stderr
    assert "already" in second.stdout
    assert not (tmp_path / "data" / "pgdata").exists()  # DATABASE_URL set: no embedded server


def test_head_revision_constant_is_alembics_head() -> None:
    assert alembic_head() == HEAD_REVISION


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    """No model change without a migration: Alembic's autogenerate finds nothing to add or drop."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = await Database.connect(database_url)
    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
    finally:
        await db.close()
    # Functional indexes cannot be compared by Alembic; everything else must agree.
    diff = [d for d in diff if not (isinstance(d, tuple) and d[0] in {"add_index", "remove_index"}
                                    and "lower" in str(d[1].expressions))]
    assert diff == []


async def test_money_columns_are_numeric(db: Database) -> None:
    rows = await db.pool.fetch(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'public'"
    )
    types = {(row[0], row[1]): row[2] for row in rows}
    for column in MONEY_COLUMNS:
        assert types[column] == "numeric", column
    floats = [column for column, kind in types.items() if kind in {"real", "double precision"}]
    assert floats == []


# --- one customer -----------------------------------------------------------------------------------


async def test_customer_round_trip_keeps_danish_text_and_exact_money(db: Database) -> None:
    original = Customer(
        name="Ærø Øster Bølge & Sønner ApS",
        cvr_number="12345678",
        address="Åboulevarden 7, 2. tv.",
        city="København Ø",
        postal_code="2100",
        country="Danmark",
        phone="+45 33 12 34 56",
        mobile_phone="20 30 40 50",
        email="kontakt@aeroe-boelge.dk",
        website="www.ærøbølge.dk",
        invoice_email="faktura@aeroe-boelge.dk",
        vtiger_id="3x4711",
        economic_customer_number=10_042,
        hourly_rate=Decimal("925.50"),
    )
    async with db.session() as session:
        session.add(original)
        await session.commit()
        customer_id = original.id
    assert customer_id is not None

    loaded = await get_customer(db.pool, customer_id)
    assert loaded is not None
    for field in ("name", "cvr_number", "address", "city", "postal_code", "country", "phone",
                  "mobile_phone", "email", "website", "invoice_email", "vtiger_id",
                  "economic_customer_number"):
        assert getattr(loaded, field) == getattr(original, field), field
    assert isinstance(loaded.hourly_rate, Decimal)
    assert loaded.hourly_rate == Decimal("925.50")
    assert str(loaded.hourly_rate) == "925.50"
    assert loaded.discrepancy_count is None  # not checked yet
    assert isinstance(loaded.created_at, datetime) and loaded.created_at.tzinfo is not None
    # And the raw value in Postgres is the exact decimal, not a float approximation.
    raw = await db.pool.fetchval("select hourly_rate::text from customer where id = $1", customer_id)
    assert raw == "925.50"


async def test_missing_customer_is_none(db: Database) -> None:
    assert await get_customer(db.pool, 999_999) is None


# --- bulk load and the list index -------------------------------------------------------------------


async def test_replace_all_customers_and_load_the_index(db: Database) -> None:
    companies = demo_companies(500)
    await replace_all_customers(db, companies)
    assert await count_customers(db.pool) == 500

    index = await load_customer_index(db.pool)
    assert len(index) == 500
    by_name = {index.cells(p)[Column.NAME]: index.cells(p) for p in range(len(index))}
    assert set(by_name) == {c.name for c in companies}
    for company in companies:
        cells = by_name[company.name]
        assert cells[Column.CVR] == (company.cvr_number or "")
        assert cells[Column.CITY] == (company.city or "")
        assert cells[Column.VTIGER_ID] == company.vtiger_id
        assert cells[Column.ECONOMIC_NUMBER] == str(company.economic_customer_number)
        assert cells[Column.DISCREPANCIES] == ""  # blank until checked
    # The ids in the index are the hub's ids: each opens the right customer.
    some = sorted(range(len(index)), key=lambda p: index.ids[p])[::97]
    for position in some:
        customer = await get_customer(db.pool, index.ids[position])
        assert customer is not None and customer.name == index.cells(position)[Column.NAME]
    # Money survives the COPY path exactly too.
    rates = {c.name: c.hourly_rate for c in companies}
    rows = await db.pool.fetch("select name, hourly_rate from customer")
    assert all(row[1] == rates[row[0]] for row in rows)
    assert any(isinstance(row[1], Decimal) for row in rows)


async def test_replace_all_customers_replaces(db: Database) -> None:
    await replace_all_customers(db, demo_companies(300))
    fewer = demo_companies(20, seed=7)
    await replace_all_customers(db, fewer)
    index = await load_customer_index(db.pool)
    assert sorted(index.cells(p)[Column.NAME] for p in range(len(index))) == sorted(c.name for c in fewer)


async def test_index_shows_discrepancy_counts_once_checked(db: Database) -> None:
    await replace_all_customers(db, demo_companies(10))
    await db.pool.execute("update customer set discrepancy_count = 3 where id = 1")
    await db.pool.execute("update customer set discrepancy_count = 0 where id = 2")
    index = await load_customer_index(db.pool)
    shown = {index.ids[p]: index.cells(p)[Column.DISCREPANCIES] for p in range(len(index))}
    assert shown[1] == "3" and shown[2] == "0" and shown[3] == ""


async def test_index_keeps_awkward_text_intact(db: Database) -> None:
    """Separators, markup and control bytes in a name come back exactly, in the right column."""
    base = demo_companies(1)[0]
    odd = [
        replace(base, name="Tab\there \x1f unit-sep ApS", vtiger_id="3x1", economic_customer_number=1),
        replace(base, name="[bold red]x[/", vtiger_id="3x2", economic_customer_number=2, city="Århus"),
    ]
    await replace_all_customers(db, odd)
    index = await load_customer_index(db.pool)
    cells = {index.cells(p)[Column.VTIGER_ID]: index.cells(p) for p in range(len(index))}
    assert cells["3x2"][Column.NAME] == "[bold red]x[/"
    assert cells["3x2"][Column.CITY] == "Århus"
    assert cells["3x1"][Column.NAME].startswith("Tab\there")
    assert cells["3x1"][Column.CVR] == base.cvr_number  # the separator did not shift the columns


# --- the demo ---------------------------------------------------------------------------------------


async def names_in_hub(db: Database) -> list[str]:
    return [row[0] for row in await db.pool.fetch("select name from customer order by id")]


async def test_seed_demo_seeds_200_by_default(db: Database) -> None:
    assert await seed_demo(db) == DEFAULT_DEMO_CUSTOMERS == 200
    assert await names_in_hub(db) == [c.name for c in demo_companies(200)]


async def test_seed_demo_keeps_existing_data(db: Database) -> None:
    await seed_demo(db)
    await db.pool.execute("update customer set name = 'Ændret af support ApS' where id = 1")
    assert await seed_demo(db) == 200
    assert await seed_demo(db, customers=200) == 200
    assert (await names_in_hub(db))[0] == "Ændret af support ApS"


async def test_seed_demo_reseeds_on_reset(db: Database) -> None:
    await seed_demo(db)
    await db.pool.execute("update customer set name = 'Ændret af support ApS' where id = 1")
    assert await seed_demo(db, reset=True) == 200
    assert await names_in_hub(db) == [c.name for c in demo_companies(200)]


async def test_seed_demo_reseeds_for_a_different_count(db: Database) -> None:
    await seed_demo(db)
    assert await seed_demo(db, customers=300) == 300
    assert await count_customers(db.pool) == 300
    assert await names_in_hub(db) == [c.name for c in demo_companies(300)]
    assert await seed_demo(db) == 300  # no count asked: what is there stays


def test_demo_settings_never_touch_a_real_database(settings: Settings) -> None:
    real = settings.model_copy(update={"database_url": "postgresql+asyncpg://hub:pw@prod.example.dk/hub"})
    demo = demo_settings(real)
    assert demo.database_url is None
    assert demo.hubtui_data_dir == settings.hubtui_data_dir / "demo"
    assert demo.pgdata_dir != settings.pgdata_dir


def test_demo_companies_are_deterministic_danish_and_varied() -> None:
    companies = demo_companies()
    assert len(companies) >= 200
    assert companies == demo_companies()  # same every time: stable screenshots
    assert companies != demo_companies(seed=1)
    assert all(isinstance(c, DemoCompany) for c in companies)

    assert sum(bool(DANISH.search(c.name)) for c in companies) >= 20
    assert any(DANISH.search(c.city or "") for c in companies)
    assert any(DANISH.search(c.address or "") for c in companies)
    cvrs = [c.cvr_number for c in companies if c.cvr_number]
    assert cvrs and all(re.fullmatch(r"[1-9]\d{7}", cvr) for cvr in cvrs)
    assert all(re.fullmatch(r"\d{4}", c.postal_code or "") for c in companies if c.postal_code)

    for field in ("cvr_number", "email", "website", "mobile_phone", "hourly_rate"):
        assert any(getattr(c, field) is None for c in companies), f"no company lacks {field}"
    assert sum(c.cvr_number is not None for c in companies) > 150  # most are complete

    assert len({c.name for c in companies}) == len(companies)
    assert len({c.vtiger_id for c in companies}) == len(companies)
    assert len({c.economic_customer_number for c in companies}) == len(companies)
    rates = {c.hourly_rate for c in companies if c.hourly_rate is not None}
    assert rates and all(isinstance(rate, Decimal) for rate in rates)


# --- store functions the services' tests do not reach ----------------------------------------------


async def test_last_checked_is_none_until_counts_are_stored_and_only_those_customers_change(db: Database) -> None:
    await replace_all_customers(db, demo_companies(5))
    assert await last_checked(db.pool) is None  # the list says "never"
    before = datetime.now(UTC)
    await store_discrepancy_counts(db.pool, {2: 4, 3: 0})
    checked = await last_checked(db.pool)
    assert checked is not None and abs(checked - before) < timedelta(minutes=1)
    rows = await db.pool.fetch("select id, discrepancy_count, checked_at is not null from customer order by id")
    assert [tuple(row) for row in rows] == [(1, None, False), (2, 4, True), (3, 0, True), (4, None, False),
                                            (5, None, False)]


async def test_a_field_write_names_only_hub_fields(db: Database) -> None:
    """The names become SQL: anything but the hub's own customer fields is refused before any statement."""
    await replace_all_customers(db, demo_companies(1))
    with pytest.raises(ValueError, match="not hub customer fields"):
        await write_fields(db.pool, 1, {"city": "Odense", "hourly_rate = 0, name": "x"},
                           {"city": None, "hourly_rate = 0, name": None})
    customer = await get_customer(db.pool, 1)
    assert customer is not None and customer.city == demo_companies(1)[0].city


async def test_hub_facts_name_the_server_and_count_the_customers(db: Database) -> None:
    await replace_all_customers(db, demo_companies(7))
    facts = await hub_facts(db.pool)
    assert facts.server_version.startswith("16") and facts.customers == 7
