"""Field writes happen exactly once and are recorded as they happened, whatever becomes of their answer.

The sandboxes lose answers on purpose (`after_apply`: the write is executed, then the client gets a 500,
no answer until it gives up, a cut JSON body or a cut connection), refuse writes (`reject_next`) or fail
them before executing (`error_rate`), each scoped to the write request. Every claim is counted on the
sandbox's write log (`applied`: the service executed it) and its records, and on the audit rows.

Customer CLEAN agrees in all three systems; the tests write a new city (and more) to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from consistency_data import (
    CLEAN,
    COMPANIES,
    ECONOMIC_NAMES,
    FAST_RETRY,
    HUB_COMPANIES,
    LIVE,
    THREE_FIELDS,
    VTIGER_NAMES,
    audit_rows,
    company,
    custom_plan,
)
from holding_proxy import HoldingProxy
from hubtui_process import clean_environment

from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient
from hubtui.connectors.vtiger import VtigerClient
from hubtui.core.plan import FieldChoice, build_plan
from hubtui.sandbox.faults import Faults, LoggedWrite
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.consistency import CONFIRMED, ApplyResult, ConsistencyService, confirmed_by_reread
from hubtui.services.demo import replace_all_customers
from hubtui.store.audit import IN_FLIGHT
from hubtui.store.db import Database

Make = Callable[..., Awaitable[ConsistencyService]]
REMOTE = ("vtiger", "economic")
NAMES = {"vtiger": VTIGER_NAMES, "economic": ECONOMIC_NAMES}
LOST = ("500", "timeout", "malformed", "reset")
# What the client sees of a write whose answer is lost, per after_apply kind (None: no answer at all).
SEEN_STATUS = {"500": 500, "timeout": None, "malformed": 200, "reset": None}


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=COMPANIES)) as running:
        yield running


@pytest.fixture
async def hub(db: Database) -> Database:
    await replace_all_customers(db, HUB_COMPANIES)
    return db


@pytest.fixture
async def make_service(hub: Database, sandbox: RunningSandbox, tmp_path: Path) -> AsyncIterator[Make]:
    """Services on the sandboxes with live flags; HTTP_MAX_RETRIES=1 and millisecond backoff unless told."""
    async with AsyncExitStack() as stack:
        async def make(**overrides: Any) -> ConsistencyService:
            env = {name.lower(): value for name, value in sandbox.env().items()}
            settings = Settings(**{"hubtui_data_dir": tmp_path / "data", "http_max_retries": 1,
                                   "http_timeout_seconds": 5, **LIVE, **env, **overrides})
            vtiger = await stack.enter_async_context(VtigerClient(settings, retry=FAST_RETRY))
            economic = await stack.enter_async_context(EconomicClient(settings, retry=FAST_RETRY))
            return ConsistencyService(hub, settings, vtiger, economic)

        yield make


def faults(sandbox: RunningSandbox, system: str) -> Faults:
    return sandbox.vtiger.faults if system == "vtiger" else sandbox.economic.faults


def aim_at_the_write(sandbox: RunningSandbox, system: str) -> Faults:
    """The system's faults, scoped to its field write (vTiger revise, e-conomic PUT): reads pass untouched."""
    chosen = faults(sandbox, system)
    if system == "vtiger":
        chosen.fault_path = "/revise"
    else:
        chosen.fault_method = "PUT"
    return chosen


def field_writes(sandbox: RunningSandbox, system: str) -> list[LoggedWrite]:
    """Every field write request that reached `system`, applied or not."""
    if system == "vtiger":
        return [w for w in sandbox.vtiger.write_log if w.path.endswith("/revise")]
    return [w for w in sandbox.economic.write_log if w.method == "PUT"]


def stored(sandbox: RunningSandbox, system: str, hub_field: str) -> object:
    target = company(CLEAN)
    if system == "vtiger":
        return sandbox.vtiger.accounts[target.vtiger_id][VTIGER_NAMES[hub_field]]
    return sandbox.economic.customers[target.economic_customer_number][ECONOMIC_NAMES[hub_field]]


def holds(sandbox: RunningSandbox, system: str, values: dict[str, str]) -> bool:
    return all(stored(sandbox, system, name) == value for name, value in values.items())


