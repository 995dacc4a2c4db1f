"""`hubtui check` as cron runs it: JSON on stdout, the exit code saying what was found (0 none, 1 found,
2 could not run).

`python -m hubtui --demo check --json` runs as a real subprocess from scratch (embedded Postgres, seeded
demo hub, sandboxes). `--demo` points both remote systems at its own sandboxes, so the cases that need
other remotes (a closed port) run without `--demo` against the test database: as subprocesses for the
exit-2 paths, in process (`run_check` with settings the test builds) for the rest, which is faster.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hubtui_process import Run, clean_environment, run_hubtui

from hubtui.cli import build_parser
from hubtui.config import Settings
from hubtui.sandbox.demo_data import demo_companies
from hubtui.sandbox.remote_data import MISSING_FROM_ECONOMIC_INDEX, RemoteData, build_remote_data
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.demo import DEFAULT_DEMO_CUSTOMERS
from hubtui.store.customer_list import replace_all_customers
from hubtui.store.db import Database

COMPANIES = 40  # for the runs without --demo
SYSTEMS = ("hub", "vtiger", "economic")
CLEAN_ID = 1  # company index 0: nothing planted
VTIGER_ADDRESS_ID = 8  # company index 7: another street in vTiger
MISSING_FROM_ECONOMIC_ID = MISSING_FROM_ECONOMIC_INDEX + 1

_VALUE = {"type": ["string", "null"]}
CHECK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["customers", "summary"],
    "properties": {
        "customers": {"type": "array", "items": {
            "type": "object",
            "required": ["hub_id", "name", "discrepancy_count", "discrepancies", "systems_available"],
            "additionalProperties": False,
            "properties": {
                "hub_id": {"type": "integer"},
                "name": {"type": "string"},
                "discrepancy_count": {"type": "integer", "minimum": 0},
                "discrepancies": {"type": "object", "additionalProperties": {
                    "type": "object",
                    "required": ["hub", "vtiger", "economic", "suggested", "reason"],
                    "additionalProperties": False,
                    "properties": {"hub": _VALUE, "vtiger": _VALUE, "economic": _VALUE,
                                   "suggested": {"enum": [*SYSTEMS, None]},
                                   "reason": {"type": "string", "minLength": 1}},
                }},
                "systems_available": {
                    "type": "object", "required": list(SYSTEMS), "additionalProperties": False,
                    "properties": {system: {"type": "boolean"} for system in SYSTEMS},
                },
            },
        }},
        "summary": {
            "type": "object",
            "required": ["checked", "with_discrepancies", "discrepancies", "seconds"],
            "properties": {"checked": {"type": "integer"}, "with_discrepancies": {"type": "integer"},
                           "discrepancies": {"type": "integer"}, "seconds": {"type": "number"}},
        },
    },
}


def check_document(run: Run) -> dict[str, Any]:
    """The JSON `hubtui check --json` printed, checked against its schema."""
    document: dict[str, Any] = run.json()
    jsonschema.validate(document, CHECK_SCHEMA)
    return document


def real_differences(data: RemoteData) -> dict[int, set[str]]:
    """Hub id → fields with a planted real difference (hub id = company index + 1)."""
    index = {company.vtiger_id: n + 1 for n, company in enumerate(data.companies)}
    found: dict[int, set[str]] = {}
    for plant in data.planted:
        if plant.kind == "real" and plant.field and plant.vtiger_id in index:
            found.setdefault(index[plant.vtiger_id], set()).add(plant.field)
    return found


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------------------------- --demo, for real

@pytest.fixture(scope="module")
async def demo_run() -> AsyncIterator[Run]:
    """`hubtui --demo check --json` from scratch: its own data directory, embedded Postgres and sandboxes.

    The data directory is a fresh temporary one, but outside pytest's basetemp: pgserver runs Postgres
    as its own user, which must traverse the path, and pytest makes `pytest-of-<user>` private again
    whenever any pytest session starts."""
    with tempfile.TemporaryDirectory(prefix="hubtui-check-demo-", ignore_cleanup_errors=True) as home:
        env = clean_environment(HUBTUI_DATA_DIR=str(Path(home) / "data"))
        yield await run_hubtui("--demo", "check", "--json", env=env, cwd=Path(home))


def test_demo_check_json_lists_every_customer_with_the_planted_differences(demo_run: Run) -> None:
    assert demo_run.code == 1, demo_run.stderr
    document = check_document(demo_run)
    customers = {c["hub_id"]: c for c in document["customers"]}
    assert len(customers) == len(document["customers"]) == DEFAULT_DEMO_CUSTOMERS

    data = build_remote_data(DEFAULT_DEMO_CUSTOMERS)
    expected = real_differences(data)
    for hub_id, customer in customers.items():
        assert customer["name"] == data.companies[hub_id - 1].name
        assert set(customer["discrepancies"]) == expected.get(hub_id, set()), hub_id
        assert customer["discrepancy_count"] == len(customer["discrepancies"])
        assert customer["systems_available"] == {
            "hub": True, "vtiger": True, "economic": hub_id != MISSING_FROM_ECONOMIC_ID}

    assert customers[VTIGER_ADDRESS_ID]["discrepancies"] == {"address": {
        "hub": "Lærkevej 179", "vtiger": "Lærkevej 186", "economic": "Lærkevej 179",
        "suggested": "hub", "reason": "2 of 3 agree"}}
    summary = document["summary"]
    assert summary["checked"] == DEFAULT_DEMO_CUSTOMERS
    assert summary["with_discrepancies"] == len(expected) == sum(
        1 for c in customers.values() if c["discrepancy_count"])
    assert summary["discrepancies"] == sum(len(fields) for fields in expected.values())
    assert 0 <= summary["seconds"] < 30


# ------------------------------------------------------------------ without --demo: the test's own remotes

@pytest.fixture(scope="module")
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = await Database.connect(database_url)
    yield opened
    await opened.close()


@pytest.fixture(scope="module")
async def remotes() -> AsyncIterator[RunningSandbox]:
    """Sandboxes for COMPANIES demo companies; `check` only reads them, so one serves the module."""
    async with serve_sandboxes(SandboxOptions(companies=COMPANIES)) as running:
        yield running


def remote_environment(database_url: str, remotes: RunningSandbox, home: Path, **urls: str) -> dict[str, str]:
    return clean_environment(DATABASE_URL=database_url, HUBTUI_DATA_DIR=str(home / "data"),
                             HTTP_MAX_RETRIES="0", **{**remotes.env(), **urls})


@pytest.fixture(scope="module")
async def exit_2_runs(database: Database, database_url: str, remotes: RunningSandbox,
                      tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The two ways `check` cannot run, as cron sees them: separate processes, side by side."""
    home = tmp_path_factory.mktemp("check")
    await replace_all_customers(database, demo_companies(COMPANIES))
    up = remote_environment(database_url, remotes, home)
    down = remote_environment(database_url, remotes, home, VTIGER_URL=closed_port_url(),
                              ECONOMIC_API_URL=closed_port_url())
    unknown, unreachable = await asyncio.gather(
        run_hubtui("check", "--json", "--customer", "99999", env=up, cwd=home),
        run_hubtui("check", "--json", env=down, cwd=home),
    )
    return {"unknown": unknown, "unreachable": unreachable}


