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
from hubtui.sandbox.faults import EconomicFaults, VtigerFaults
from hubtui.sandbox.remote_data import MISSING_FROM_ECONOMIC_INDEX, RemoteData, build_remote_data
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.demo import DEFAULT_DEMO_CUSTOMERS, replace_all_customers
from hubtui.store.db import Database

COMPANIES = 40  # for the runs without --demo
SYSTEMS = ("hub", "vtiger", "economic")
CLEAN_ID = 1  # company index 0: nothing planted
VTIGER_ADDRESS_ID = 8  # company index 7: another street in vTiger
ECONOMIC_CITY_ID = 10  # company index 9: another city in e-conomic
MISSING_FROM_ECONOMIC_ID = MISSING_FROM_ECONOMIC_INDEX + 1

_VALUE = {"type": ["string", "null"]}
CHECK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["customers", "summary"],
    "properties": {
        "customers": {"type": "array", "items": {
            "type": "object",
            "required": ["hub_id", "name", "discrepancy_count", "discrepancies", "systems_available",
                         "compared"],
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
                "compared": {"type": "boolean"},
            },
        }},
        "summary": {
            "type": "object",
            "required": ["checked", "compared", "kept", "with_discrepancies", "discrepancies", "seconds",
                         "incomplete"],
            "properties": {"checked": {"type": "integer"}, "compared": {"type": "integer"},
                           "kept": {"type": "integer"}, "with_discrepancies": {"type": "integer"},
                           "discrepancies": {"type": "integer"}, "seconds": {"type": "number"},
                           "incomplete": {"type": "object", "additionalProperties": False, "properties": {
                               system: {"type": "string", "minLength": 1} for system in ("vtiger", "economic")}}},
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


def planted_in(data: RemoteData, system: str) -> dict[int, set[str]]:
    """Hub id → fields with a planted real difference in `system`."""
    index = {company.vtiger_id: n + 1 for n, company in enumerate(data.companies)}
    found: dict[int, set[str]] = {}
    for plant in data.planted:
        if plant.kind == "real" and plant.system == system and plant.field and plant.vtiger_id in index:
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
        assert customer["compared"] is True  # e-conomic was read; this customer is just not in it

    assert customers[VTIGER_ADDRESS_ID]["discrepancies"] == {"address": {
        "hub": "Lærkevej 179", "vtiger": "Lærkevej 186", "economic": "Lærkevej 179",
        "suggested": "hub", "reason": "2 of 3 agree"}}
    summary = document["summary"]
    assert summary["checked"] == summary["compared"] == DEFAULT_DEMO_CUSTOMERS
    assert summary["kept"] == 0 and summary["incomplete"] == {}
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
SEEDED = 5  # a stored count no check of these companies gives


async def seed_counts(db: Database) -> None:
    """Every customer as checked a day ago, with SEEDED discrepancies."""
    await db.pool.execute("update customer set discrepancy_count = $1, checked_at = now() - interval '1 day'",
                          SEEDED)


async def stored_counts(db: Database) -> dict[int, tuple[int | None, bool]]:
    """Hub id → (stored count, whether it was stored in the last hour)."""
    rows = await db.pool.fetch("select id, discrepancy_count, checked_at > now() - interval '1 hour' as fresh "
                               "from customer")
    return {row["id"]: (row["discrepancy_count"], bool(row["fresh"])) for row in rows}


@pytest.fixture
def sandbox_faults(remotes: RunningSandbox) -> Iterator[None]:
    """The module's sandboxes serve every test: faults a test sets are cleared after it."""
    yield
    remotes.vtiger.faults = VtigerFaults()
    remotes.economic.faults = EconomicFaults()


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


async def test_check_with_one_system_down_exits_2_and_keeps_the_counts_of_its_customers(
    check: Check, db: Database, remotes: RunningSandbox
) -> None:
    await seed_counts(db)
    # Two customers not linked to vTiger: they are compared in full (hub and e-conomic) without it.
    await db.pool.execute("update customer set vtiger_id = null where id = any($1::int[])",
                          [CLEAN_ID, ECONOMIC_CITY_ID])

    run = await check("--json", vtiger_url=closed_port_url())

    assert run.code == 2, run.stderr
    document = check_document(run)
    assert len(document["customers"]) == COMPANIES
    summary = document["summary"]
    assert summary["systems_available"] == {"hub": True, "vtiger": False, "economic": True}
    assert list(summary["unavailable"]) == list(summary["incomplete"]) == ["vtiger"]
    assert summary["unavailable"]["vtiger"].startswith("vTiger: ")
    message = summary["incomplete"]["vtiger"]
    assert message.startswith("vTiger: cannot reach the server for GET /query page 1 (offset 0)")
    assert message.endswith(f"the check is incomplete: no counts were changed for the {COMPANIES - 2} customers "
                            "in vTiger — run it again")
    assert (summary["compared"], summary["kept"]) == (2, COMPANIES - 2)
    assert run.stderr.splitlines() == [f"hubtui: {message}"]
    for customer in document["customers"]:
        assert customer["systems_available"]["vtiger"] is False
        assert customer["compared"] is (customer["hub_id"] in (CLEAN_ID, ECONOMIC_CITY_ID))
        for discrepancy in customer["discrepancies"].values():
            assert discrepancy["vtiger"] is None and discrepancy["suggested"] != "vtiger"
    # Exactly e-conomic's planted differences show; vTiger's cannot be seen.
    planted = {(hub_id, field) for hub_id, fields in planted_in(remotes.data, "economic").items()
               for field in fields}
    found = {(c["hub_id"], field) for c in document["customers"] for field in c["discrepancies"]}
    assert found == planted and planted
    # Only the two compared in full got a new count; everyone linked to vTiger kept the seeded one.
    assert await stored_counts(db) == {
        customer_id: ((1, True) if customer_id == ECONOMIC_CITY_ID else (0, True))
        if customer_id in (CLEAN_ID, ECONOMIC_CITY_ID) else (SEEDED, False)
        for customer_id in range(1, COMPANIES + 1)
    }


async def test_check_retries_a_malformed_economic_page_and_is_complete(
    check: Check, db: Database, remotes: RunningSandbox, sandbox_faults: None
) -> None:
    await seed_counts(db)
    remotes.economic.reset_log()
    remotes.economic.faults.malformed_next = 1  # one page at a time: it hits page 1, and only once

    run = await check("--json", http_max_retries=1, economic_max_concurrency=1)

    assert run.code == 1, run.stderr
    assert remotes.economic.request_count == 2  # page 1, then page 1 again
    summary = check_document(run)["summary"]
    assert summary["incomplete"] == {} and (summary["compared"], summary["kept"]) == (COMPANIES, 0)
    expected = real_differences(remotes.data)
    assert await stored_counts(db) == {
        customer_id: (len(expected.get(customer_id, ())), True) for customer_id in range(1, COMPANIES + 1)}


async def test_check_with_an_economic_page_malformed_every_time_exits_2_and_keeps_its_customers_counts(
    check: Check, db: Database, remotes: RunningSandbox, sandbox_faults: None
) -> None:
    await seed_counts(db)
    # Two customers not linked to e-conomic: the check compares them in full without it.
    await db.pool.execute("update customer set economic_customer_number = null where id = any($1::int[])",
                          [CLEAN_ID, VTIGER_ADDRESS_ID])
    remotes.economic.faults.malformed_next = 2  # the first try and the one retry

    run = await check("--json", http_max_retries=1, economic_max_concurrency=1)

    assert run.code == 2, run.stderr
    document = check_document(run)
    assert list(document["summary"]["incomplete"]) == ["economic"]
    message = document["summary"]["incomplete"]["economic"]
    assert message.startswith("e-conomic: GET /customers page 1 (skippages=0) answered HTTP 200 with something "
                              "that is not JSON")
    assert message.endswith("(sent 2 times); the check is incomplete: no counts were changed for the "
                            f"{COMPANIES - 2} customers in e-conomic — run it again")
    assert run.stderr.splitlines() == [f"hubtui: {message}"]
    assert {c["hub_id"] for c in document["customers"] if c["compared"]} == {CLEAN_ID, VTIGER_ADDRESS_ID}
    assert await stored_counts(db) == {
        customer_id: ((1, True) if customer_id == VTIGER_ADDRESS_ID else (0, True))
        if customer_id in (CLEAN_ID, VTIGER_ADDRESS_ID) else (SEEDED, False)
        for customer_id in range(1, COMPANIES + 1)
    }


async def test_check_with_a_vtiger_query_page_malformed_every_time_exits_2_and_says_so_in_text(
    check: Check, db: Database, remotes: RunningSandbox, sandbox_faults: None
) -> None:
    await seed_counts(db)
    await db.pool.execute("update customer set vtiger_id = null where id = $1", ECONOMIC_CITY_ID)
    faults = remotes.vtiger.faults
    faults.fault_path, faults.malformed_next = "/query", 2  # describe answers; the query page never does

    run = await check(http_max_retries=1, vtiger_max_concurrency=1)

    assert run.code == 2, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("hubtui: vTiger: GET /query page 1 (offset 0) answered HTTP 200 with something that "
                           "is not JSON")
    assert line.endswith(f"(sent 2 times); the check is incomplete: no counts were changed for the "
                         f"{COMPANIES - 1} customers in vTiger — run it again")
    summary_line = run.stdout.splitlines()[-1]
    assert summary_line.startswith(f"checked {COMPANIES} customers in ")
    assert f"; {COMPANIES - 1} not compared with every system kept their stored count" in summary_line
    counts = await stored_counts(db)
    assert counts.pop(ECONOMIC_CITY_ID) == (1, True)  # e-conomic's other city, the only system it is in
    assert set(counts.values()) == {(SEEDED, False)}


async def test_check_of_one_customer_with_a_system_down_exits_2_and_keeps_its_count(
    check: Check, db: Database
) -> None:
    await seed_counts(db)

    run = await check("--json", "--customer", str(VTIGER_ADDRESS_ID), economic_api_url=closed_port_url())

    assert run.code == 2, run.stderr
    document = check_document(run)
    (customer,) = document["customers"]
    assert customer["hub_id"] == VTIGER_ADDRESS_ID and customer["compared"] is False
    assert customer["discrepancy_count"] == 1  # vTiger's street, as far as it could be compared
    assert document["summary"]["incomplete"]["economic"].endswith(
        "no counts were changed for the 1 customers in e-conomic — run it again")
    assert (await stored_counts(db))[VTIGER_ADDRESS_ID] == (SEEDED, False)


async def test_check_as_a_process_names_the_malformed_page_and_keeps_the_counts(
    db: Database, database_url: str, remotes: RunningSandbox, sandbox_faults: None, tmp_path: Path
) -> None:
    await seed_counts(db)
    faults = remotes.economic.faults
    faults.fault_path, faults.malformed_next = "/customers", 100  # every page, every time

    run = await run_hubtui("check", env=remote_environment(database_url, remotes, tmp_path), cwd=tmp_path)

    assert run.code == 2
    (line,) = run.stderr.splitlines()
    assert line.startswith("hubtui: e-conomic: GET /customers page 1 (skippages=0) answered HTTP 200 with "
                           "something that is not JSON")
    assert line.endswith(f"no counts were changed for the {COMPANIES} customers in e-conomic — run it again")
    assert "Traceback" not in run.stderr + run.stdout
    assert set((await stored_counts(db)).values()) == {(SEEDED, False)}
    log = (tmp_path / "data" / "hubtui.log").read_text()
    assert "fleet check incomplete: e-conomic: GET /customers page 1 (skippages=0)" in log


async def test_check_that_could_not_run_leaves_the_stored_counts_alone(check: Check, db: Database) -> None:
    await db.pool.execute("update customer set discrepancy_count = 1, checked_at = now() - interval '1 day' "
                          "where id = $1", VTIGER_ADDRESS_ID)

    run = await check("--json", vtiger_url=closed_port_url(), economic_api_url=closed_port_url())

    assert run.code == 2
    row = await db.pool.fetchrow("select discrepancy_count, checked_at < now() - interval '1 hour' as old "
                                 "from customer where id = $1", VTIGER_ADDRESS_ID)
    assert (row["discrepancy_count"], row["old"]) == (1, True)
    assert await db.pool.fetchval("select count(*) from customer where checked_at is not null") == 1