async def write(service: ConsistencyService, system: str, values: dict[str, str]) -> ApplyResult:
    """Read CLEAN and write `values` to `system` alone."""
    reading = await service.read(CLEAN)
    return await service.apply(reading, custom_plan(reading, values), only=[system])


async def retry(service: ConsistencyService, system: str, values: dict[str, str]) -> ApplyResult:
    """What `r` on the diff does: read again (settling what is unknown), then send only what did not land."""
    reading = await service.read(CLEAN)
    plan = build_plan(reading.comparison, [FieldChoice.custom(name, value) for name, value in values.items()])
    if system not in plan.systems:
        return ApplyResult({}, reading)
    return await service.apply(reading, plan, only=[system])


async def the_event(db: Database, system: str) -> dict[str, Any]:
    (event,) = [e for e in await audit_rows(db) if e["system"] == system]
    return event


# ----------------------------------------------------------------------------------------- lost answers

@pytest.mark.parametrize("kind", LOST)
@pytest.mark.parametrize("system", REMOTE)
async def test_a_write_whose_answer_is_lost_is_confirmed_by_reading_it_back(
    make_service: Make, sandbox: RunningSandbox, hub: Database, system: str, kind: str
) -> None:
    service = await make_service(http_timeout_seconds=1)
    chosen = aim_at_the_write(sandbox, system)
    chosen.after_apply, chosen.after_apply_next = kind, 2  # every attempt (1 + HTTP_MAX_RETRIES) is lost

    result = await write(service, system, THREE_FIELDS)

    outcome = result.results[system]
    assert outcome.outcome == "written", outcome.message
    assert outcome.message.startswith(CONFIRMED) and confirmed_by_reread(outcome.message)
    event = await the_event(hub, system)
    assert (event["outcome"], event["message"], event["id"]) == ("written", outcome.message, outcome.audit_id)
    assert event["after"] == THREE_FIELDS
    assert holds(sandbox, system, THREE_FIELDS)
    assert result.reading is not None
    assert {name: result.reading.comparison.field(name).value(system) for name in THREE_FIELDS} == THREE_FIELDS
    sent = field_writes(sandbox, system)
    assert all(w.applied and w.status == SEEN_STATUS[kind] for w in sent)
    if system == "vtiger":
        # revise is retried (it sets the same values again): 2 applied revises, both the same element.
        assert len(sent) == 2 and sent[0].body == sent[1].body
    elif kind == "malformed":
        # A garbled 200 to a PUT is not sent again: the re-read settles it.
        assert len(sent) == 1
    else:
        # The PUT is repeated with its Idempotency-Key: e-conomic answers the repeat from its cache, so the
        # customer was written once (one cached answer) though two PUTs reached it.
        assert len(sent) == 2 and sent[0].body == sent[1].body
        assert len(sandbox.economic.idempotency) == 1


@pytest.mark.parametrize("system", REMOTE)
async def test_a_lost_answer_retried_into_a_real_one_is_written(
    make_service: Make, sandbox: RunningSandbox, hub: Database, system: str
) -> None:
    service = await make_service()
    chosen = aim_at_the_write(sandbox, system)
    chosen.after_apply, chosen.after_apply_next = "500", 1  # the first answer is lost, the retry's arrives

    result = await write(service, system, {"city": "Nyborg"})

    assert (result.results[system].outcome, result.results[system].message) == ("written", "")
    assert (await the_event(hub, system))["outcome"] == "written"
    assert [(w.applied, w.status) for w in field_writes(sandbox, system)] == [(True, 500), (True, 200)]
    assert stored(sandbox, system, "city") == "Nyborg"