def test_check_of_an_unknown_customer_exits_2_with_one_line(exit_2_runs: dict[str, Run]) -> None:
    run = exit_2_runs["unknown"]
    assert run.code == 2
    assert run.stdout == ""
    assert run.stderr.splitlines() == ["hubtui: no hub customer with id 99999"]


def test_check_exits_2_when_neither_remote_system_can_be_reached(exit_2_runs: dict[str, Run]) -> None:
    run = exit_2_runs["unreachable"]
    assert run.code == 2
    assert run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith("hubtui: check could not reach vTiger nor e-conomic: vTiger: ")
    assert "; e-conomic: " in line


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """`run_check` sets up hubtui's log file on the root logger, as the command should: undo it after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "pgserver")}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, named_level in levels.items():
        logging.getLogger(name).setLevel(named_level)


Check = Any


@pytest.fixture
async def db(database: Database) -> Database:
    """The test database with the demo companies, every other table empty; one pool for the module."""
    await replace_all_customers(database, demo_companies(COMPANIES))
    return database


@pytest.fixture
async def check(db: Database, database_url: str, remotes: RunningSandbox, settings: Settings,
                tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_logging: None) -> Check:
    """`hubtui check ARGS` in this process, with settings the test controls (`settings` keeps the
    environment and any .env out); returns the exit code and what was printed."""

    async def run(*args: str, **overrides: str) -> Run:
        env = {name.lower(): value for name, value in remotes.env().items()}
        config = Settings(**{**env, "database_url": database_url, "hubtui_data_dir": tmp_path / "data",
                             "http_max_retries": 0, **overrides})
        parsed = build_parser().parse_args(["check", *args])
        parsed.demo = False
        code = await parsed.command(parsed, config)
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


async def test_check_customer_limits_the_check(check: Check, db: Database) -> None:
    run = await check("--json", "--customer", str(VTIGER_ADDRESS_ID), "--customer", str(CLEAN_ID))
    assert run.code == 1, run.stderr
    document = check_document(run)
    assert [c["hub_id"] for c in document["customers"]] == [CLEAN_ID, VTIGER_ADDRESS_ID]
    assert [c["discrepancy_count"] for c in document["customers"]] == [0, 1]
    assert document["summary"]["checked"] == 2 and document["summary"]["with_discrepancies"] == 1
    stored = await db.pool.fetch("select id, discrepancy_count from customer where checked_at is not null "
                                 "order by id")
    assert [tuple(row) for row in stored] == [(CLEAN_ID, 0), (VTIGER_ADDRESS_ID, 1)]


async def test_check_exits_0_when_nothing_differs(check: Check) -> None:
    run = await check("--json", "--customer", str(CLEAN_ID))
    assert run.code == 0, run.stderr
    document = check_document(run)
    (customer,) = document["customers"]
    assert customer["hub_id"] == CLEAN_ID and customer["name"] == demo_companies(1)[0].name
    assert customer["discrepancies"] == {} and customer["discrepancy_count"] == 0
    assert document["summary"]["with_discrepancies"] == document["summary"]["discrepancies"] == 0


async def test_check_without_json_prints_one_line_per_customer_with_differences(
    check: Check, remotes: RunningSandbox
) -> None:
    run = await check()
    assert run.code == 1, run.stderr
    lines = run.stdout.splitlines()
    expected = real_differences(remotes.data)
    assert len(lines) == len(expected) + 1
    assert f"{VTIGER_ADDRESS_ID:>7}  Dybbøl Køl Holding ApS: 1 (address)" in lines
    assert lines[-1].startswith(f"checked {COMPANIES} customers in ")
    assert lines[-1].endswith(f"{len(expected)} with discrepancies, {sum(map(len, expected.values()))} in all")


async def test_check_with_one_system_down_still_runs_and_says_so(
    check: Check, remotes: RunningSandbox
) -> None:
    run = await check("--json", vtiger_url=closed_port_url())
    assert run.code == 1, run.stderr
    document = check_document(run)
    assert len(document["customers"]) == COMPANIES
    assert document["summary"]["systems_available"] == {"hub": True, "vtiger": False, "economic": True}
    assert list(document["summary"]["unavailable"]) == ["vtiger"]
    assert document["summary"]["unavailable"]["vtiger"].startswith("vTiger: ")
    for customer in document["customers"]:
        assert customer["systems_available"]["vtiger"] is False
        for discrepancy in customer["discrepancies"].values():
            assert discrepancy["vtiger"] is None and discrepancy["suggested"] != "vtiger"
    # Exactly e-conomic's planted differences show; vTiger's cannot be seen.
    data = remotes.data
    index = {company.vtiger_id: n + 1 for n, company in enumerate(data.companies)}
    planted = {(index[p.vtiger_id], p.field) for p in data.planted
               if p.kind == "real" and p.system == "economic" and p.vtiger_id in index}
    found = {(c["hub_id"], field) for c in document["customers"] for field in c["discrepancies"]}
    assert found == planted and planted


async def test_check_that_could_not_run_leaves_the_stored_counts_alone(check: Check, db: Database) -> None:
    await db.pool.execute("update customer set discrepancy_count = 1, checked_at = now() - interval '1 day' "
                          "where id = $1", VTIGER_ADDRESS_ID)

    run = await check("--json", vtiger_url=closed_port_url(), economic_api_url=closed_port_url())

    assert run.code == 2
    row = await db.pool.fetchrow("select discrepancy_count, checked_at < now() - interval '1 hour' as old "
                                 "from customer where id = $1", VTIGER_ADDRESS_ID)
    assert (row["discrepancy_count"], row["old"]) == (1, True)
    assert await db.pool.fetchval("select count(*) from customer where checked_at is not null") == 1