@pytest.mark.parametrize("system", REMOTE)
async def test_a_lost_answer_that_cannot_be_read_back_stays_unknown_until_a_read_settles_it(
    make_service: Make, sandbox: RunningSandbox, hub: Database, system: str
) -> None:
    service = await make_service(http_max_retries=0, http_timeout_seconds=1)
    chosen = aim_at_the_write(sandbox, system)
    chosen.after_apply, chosen.after_apply_next = "timeout", 1

    async def then_reads_fail() -> None:
        # Once the write is executed (its answer is being held back), every read of the system fails.
        for _ in range(1000):
            if any(w.applied for w in field_writes(sandbox, system)):
                break
            await asyncio.sleep(0.005)
        chosen.fault_method, chosen.fault_path, chosen.error_rate = "GET", "", 1.0

    watcher = asyncio.ensure_future(then_reads_fail())
    result = await write(service, system, {"city": "Nyborg"})
    await watcher

    outcome = result.results[system]
    assert outcome.outcome == "unknown"
    record_id = company(CLEAN).vtiger_id if system == "vtiger" else str(company(CLEAN).economic_customer_number)
    title = "vTiger" if system == "vtiger" else "e-conomic"
    # What to check, and what r does.
    assert f"check {title} record {record_id}, City" in outcome.message
    assert "r reads it back and settles this before sending anything" in outcome.message
    event = await the_event(hub, system)
    assert (event["outcome"], event["message"]) == ("unknown", outcome.message)
    assert result.failed_systems == [system]

    chosen.error_rate = 0.0
    settled = await retry(service, system, {"city": "Nyborg"})

    assert settled.results == {}  # nothing sent again: the read showed the write had landed
    (again,) = settled.reading.settled.values() if settled.reading else ()
    assert (again.system, again.outcome, again.audit_id) == (system, "written", event["id"])
    event = await the_event(hub, system)
    assert event["outcome"] == "written" and event["message"].startswith(CONFIRMED)
    assert [w.applied for w in field_writes(sandbox, system)] == [True]  # exactly one write, ever
    assert stored(sandbox, system, "city") == "Nyborg"


# ------------------------------------------------------------------------------------ refused writes

@pytest.mark.parametrize("fault", ["reject", "before"])
@pytest.mark.parametrize("system", REMOTE)
async def test_a_write_that_was_not_applied_is_failed_and_r_writes_it_once(
    make_service: Make, sandbox: RunningSandbox, hub: Database, system: str, fault: str
) -> None:
    service = await make_service()
    chosen = aim_at_the_write(sandbox, system)
    if fault == "reject":
        chosen.reject_next = 1  # answered 400, not executed
    else:
        chosen.error_rate = 1.0  # a 500 before executing, on every attempt: its fate is settled by a re-read

    failed = await write(service, system, {"city": "Nyborg"})

    outcome = failed.results[system]
    assert outcome.outcome == "failed", outcome.message
    if fault == "before":
        assert outcome.message.startswith("not written, as a re-read shows") and "press r" in outcome.message
    assert (await the_event(hub, system))["outcome"] == "failed"
    assert not any(w.applied for w in field_writes(sandbox, system))
    assert stored(sandbox, system, "city") == company(CLEAN).city

    chosen.error_rate = 0.0
    retried = await retry(service, system, {"city": "Nyborg"})

    assert retried.results[system].outcome == "written"
    assert [w.applied for w in field_writes(sandbox, system)].count(True) == 1
    assert stored(sandbox, system, "city") == "Nyborg"
    events = [e for e in await audit_rows(hub) if e["system"] == system]
    assert [e["outcome"] for e in events] == ["failed", "written"]


# ---------------------------------------------------------------------------------- same-second edits

def edit_in_place(sandbox: RunningSandbox, system: str, hub_field: str, value: str) -> None:
    """Someone changes a field within the same second as our read: modifiedtime / lastUpdated stay as read."""
    target = company(CLEAN)
    if system == "vtiger":
        accounts = sandbox.vtiger.accounts
        accounts[target.vtiger_id] = {**accounts[target.vtiger_id], VTIGER_NAMES[hub_field]: value}
    else:
        customers = sandbox.economic.customers
        number = target.economic_customer_number
        customers[number] = {**customers[number], ECONOMIC_NAMES[hub_field]: value}


@pytest.mark.parametrize("system", REMOTE)
async def test_a_same_second_edit_of_a_field_about_to_be_written_is_not_overwritten(
    make_service: Make, sandbox: RunningSandbox, hub: Database, system: str
) -> None:
    service = await make_service()
    reading = await service.read(CLEAN)
    plan = custom_plan(reading, {"city": "Nyborg"})
    edit_in_place(sandbox, system, "city", "Skagen")

    result = await service.apply(reading, plan, only=[system])

    outcome = result.results[system]
    title = "vTiger" if system == "vtiger" else "e-conomic"
    assert (outcome.outcome, outcome.message) == ("changed", f"changed in {title} since you looked: City is now "
                                                             "'Skagen'")
    assert field_writes(sandbox, system) == []
    assert stored(sandbox, system, "city") == "Skagen"
    assert (await the_event(hub, system))["outcome"] == "changed"


@pytest.mark.parametrize("system", REMOTE)
async def test_a_same_second_edit_of_another_field_is_kept(
    make_service: Make, sandbox: RunningSandbox, hub: Database, system: str
) -> None:
    service = await make_service()
    reading = await service.read(CLEAN)
    plan = custom_plan(reading, {"city": "Nyborg"})
    edit_in_place(sandbox, system, "phone", "99 88 77 66")

    result = await service.apply(reading, plan, only=[system])

    assert result.results[system].outcome == "written"
    (sent,) = field_writes(sandbox, system)
    assert sent.applied
    assert (stored(sandbox, system, "city"), stored(sandbox, system, "phone")) == ("Nyborg", "99 88 77 66")


# ---------------------------------------------------------------------------- killed while in flight

APPLY_IN_A_PROCESS = """
import asyncio, sys
from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient
from hubtui.connectors.vtiger import VtigerClient
from hubtui.core.plan import FieldChoice, build_plan
from hubtui.services.consistency import ConsistencyService
from hubtui.store.db import open_database

async def main(customer_id, city):
    settings = Settings()
    db = await open_database(settings, upgrade=False)
    async with VtigerClient(settings) as vtiger, EconomicClient(settings) as economic:
        service = ConsistencyService(db, settings, vtiger, economic)
        reading = await service.read(customer_id)
        plan = build_plan(reading.comparison, [FieldChoice.custom("city", city)])
        await service.apply(reading, plan, only=["vtiger"])

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""


async def test_a_process_killed_while_its_write_is_in_flight_leaves_an_unknown_the_next_read_settles(
    make_service: Make, sandbox: RunningSandbox, hub: Database, database_url: str, tmp_path: Path
) -> None:
    async with HoldingProxy(sandbox.vtiger_url, marker=b"/revise ") as proxy:
        env = clean_environment(**{**sandbox.env(), "VTIGER_URL": proxy.url}, DATABASE_URL=database_url,
                                HUBTUI_DATA_DIR=str(tmp_path / "data"), HTTP_TIMEOUT_SECONDS="60",
                                HTTP_MAX_RETRIES="0")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", APPLY_IN_A_PROCESS, str(CLEAN), "Nyborg", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            held = asyncio.ensure_future(proxy.held.wait())
            exited = asyncio.ensure_future(process.wait())
            await asyncio.wait({held, exited}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            if not held.done():
                _, stderr = await process.communicate() if exited.done() else (b"", b"")
                pytest.fail(f"the write never reached vTiger (exit {process.returncode}): {stderr.decode()}")
            process.send_signal(signal.SIGKILL)  # vTiger wrote it; hubtui never hears so
            await asyncio.wait_for(process.wait(), timeout=10)
        finally:
            held.cancel()
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.gather(held, exited, return_exceptions=True)
    assert process.returncode == -signal.SIGKILL

    # The honest trace: an "unknown" event, and the one revise vTiger applied.
    event = await the_event(hub, "vtiger")
    assert event["outcome"] == "unknown"
    assert [w.applied for w in field_writes(sandbox, "vtiger")] == [True]
    # Postgres lets go of the dead session's lock once it notices the connection is gone.
    for _ in range(500):
        if not await hub.pool.fetchval("select count(*) from pg_locks where locktype = 'advisory' "
                                       "and classid = $1 and objid = $2", IN_FLIGHT, event["id"]):
            break
        await asyncio.sleep(0.01)

    service = await make_service()
    reading = await service.read(CLEAN)

    assert reading.settled[event["id"]].outcome == "written"
    event = await the_event(hub, "vtiger")
    assert event["outcome"] == "written" and event["message"].startswith(CONFIRMED)
    assert [w.applied for w in field_writes(sandbox, "vtiger")] == [True]
    assert stored(sandbox, "vtiger", "city") == "Nyborg"
    # Settled once: the next read finds nothing left to settle.
    assert (await service.read(CLEAN)).settled == {}
