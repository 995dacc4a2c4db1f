"""The three-system diff as a service: the sandbox vTiger and e-conomic over real HTTP, a real Postgres hub.

The hub is seeded from `demo_companies(n)`, the same companies the sandboxes are built from, so the only
differences between the three systems are the ones `RemoteData.planted` lists. Hub customer ids follow the
company index (id = index + 1): see `remote_data.PLANT_CYCLE` for what each index plants.

Every write claim is checked on the sandboxes' own write logs (what reached the server), never only on
what the service says it did.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
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

from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient, customer_put_body
from hubtui.connectors.vtiger import VtigerClient
from hubtui.core.compare import NOT_IN_SYSTEM
from hubtui.core.fields import SYSTEMS
from hubtui.core.plan import FieldChoice, build_plan
from hubtui.sandbox.faults import EconomicFaults, LoggedWrite, VtigerFaults
from hubtui.sandbox.remote_data import MISSING_FROM_ECONOMIC_INDEX, RemoteData, build_remote_data
from hubtui.sandbox.server import (
    SANDBOX_ECONOMIC_APP_SECRET,
    SANDBOX_ECONOMIC_GRANT,
    SANDBOX_VTIGER_ACCESS_KEY,
    SANDBOX_VTIGER_USERNAME,
    RunningSandbox,
    SandboxOptions,
    serve_sandboxes,
)
from hubtui.services.audit import undo_refusal
from hubtui.services.consistency import (
    ApplyResult,
    ConsistencyService,
    CustomerGone,
    UndoRefused,
    check_fleet,
)
from hubtui.services.demo import replace_all_customers
from hubtui.services.rates import HourlyRates
from hubtui.store.audit import AuditRecord, actor, get_event, record
from hubtui.store.db import Database

FLEET_COMPANIES = 300

# Hub id = company index + 1 (COPY keeps the order, `restart identity` starts at 1).
VTIGER_ADDRESS = 8  # index 7: vTiger has another street
ECONOMIC_CITY = 10  # index 9: e-conomic has another city
VTIGER_EMAIL = 11  # index 10: vTiger has another general e-mail (a field e-conomic lacks)
ECONOMIC_PHONE_MISSING = 14  # index 13: e-conomic has no phone
ECONOMIC_INVOICE_EMAIL = 16  # index 15: e-conomic has another invoice e-mail
ECONOMIC_ADDRESS = 19  # index 18: vTiger phone formatted "+45…", e-conomic another street
MISSING_FROM_ECONOMIC = MISSING_FROM_ECONOMIC_INDEX + 1


Make = Callable[..., Awaitable[ConsistencyService]]


# ------------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
async def shared_sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=COMPANIES)) as running:
        yield running


@pytest.fixture
def sandbox(shared_sandbox: RunningSandbox) -> RunningSandbox:
    """The module's sandboxes as they started: records, faults and logs (stopping a server costs 0.2 s)."""
    running, data = shared_sandbox, shared_sandbox.data
    running.vtiger.records["Accounts"] = dict(data.vtiger_accounts)  # writes replace records, never edit
    running.vtiger.faults = VtigerFaults()
    running.vtiger.reset_flood_control()
    running.economic.customers = dict(data.economic_customers)
    running.economic.version += 1  # drops the listing cache
    running.economic.idempotency.clear()
    running.economic.faults = EconomicFaults()
    reset_logs(running)
    return running


@pytest.fixture(scope="module")
async def database(database_url: str) -> AsyncIterator[Database]:
    """One pool for the module; each test empties and seeds the hub itself (see `hub`)."""
    opened = await Database.connect(database_url)
    yield opened
    await opened.close()


@pytest.fixture
async def hub(database: Database) -> Database:
    """The hub with the demo companies, every other table empty (`replace_all_customers` truncates all)."""
    await replace_all_customers(database, HUB_COMPANIES)
    return database


@pytest.fixture
async def make_service(
    hub: Database, sandbox: RunningSandbox, settings: Settings, tmp_path: Path
) -> AsyncIterator[Make]:
    """Services with the given flags, all on the one sandbox; `settings` keeps the environment out."""
    async with AsyncExitStack() as stack:
        yield _maker(hub, sandbox, tmp_path, stack)


def _maker(db: Database, running: RunningSandbox, tmp_path: Path, stack: AsyncExitStack) -> Make:
    async def make(**overrides: Any) -> ConsistencyService:
        env = {name.lower(): value for name, value in running.env().items()}
        values: dict[str, Any] = {"hubtui_data_dir": tmp_path / "data", "http_max_retries": 2,
                                  **env, **overrides}
        settings = Settings(**values)
        vtiger = await stack.enter_async_context(VtigerClient(settings, retry=FAST_RETRY))
        economic = await stack.enter_async_context(EconomicClient(settings, retry=FAST_RETRY))
        return ConsistencyService(db, settings, vtiger, economic)

    return make


# ------------------------------------------------------------------------------------------------- helpers

def real_differences(data: RemoteData) -> dict[str, set[str]]:
    """vTiger id → hub fields with a planted *real* difference (formatting ones must not show)."""
    found: dict[str, set[str]] = {}
    for plant in data.planted:
        if plant.kind == "real" and plant.vtiger_id and plant.field:
            found.setdefault(plant.vtiger_id, set()).add(plant.field)
    return found


def economic_writes(running: RunningSandbox, number: int | None = None) -> list[LoggedWrite]:
    """Every write request that reached e-conomic (for `number` only, when given)."""
    return [w for w in running.economic.write_log
            if number is None or w.path == f"/customers/{number}"]


def economic_puts(running: RunningSandbox, number: int | None = None) -> list[LoggedWrite]:
    return [w for w in economic_writes(running, number) if w.method == "PUT"]


def vtiger_revises(running: RunningSandbox, record_id: str | None = None) -> list[LoggedWrite]:
    writes = [w for w in running.vtiger.write_log if w.path.endswith("/revise")]
    return [w for w in writes if record_id is None or w.body["element"]["id"] == record_id]


def without_links(value: Any) -> Any:
    """A document without its `self` links (e-conomic adds them to every reference it renders)."""
    if isinstance(value, dict):
        return {key: without_links(item) for key, item in value.items() if key != "self"}
    return value


def nulls(value: Any, path: str = "") -> list[str]:
    """Where in a JSON document a null hides."""
    if value is None:
        return [path or "<root>"]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in nulls(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for n, item in enumerate(value) for p in nulls(item, f"{path}[{n}]")]
    return []


async def hub_row(db: Database, customer_id: int) -> dict[str, Any]:
    return dict(await db.pool.fetchrow("select * from customer where id = $1", customer_id))


def reset_logs(running: RunningSandbox) -> None:
    running.vtiger.reset_log()
    running.economic.reset_log()


async def revise_in_vtiger(running: RunningSandbox, record_id: str, **fields: str) -> None:
    """Someone else changes the account, straight over vTiger's REST API."""
    async with httpx.AsyncClient(auth=(SANDBOX_VTIGER_USERNAME, SANDBOX_VTIGER_ACCESS_KEY)) as http:
        response = await http.post(f"{running.vtiger_rest_url}/revise",
                                   data={"element": json.dumps({"id": record_id, **fields})})
    assert response.status_code == 200 and response.json()["success"], response.text


async def put_in_economic(running: RunningSandbox, number: int, **changes: str) -> None:
    """Someone else changes the customer, straight over e-conomic's REST API (GET + full PUT)."""
    headers = {"X-AppSecretToken": SANDBOX_ECONOMIC_APP_SECRET,
               "X-AgreementGrantToken": SANDBOX_ECONOMIC_GRANT, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=running.economic_url, headers=headers) as http:
        current = (await http.get(f"/customers/{number}")).json()
        response = await http.put(f"/customers/{number}", json=customer_put_body(current, changes))
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------------------------------------------ read

async def test_read_shows_real_differences_with_suggestion_and_reason_not_formatting(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service()
    expected = real_differences(sandbox.data)

    for customer_id in range(1, 21):
        if customer_id == MISSING_FROM_ECONOMIC:
            continue
        reading = await service.read(customer_id)
        found = {d.field for d in reading.comparison.discrepancies}
        want = expected.get(company(customer_id).vtiger_id, set())
        assert found == want, f"customer {customer_id}: {found} instead of {want}"
        assert all(r.available for r in reading.reads.values())
        for discrepancy in reading.comparison.discrepancies:
            assert discrepancy.reason, discrepancy

    reading = await service.read(VTIGER_ADDRESS)
    (address,) = reading.comparison.discrepancies
    assert address.field == "address"
    assert address.values == {"hub": "Lærkevej 179", "vtiger": "Lærkevej 186", "economic": "Lærkevej 179"}
    assert (address.suggested, address.reason) == ("hub", "2 of 3 agree")

    reading = await service.read(ECONOMIC_ADDRESS)  # vTiger's "+4590418546" is the same phone
    assert [d.field for d in reading.comparison.discrepancies] == ["address"]
    assert reading.comparison.field("phone").values["vtiger"] == "+4590418546"
    assert not reading.comparison.field("phone").differs

    reading = await service.read(ECONOMIC_PHONE_MISSING)
    phone = reading.comparison.field("phone")
    assert phone.differs and phone.values["economic"] is None
    assert (phone.suggested, phone.reason) == ("hub", "2 of 3 agree")

    reading = await service.read(VTIGER_EMAIL)  # e-conomic has no general e-mail: a tie of two
    email = reading.comparison.field("email")
    assert email.values["economic"] is NOT_IN_SYSTEM
    assert (email.suggested, email.reason) == (None, "no majority")

    # Names with & are stored &amp; in vTiger: decoded, they are no discrepancy.
    reading = await service.read(3)
    assert reading.comparison.field("name").values["vtiger"] == company(3).name == "Øresund Logistik & Sønner ApS"
    assert reading.comparison.discrepancy_count == 0


async def test_trust_rules_override_the_majority(make_service: Make) -> None:
    service = await make_service(field_trust="invoice_email=economic")
    reading = await service.read(ECONOMIC_INVOICE_EMAIL)
    (invoice,) = reading.comparison.discrepancies
    assert invoice.values["economic"] == "bogholderi@kattegatfoder.dk"
    assert (invoice.suggested, invoice.reason) == ("economic", "e-conomic is trusted for Invoice email")


async def test_a_field_vtiger_does_not_have_is_never_a_discrepancy(make_service: Make) -> None:
    # VTIGER_CVR_FIELD names a field vTiger's describe does not list: "not in vTiger", not a difference.
    service = await make_service(vtiger_cvr_field="cf_999")
    reading = await service.read(12)  # index 11: vTiger's CVR is "DK-…" (formatting only)
    cvr = reading.comparison.field("cvr_number")
    assert cvr.values["vtiger"] is NOT_IN_SYSTEM and not cvr.differs
    assert cvr.values["hub"] == cvr.values["economic"] == company(12).cvr_number
    mobile = reading.comparison.field("mobile_phone")  # stock vTiger Accounts have no mobile field
    assert mobile.values["vtiger"] is NOT_IN_SYSTEM and not mobile.differs
    plan = build_plan(reading.comparison, [FieldChoice.custom("cvr_number", "12345678")])
    assert plan.systems == ("hub", "economic")


async def test_reading_a_customer_that_is_gone(make_service: Make) -> None:
    service = await make_service()
    with pytest.raises(CustomerGone, match="customer 4242 no longer exists"):
        await service.read(4242)


async def test_read_stores_the_count_and_a_snapshot_per_remote_system(
    make_service: Make, hub: Database
) -> None:
    service = await make_service()
    before = datetime.now(UTC)
    await service.read(ECONOMIC_CITY)
    await service.read(CLEAN)

    rows = {r["id"]: r for r in await hub.pool.fetch("select id, discrepancy_count, checked_at, updated_at "
                                                      "from customer where id = any($1::int[])",
                                                      [ECONOMIC_CITY, CLEAN, 2])}
    assert rows[ECONOMIC_CITY]["discrepancy_count"] == 1 and rows[CLEAN]["discrepancy_count"] == 0
    assert rows[ECONOMIC_CITY]["checked_at"] >= before - timedelta(seconds=1)
    assert rows[2]["discrepancy_count"] is None and rows[2]["checked_at"] is None
    # Storing the count is not an edit: it must not trip the hub's lost-update guard.
    assert rows[CLEAN]["updated_at"] < before
    snapshots = {(r["system"], r["remote_id"]): r for r in await hub.pool.fetch(
        "select * from remote_snapshot where customer_id = $1", ECONOMIC_CITY)}
    target = company(ECONOMIC_CITY)
    assert snapshots.keys() == {("vtiger", target.vtiger_id), ("economic", str(target.economic_customer_number))}
    assert json.loads(snapshots[("economic", "10009")]["values"])["city"] == "Vejle"


async def test_a_failing_system_is_unavailable_never_suggested_and_offers_its_cached_values(
    make_service: Make, sandbox: RunningSandbox
) -> None:
    service = await make_service()
    healthy = await service.read(ECONOMIC_CITY)
    remembered = healthy.reads["economic"].values
    assert remembered is not None and remembered["city"] == "Vejle"

    sandbox.economic.faults.error_rate = 1.0
    reading = await service.read(ECONOMIC_CITY)

    economic = reading.reads["economic"]
    assert not economic.available and economic.values is None
    assert economic.reason.startswith("e-conomic:") and "Internal server error" in economic.reason
    assert "\n" not in economic.reason
    assert economic.cached == remembered
    assert economic.cached_at is not None
    assert abs(datetime.now(UTC) - economic.cached_at) < timedelta(minutes=1)
    assert reading.comparison.available == {"hub": True, "vtiger": True, "economic": False}
    # The city now agrees between the two systems that answered; e-conomic's "Vejle" is not offered.
    assert reading.comparison.discrepancy_count == 0
    for compared in reading.comparison.fields:
        assert compared.suggested != "economic"
        assert compared.values.get("economic", NOT_IN_SYSTEM) is NOT_IN_SYSTEM
    # A choice of the unavailable system cannot be planned, and no plan writes to it.
    with pytest.raises(ValueError, match="e-conomic"):
        build_plan(reading.comparison, [FieldChoice.pick("city", "economic")])
    plan = build_plan(reading.comparison, [FieldChoice.custom("city", "Nyborg")])
    assert plan.systems == ("hub", "vtiger")
    assert [(s.system, s.reason) for s in plan.skipped] == [("economic", "e-conomic is unavailable")]


async def test_a_hanging_system_times_out_with_a_readable_reason(
    make_service: Make, sandbox: RunningSandbox
) -> None:
    service = await make_service(http_timeout_seconds=0.3)
    await service.read(VTIGER_ADDRESS)  # healthy: fills the snapshot and the checked field map

    sandbox.vtiger.faults.timeout_next = 10
    started = time.perf_counter()
    reading = await service.read(VTIGER_ADDRESS)
    elapsed = time.perf_counter() - started

    vtiger = reading.reads["vtiger"]
    assert not vtiger.available
    assert vtiger.reason == "vTiger did not answer within 0.3 s"
    assert vtiger.cached is not None and vtiger.cached["address"] == "Lærkevej 186"
    assert reading.reads["hub"].available and reading.reads["economic"].available
    # Without vTiger, hub and e-conomic agree on the address: nothing to choose.
    assert reading.comparison.discrepancy_count == 0
    assert elapsed < 1.5, f"the read took {elapsed:.2f} s with a 0.3 s timeout"


async def test_a_hanging_vtiger_on_the_first_read_costs_one_timeout(
    make_service: Make, sandbox: RunningSandbox
) -> None:
    service = await make_service(http_timeout_seconds=0.2, http_max_retries=1)
    sandbox.vtiger.faults.timeout_next = 20

    started = time.perf_counter()
    reading = await service.read(VTIGER_ADDRESS)
    elapsed = time.perf_counter() - started

    assert not reading.reads["vtiger"].available
    assert reading.reads["economic"].available
    assert elapsed < 0.2 * 2, f"the read took {elapsed:.2f} s with a 0.2 s timeout per system"


async def test_a_customer_missing_from_economic_is_unavailable_with_the_reason(make_service: Make) -> None:
    service = await make_service()
    reading = await service.read(MISSING_FROM_ECONOMIC)

    economic = reading.reads["economic"]
    assert not economic.available
    assert economic.reason.startswith("not found in e-conomic")
    assert economic.cached is None and economic.cached_at is None  # never read, nothing to show
    assert reading.comparison.available["economic"] is False
    assert all(f.suggested != "economic" for f in reading.comparison.fields)


async def test_read_keeps_the_stored_count_while_a_linked_system_cannot_be_read(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    await hub.pool.execute("update customer set discrepancy_count = 4, checked_at = now() - interval '1 day'")
    await hub.pool.execute("update customer set economic_customer_number = null where id = $1", VTIGER_ADDRESS)
    service = await make_service()
    sandbox.economic.faults.error_rate = 1.0

    kept = await service.read(ECONOMIC_CITY)  # linked to e-conomic, which does not answer
    counted = await service.read(VTIGER_ADDRESS)  # linked to vTiger alone, which does

    assert not kept.complete and counted.complete
    rows = {r["id"]: r for r in await hub.pool.fetch(
        "select id, discrepancy_count, checked_at > now() - interval '1 hour' as fresh from customer")}
    assert (rows[ECONOMIC_CITY]["discrepancy_count"], rows[ECONOMIC_CITY]["fresh"]) == (4, False)
    assert (rows[VTIGER_ADDRESS]["discrepancy_count"], rows[VTIGER_ADDRESS]["fresh"]) == (1, True)


async def test_a_malformed_answer_to_the_read_is_asked_for_again(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service()
    await service.mappings()  # describe answered, so the fault below hits the customer's own reads
    sandbox.vtiger.faults.malformed_next = 1
    sandbox.economic.faults.malformed_next = 1

    reading = await service.read(ECONOMIC_CITY)

    assert reading.complete and reading.comparison.discrepancy_count == 1
    assert (await hub_row(hub, ECONOMIC_CITY))["discrepancy_count"] == 1


async def test_a_customer_without_an_economic_number_is_not_linked(
    make_service: Make, hub: Database, sandbox: RunningSandbox
) -> None:
    await hub.pool.execute("update customer set economic_customer_number = null where id = $1", CLEAN)
    service = await make_service()
    reset_logs(sandbox)
    reading = await service.read(CLEAN)
    assert reading.reads["economic"].reason == "not linked: the customer has no e-conomic number"
    assert sandbox.economic.request_count == 0


# ----------------------------------------------------------------------------------------------------- apply

ECONOMIC_MODES: dict[str, dict[str, bool]] = {
    "disabled": {"economic_sync_enabled": False, "economic_read_only": False, "economic_dry_run": False},
    "read_only": {"economic_read_only": True, "economic_dry_run": False},
    "read_only_and_dry_run": {"economic_read_only": True, "economic_dry_run": True},
    "dry_run": {"economic_read_only": False, "economic_dry_run": True},
    "live": LIVE,
}
EXPECTED_ECONOMIC = {"disabled": "disabled", "read_only": "blocked", "read_only_and_dry_run": "blocked",
                     "dry_run": "dry_run", "live": "written"}


@pytest.mark.parametrize("vtiger_enabled", [True, False], ids=["vtiger_live", "vtiger_disabled"])
@pytest.mark.parametrize("economic_mode", list(ECONOMIC_MODES))
async def test_apply_under_every_flag_combination(
    make_service: Make, sandbox: RunningSandbox, hub: Database, economic_mode: str, vtiger_enabled: bool
) -> None:
    service = await make_service(vtiger_sync_enabled=vtiger_enabled, **ECONOMIC_MODES[economic_mode])
    target = company(CLEAN)
    number, account_id = target.economic_customer_number, target.vtiger_id
    original_account = dict(sandbox.vtiger.accounts[account_id])
    original_customer = dict(sandbox.economic.customers[number])
    reading = await service.read(CLEAN)
    plan = custom_plan(reading, THREE_FIELDS)
    assert plan.systems == ("hub", "vtiger", "economic")
    reset_logs(sandbox)

    result = await service.apply(reading, plan)

    outcomes = {system: r.outcome for system, r in result.results.items()}
    assert outcomes == {"hub": "written", "vtiger": "written" if vtiger_enabled else "disabled",
                        "economic": EXPECTED_ECONOMIC[economic_mode]}
    for system in SYSTEMS:
        assert result.results[system].fields == {
            name: (getattr(target, name), value) for name, value in THREE_FIELDS.items()}

    # The hub: one UPDATE, whatever the remote flags.
    row = await hub_row(hub, CLEAN)
    assert {name: row[name] for name in THREE_FIELDS} == THREE_FIELDS

    # vTiger: exactly one revise with all three fields, or nothing at all.
    if vtiger_enabled:
        (revise,) = sandbox.vtiger.write_log
        assert revise.path.endswith("/revise") and revise.status == 200
        assert revise.body["element"] == {"id": account_id, **{
            VTIGER_NAMES[name]: value for name, value in THREE_FIELDS.items()}}
        account = sandbox.vtiger.accounts[account_id]
        assert {VTIGER_NAMES[n]: account[VTIGER_NAMES[n]] for n in THREE_FIELDS} == {
            VTIGER_NAMES[n]: v for n, v in THREE_FIELDS.items()}
    else:
        assert sandbox.vtiger.write_log == []
        assert sandbox.vtiger.accounts[account_id] == original_account
        assert "VTIGER_SYNC_ENABLED=false" in result.results["vtiger"].message

    # e-conomic: one full PUT when live; not a single write request otherwise.
    economic = result.results["economic"]
    wanted = {ECONOMIC_NAMES[name]: value for name, value in THREE_FIELDS.items()}
    if economic_mode == "live":
        (put,) = economic_writes(sandbox)
        assert (put.method, put.path, put.status) == ("PUT", f"/customers/{number}", 200)
        assert nulls(put.body) == []
        untouched = {k: v for k, v in original_customer.items()
                     if k not in wanted and k != "lastUpdated"}
        # The full customer, all three changes in one request.
        assert without_links(put.body) == {**untouched, **wanted}
        assert economic.payload == put.body
        stored = sandbox.economic.customers[number]
        assert {k: stored[k] for k in wanted} == wanted
    else:
        assert economic_writes(sandbox) == []
        assert sandbox.economic.customers[number] == original_customer
    if economic_mode == "dry_run":
        assert economic.payload is not None and nulls(economic.payload) == []
        untouched = {k: v for k, v in original_customer.items()
                     if k not in wanted and k != "lastUpdated"}
        assert without_links(economic.payload) == {**untouched, **wanted}
        assert "ECONOMIC_DRY_RUN=true" in economic.message
    if economic_mode.startswith("read_only"):
        assert "ECONOMIC_READ_ONLY" in economic.message
        assert sandbox.economic.request_count <= 1  # only the re-read after applying, never the GET+PUT
    if economic_mode == "disabled":
        assert "ECONOMIC_SYNC_ENABLED=false" in economic.message

    # Every attempt is an audit event with the hub's field names.
    events = await audit_rows(hub)
    assert [(e["system"], e["outcome"]) for e in events] == list(outcomes.items())
    for event in events:
        assert event["event_type"] == "field_sync" and event["customer_id"] == CLEAN
        assert event["before"] == {name: getattr(target, name) for name in THREE_FIELDS}
        assert event["after"] == THREE_FIELDS
        assert event["dry_run"] is (event["outcome"] == "dry_run")
        assert event["actor"] == actor()
        assert event["id"] == result.results[event["system"]].audit_id

    # After applying, the customer has been re-read.
    assert result.reading is not None
    assert result.reading.comparison.field("city").value("hub") == "Nyborg"
    agreeing = {"hub"} | ({"vtiger"} if vtiger_enabled else set()) | (
        {"economic"} if economic_mode == "live" else set())
    assert result.reading.comparison.discrepancy_count == (0 if len(agreeing) == 3 else 3)


async def test_the_dry_run_payload_is_exactly_what_is_sent_live(
    make_service: Make, sandbox: RunningSandbox
) -> None:
    dry = await make_service(economic_read_only=False, economic_dry_run=True)
    live = await make_service(**LIVE)
    reading = await dry.read(ECONOMIC_CITY)
    plan = build_plan(reading.comparison, [FieldChoice.pick("city", "hub")])
    assert plan.systems == ("economic",) and plan.economic == {"city": "Odense C"}

    shown = await dry.apply(reading, plan)
    assert shown.results["economic"].outcome == "dry_run" and economic_writes(sandbox) == []

    sent = await live.apply(reading, plan)
    assert sent.results["economic"].outcome == "written"
    (put,) = economic_puts(sandbox)
    assert put.body == shown.results["economic"].payload


async def test_applying_suggestions_writes_only_the_system_that_differs(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service(**LIVE)
    reading = await service.read(ECONOMIC_ADDRESS)
    choices = [FieldChoice.pick(d.field, d.suggested) for d in reading.comparison.discrepancies
               if d.suggested is not None]
    plan = build_plan(reading.comparison, choices)
    assert plan.systems == ("economic",)

    result = await service.apply(reading, plan)

    assert {s: r.outcome for s, r in result.results.items()} == {"economic": "written"}
    (put,) = economic_writes(sandbox)
    assert put.body["address"] == "Kirkevej 166"
    assert sandbox.vtiger.write_log == []
    assert result.reading is not None and result.reading.comparison.discrepancy_count == 0
    assert (await hub_row(hub, ECONOMIC_ADDRESS))["discrepancy_count"] == 0


# ---------------------------------------------------------------------------------------------- lost update

async def test_vtiger_changed_since_the_read_is_refused_and_the_others_proceed(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service(**LIVE)
    target = company(CLEAN)
    reading = await service.read(CLEAN)
    plan = custom_plan(reading, THREE_FIELDS)
    await revise_in_vtiger(sandbox, target.vtiger_id, bill_city="Skagen")
    reset_logs(sandbox)

    result = await service.apply(reading, plan)

    assert {s: r.outcome for s, r in result.results.items()} == {
        "hub": "written", "vtiger": "changed", "economic": "written"}
    assert "since you looked" in result.results["vtiger"].message
    assert result.failed_systems == ["vtiger"]
    assert sandbox.vtiger.write_log == []
    assert sandbox.vtiger.accounts[target.vtiger_id]["bill_city"] == "Skagen"
    assert len(economic_puts(sandbox)) == 1
    assert (await hub_row(hub, CLEAN))["city"] == "Nyborg"
    # The refreshed reading shows the other person's change.
    assert result.reading is not None and result.reading.comparison.field("city").value("vtiger") == "Skagen"
    events = await audit_rows(hub)
    assert [(e["system"], e["outcome"]) for e in events] == list(
        {s: r.outcome for s, r in result.results.items()}.items())


async def test_economic_changed_since_the_read_is_refused_and_the_others_proceed(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service(**LIVE)
    target = company(CLEAN)
    number = target.economic_customer_number
    reading = await service.read(CLEAN)
    plan = custom_plan(reading, THREE_FIELDS)
    await put_in_economic(sandbox, number, city="Skagen")
    reset_logs(sandbox)

    result = await service.apply(reading, plan)

    assert {s: r.outcome for s, r in result.results.items()} == {
        "hub": "written", "vtiger": "written", "economic": "changed"}
    assert "changed in e-conomic" in result.results["economic"].message
    assert economic_writes(sandbox) == []
    assert sandbox.economic.customers[number]["city"] == "Skagen"
    assert len(vtiger_revises(sandbox)) == 1
    assert (await hub_row(hub, CLEAN))["city"] == "Nyborg"


async def test_hub_changed_by_another_session_is_refused_and_the_others_proceed(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    mine, theirs = await make_service(**LIVE), await make_service(**LIVE)
    reading = await mine.read(CLEAN)
    plan = custom_plan(reading, THREE_FIELDS)
    other = await theirs.read(CLEAN)
    done = await theirs.apply(other, custom_plan(other, {"city": "Skagen"}).only("hub"))
    assert done.results["hub"].outcome == "written"
    reset_logs(sandbox)

    result = await mine.apply(reading, plan)

    assert {s: r.outcome for s, r in result.results.items()} == {
        "hub": "changed", "vtiger": "written", "economic": "written"}
    assert result.results["hub"].message == "the hub record was changed since you looked"
    row = await hub_row(hub, CLEAN)
    assert (row["city"], row["phone"]) == ("Skagen", company(CLEAN).phone)
    assert len(vtiger_revises(sandbox)) == 1 and len(economic_puts(sandbox)) == 1


async def test_hub_changed_by_a_plain_update_is_refused(make_service: Make, hub: Database) -> None:
    service = await make_service(**LIVE)
    reading = await service.read(CLEAN)
    plan = custom_plan(reading, THREE_FIELDS)
    await hub.pool.execute("update customer set city = 'Skagen' where id = $1", CLEAN)

    result = await service.apply(reading, plan)

    assert result.results["hub"].outcome == "changed"
    assert (await hub_row(hub, CLEAN))["city"] == "Skagen"


# ------------------------------------------------------------------------------------ failure, then retry

async def test_economic_failing_beyond_the_retries_then_retried_alone(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service(**LIVE)  # HTTP_MAX_RETRIES=2 and millisecond backoff
    target = company(CLEAN)
    number = target.economic_customer_number
    reading = await service.read(CLEAN)
    plan = custom_plan(reading, THREE_FIELDS)
    reset_logs(sandbox)

    # e-conomic answers its GETs but every PUT gets a 500 before it is executed.
    sandbox.economic.faults.fault_method = "PUT"
    sandbox.economic.faults.error_rate = 1.0
    failed = await service.apply(reading, plan)

    assert {s: r.outcome for s, r in failed.results.items()} == {
        "hub": "written", "vtiger": "written", "economic": "failed"}
    message = failed.results["economic"].message
    # A 500 leaves the write's fate open: the re-read settled it as not written.
    assert "e-conomic: Internal server error (sandbox fault: error_rate)" in message, message
    assert message.startswith("not written, as a re-read shows") and "press r to send it again" in message
    assert failed.failed_systems == ["economic"]
    puts = economic_puts(sandbox, number)
    assert [(p.status, p.applied) for p in puts] == [(500, False)] * 3  # 1 try + HTTP_MAX_RETRIES
    assert sandbox.economic.customers[number]["city"] == target.city
    assert failed.reading is not None and failed.reading.comparison.field("city").value("economic") == target.city
    failure = (await audit_rows(hub))[-1]
    assert (failure["system"], failure["outcome"], failure["message"]) == ("economic", "failed", message)
    # e-conomic's logId of the failure, for its support, is kept with the event and in the message.
    log_id = failed.results["economic"].log_id
    assert log_id and log_id.endswith("-CPH") and failure["remote_log_id"] == log_id
    assert f"logId {log_id}" in message

    sandbox.economic.faults.error_rate = 0.0
    fresh = await service.read(CLEAN)
    assert [d.field for d in fresh.comparison.discrepancies] == list(THREE_FIELDS)
    retry_plan = build_plan(fresh.comparison, [FieldChoice.pick(f, "hub") for f in THREE_FIELDS])
    assert retry_plan.systems == ("economic",)
    retried = await service.apply(fresh, retry_plan, only=["economic"])

    assert {s: r.outcome for s, r in retried.results.items()} == {"economic": "written"}
    assert [p.status for p in economic_puts(sandbox, number)] == [500, 500, 500, 200]
    assert len(vtiger_revises(sandbox)) == 1  # vTiger was written once, never again
    stored = sandbox.economic.customers[number]
    assert {name: stored[ECONOMIC_NAMES[name]] for name in THREE_FIELDS} == THREE_FIELDS
    assert retried.reading is not None and retried.reading.comparison.discrepancy_count == 0


async def test_only_limits_apply_to_the_named_systems(make_service: Make, sandbox: RunningSandbox,
                                                      hub: Database) -> None:
    service = await make_service(**LIVE)
    reading = await service.read(CLEAN)
    reset_logs(sandbox)
    result = await service.apply(reading, custom_plan(reading, THREE_FIELDS), only=["vtiger"])
    assert list(result.results) == ["vtiger"]
    assert len(vtiger_revises(sandbox)) == 1 and economic_writes(sandbox) == []
    assert (await hub_row(hub, CLEAN))["city"] == company(CLEAN).city
    assert [e["system"] for e in await audit_rows(hub)] == ["vtiger"]


# ----------------------------------------------------------------------------------------------------- audit

async def test_the_audit_actor_names_the_ssh_client(
    make_service: Make, hub: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_CONNECTION", "10.20.30.40 52114 10.1.2.4 22")
    service = await make_service()  # e-conomic READ-ONLY: the blocked attempt is audited too
    reading = await service.read(ECONOMIC_CITY)
    result = await service.apply(reading, build_plan(reading.comparison, [FieldChoice.pick("city", "hub")]))
    assert result.results["economic"].outcome == "blocked"

    (event,) = await audit_rows(hub)
    assert event["actor"] == actor() and event["actor"].endswith(" via ssh from 10.20.30.40")
    assert (event["system"], event["outcome"], event["dry_run"]) == ("economic", "blocked", False)
    assert (event["before"], event["after"]) == ({"city": "Vejle"}, {"city": "Odense C"})
    assert event["entity_type"] == "customer" and event["entity_id"] == str(ECONOMIC_CITY)
    assert "ECONOMIC_READ_ONLY" in event["message"]


# ------------------------------------------------------------------------------------------------------ undo

async def test_undo_writes_the_before_values_back_and_is_audited(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service(**LIVE)
    target = company(CLEAN)
    number, account_id = target.economic_customer_number, target.vtiger_id
    before = {name: getattr(target, name) for name in THREE_FIELDS}
    reading = await service.read(CLEAN)
    applied = await service.apply(reading, custom_plan(reading, THREE_FIELDS))
    assert {r.outcome for r in applied.results.values()} == {"written"}
    reset_logs(sandbox)

    undone: dict[str, ApplyResult] = {}
    for system in SYSTEMS:
        audit_id = applied.results[system].audit_id
        assert audit_id is not None
        undone[system] = await service.undo(audit_id)

    assert {s: {k: v.outcome for k, v in r.results.items()} for s, r in undone.items()} == {
        s: {s: "written"} for s in SYSTEMS}
    row = await hub_row(hub, CLEAN)
    assert {name: row[name] for name in THREE_FIELDS} == before
    (revise,) = sandbox.vtiger.write_log
    assert revise.body["element"] == {"id": account_id, **{VTIGER_NAMES[n]: v for n, v in before.items()}}
    account = sandbox.vtiger.accounts[account_id]
    assert {name: account[VTIGER_NAMES[name]] for name in THREE_FIELDS} == before
    (put,) = economic_writes(sandbox)
    assert put.method == "PUT" and nulls(put.body) == []
    customer = sandbox.economic.customers[number]
    assert {name: customer[ECONOMIC_NAMES[name]] for name in THREE_FIELDS} == before
    assert undone["economic"].reading is not None
    assert undone["economic"].reading.comparison.discrepancy_count == 0

    events = await audit_rows(hub, "undo")
    assert [(e["system"], e["outcome"]) for e in events] == [(s, "written") for s in SYSTEMS]
    for event in events:  # each undo names the event it undid
        undid = applied.results[event["system"]].audit_id
        assert (event["before"], event["after"]) == (THREE_FIELDS, {**before, "undoes_event": undid})
        assert event["actor"] == actor()


async def test_undo_goes_through_the_same_flags(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    live = await make_service(**LIVE)
    reading = await live.read(CLEAN)
    applied = await live.apply(reading, custom_plan(reading, THREE_FIELDS))
    number = company(CLEAN).economic_customer_number
    reset_logs(sandbox)

    guarded = await make_service(vtiger_sync_enabled=False)  # and e-conomic READ-ONLY, the default
    economic_id, vtiger_id = applied.results["economic"].audit_id, applied.results["vtiger"].audit_id
    assert economic_id is not None and vtiger_id is not None
    blocked = await guarded.undo(economic_id)
    disabled = await guarded.undo(vtiger_id)

    assert {s: r.outcome for s, r in blocked.results.items()} == {"economic": "blocked"}
    assert {s: r.outcome for s, r in disabled.results.items()} == {"vtiger": "disabled"}
    assert economic_writes(sandbox) == [] and sandbox.vtiger.write_log == []
    assert sandbox.economic.customers[number]["city"] == "Nyborg"
    events = await audit_rows(hub, "undo")
    assert [(e["system"], e["outcome"]) for e in events] == [("economic", "blocked"), ("vtiger", "disabled")]


async def test_undo_of_something_that_is_not_a_field_write_is_refused(make_service: Make) -> None:
    service = await make_service()
    with pytest.raises(ValueError, match="audit event 999999"):
        await service.undo(999_999)


async def test_undo_is_refused_with_the_reason_for_every_event_that_wrote_nothing(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    plan_for = {"blocked": {}, "dry_run": {"economic_read_only": False},
                "failed": LIVE, "disabled": {"vtiger_sync_enabled": False}}
    sandbox.economic.faults = EconomicFaults(reject_next=1, fault_method="PUT")  # the "failed" one
    ids: dict[str, int] = {}
    for outcome, flags in plan_for.items():
        service = await make_service(**flags)
        reading = await service.read(CLEAN)
        result = await service.apply(reading, custom_plan(reading, {"city": f"By {outcome}"}))
        system = "vtiger" if outcome == "disabled" else "economic"
        assert result.results[system].outcome == outcome
        audit_id = result.results[system].audit_id
        assert audit_id is not None
        ids[outcome] = audit_id
    await HourlyRates(hub).set_rate(CLEAN, Decimal("900.00"))
    ids["rate"] = await hub.pool.fetchval("select id from audit_event where event_type = 'rate_changed'")
    ids["unknown"] = await record(hub.pool, AuditRecord(  # as a write whose answer was lost leaves it
        "field_sync", "customer", str(CLEAN), CLEAN, "economic", "unknown", {"city": "Nyborg"}, {"city": "X"}))
    reset_logs(sandbox)
    audit_count = len(await audit_rows(hub))

    service = await make_service(**LIVE)
    reasons = {
        "blocked": "nothing was written: it was BLOCKED",
        "dry_run": "nothing was written: it was a DRY-RUN",
        "failed": "nothing was written: it FAILED",
        "disabled": "nothing was written: sync to that system was disabled",
        "rate": f"event {ids['rate']} is rate_changed, not a field write",
        "unknown": "nothing was written: whether it landed is not known yet",
    }
    for kind, reason in reasons.items():
        with pytest.raises(UndoRefused, match=re.escape(reason)):
            await service.undo_preview(ids[kind])
        with pytest.raises(UndoRefused, match=re.escape(reason)):
            await service.undo(ids[kind])
    assert economic_writes(sandbox) == [] and sandbox.vtiger.write_log == []
    assert len(await audit_rows(hub)) == audit_count

    # Settled by reading it back ("confirmed by re-read"), the unknown write is a write, and can be undone.
    await hub.pool.execute("update audit_event set outcome = 'written', message = 'confirmed by re-read' "
                           "where id = $1", ids["unknown"])
    event = await get_event(hub.pool, ids["unknown"])
    assert event is not None and await undo_refusal(hub, event) is None


async def test_an_undone_write_is_not_undone_twice_and_says_by_which_event(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service(**LIVE)
    reading = await service.read(CLEAN)
    applied = await service.apply(reading, custom_plan(reading, THREE_FIELDS))
    economic_id = applied.results["economic"].audit_id
    assert economic_id is not None
    number = company(CLEAN).economic_customer_number

    # A dry-run undo writes nothing, so it does not count as undone.
    dry = await (await make_service(economic_read_only=False)).undo(economic_id)
    assert dry.results["economic"].outcome == "dry_run"
    reset_logs(sandbox)

    undone = await service.undo(economic_id)
    assert undone.results["economic"].outcome == "written"
    assert len(economic_puts(sandbox, number)) == 1
    undo_id = undone.results["economic"].audit_id
    (undo_event,) = [e for e in await audit_rows(hub, "undo") if e["id"] == undo_id]
    assert undo_event["after"]["undoes_event"] == economic_id
    when = undo_event["created_at"].astimezone()

    for attempt in (service.undo_preview(economic_id), service.undo(economic_id)):
        with pytest.raises(UndoRefused, match=f"already undone by event {undo_id} at {when:%H:%M}"):
            await attempt
    assert len(economic_puts(sandbox, number)) == 1  # still the one write


async def test_the_undo_preview_reads_now_and_the_confirmed_undo_writes_what_it_showed(
    make_service: Make, sandbox: RunningSandbox, hub: Database
) -> None:
    service = await make_service(**LIVE)
    target = company(CLEAN)
    number = target.economic_customer_number
    reading = await service.read(CLEAN)
    applied = await service.apply(reading, custom_plan(reading, THREE_FIELDS))
    economic_id = applied.results["economic"].audit_id
    assert economic_id is not None
    await put_in_economic(sandbox, number, city="Svendborg")  # someone changes one field since
    reset_logs(sandbox)

    preview = await service.undo_preview(economic_id)
    assert (preview.safety.mode, preview.safety.live) == ("live", True)
    assert economic_writes(sandbox) == []  # a preview only reads
    shown = {f.field: (f.current, f.restore, f.changed_since, f.written) for f in preview.fields}
    assert shown == {
        "city": ("Svendborg", target.city, True, True),
        "phone": (THREE_FIELDS["phone"], target.phone, False, True),
        "website": (THREE_FIELDS["website"], target.website, False, True),
    }
    assert (await (await make_service()).undo_preview(economic_id)).safety.mode == "read_only"

    # Without the person's confirmed preview, the later change is left alone...
    unattended = await service.undo(economic_id)
    assert len(economic_puts(sandbox, number)) == 1
    assert sandbox.economic.customers[number]["city"] == "Svendborg"
    assert unattended.results["economic"].fields.keys() == {"phone", "website"}
    await hub.pool.execute("delete from audit_event where event_type = 'undo'")  # start over from the event
    await put_in_economic(sandbox, number, **{ECONOMIC_NAMES[n]: v for n, v in THREE_FIELDS.items() if n != "city"})
    reset_logs(sandbox)

    # ...with it, exactly what it showed is written (the person saw "changed since" and said yes): one PUT.
    preview = await service.undo_preview(economic_id)
    result = await service.undo(economic_id, preview)
    assert result.results["economic"].outcome == "written"
    assert len(economic_puts(sandbox, number)) == 1
    stored = sandbox.economic.customers[number]
    assert [stored[ECONOMIC_NAMES[n]] for n in THREE_FIELDS] == [target.city, target.phone, target.website]

    # A preview goes stale: a change after it was read makes the undo refuse to overwrite it (the hub here,
    # whose guard is exact; e-conomic's lastUpdated only tells changes a second apart).
    hub_id = applied.results["hub"].audit_id
    assert hub_id is not None
    preview = await service.undo_preview(hub_id)
    await hub.pool.execute("update customer set city = 'Faaborg' where id = $1", CLEAN)
    stale = await service.undo(hub_id, preview)
    assert stale.results["hub"].outcome == "changed"
    assert (await hub_row(hub, CLEAN))["city"] == "Faaborg"


# ------------------------------------------------------------------------------------------------ fleet check

@pytest.fixture
async def fleet(database: Database, settings: Settings, tmp_path: Path) -> AsyncIterator[
        tuple[RunningSandbox, Make]]:
    data = build_remote_data(FLEET_COMPANIES)
    await replace_all_customers(database, data.companies)
    async with serve_sandboxes(SandboxOptions(data=data)) as running, AsyncExitStack() as stack:
        yield running, _maker(database, running, tmp_path, stack)


async def test_fleet_check_uses_bulk_reads_and_agrees_with_per_customer_reads(
    fleet: tuple[RunningSandbox, Make], database: Database
) -> None:
    running, make = fleet
    service = await make()
    await service.mappings()  # the one describe, so the counts below are the bulk reads alone
    reset_logs(running)
    progress: list[tuple[str, int, int | None]] = []
    started = datetime.now(UTC)

    result = await check_fleet(service, lambda *a: progress.append(a))

    # Bulk: a few pages of 100 from vTiger, a round of pages of 1000 from e-conomic; no per-customer call.
    assert 4 <= running.vtiger.request_count <= 4 + service.settings.vtiger_max_concurrency
    assert 1 <= running.economic.request_count <= service.settings.economic_max_concurrency
    assert running.vtiger.write_log == [] and running.economic.write_log == []
    assert progress[-1][1:] == (FLEET_COMPANIES, FLEET_COMPANIES)

    assert len(result.customers) == FLEET_COMPANIES
    assert result.systems_available == {"hub": True, "vtiger": True, "economic": True}
    expected = real_differences(running.data)
    for check in result.customers:
        vtiger_id = running.data.companies[check.customer_id - 1].vtiger_id
        found = {d.field for d in check.comparison.discrepancies}
        assert found == expected.get(vtiger_id, set()), f"customer {check.customer_id}"
    summary = result.summary
    assert summary["checked"] == FLEET_COMPANIES
    assert summary["discrepancies"] == sum(len(fields) for fields in expected.values())
    assert summary["with_discrepancies"] == len(expected)

    stored = {r["id"]: r for r in await database.pool.fetch("select id, discrepancy_count, checked_at from customer")}
    assert all(stored[c.customer_id]["discrepancy_count"] == c.comparison.discrepancy_count
               for c in result.customers)
    assert all(r["checked_at"] >= started - timedelta(seconds=1) for r in stored.values())

    by_id = {c.customer_id: c for c in result.customers}
    for customer_id in [*range(1, 21), MISSING_FROM_ECONOMIC, 147, 299]:
        reading = await service.read(customer_id)
        fleet_view = by_id[customer_id].comparison
        assert reading.comparison.discrepancy_count == fleet_view.discrepancy_count, customer_id
        assert reading.comparison.discrepancies_as_dict() == fleet_view.discrepancies_as_dict()
        assert reading.comparison.available == fleet_view.available
    assert by_id[MISSING_FROM_ECONOMIC].comparison.available["economic"] is False


async def test_fleet_check_of_chosen_customers(fleet: tuple[RunningSandbox, Make], database: Database) -> None:
    _, make = fleet
    result = await check_fleet(await make(), customer_ids=[VTIGER_ADDRESS, CLEAN])
    assert [c.customer_id for c in result.customers] == [CLEAN, VTIGER_ADDRESS]
    assert [c.as_json()["discrepancy_count"] for c in result.customers] == [0, 1]
    assert await database.pool.fetchval("select count(*) from customer where checked_at is not null") == 2


async def test_fleet_check_reads_every_field_while_describe_has_not_answered(
    fleet: tuple[RunningSandbox, Make],
) -> None:
    running, make = fleet
    # A CVR field name this vTiger does not have, and a describe that does not answer in time: the field
    # map cannot be checked, so the bulk read asks for every field (vTiger would refuse a query naming a
    # field it lacks) rather than lose vTiger for the whole check.
    running.vtiger.faults.timeout_next = 1
    result = await check_fleet(await make(vtiger_cvr_field="cf_999", http_timeout_seconds=0.5))
    assert result.systems_available["vtiger"] is True
    assert result.summary["checked"] == FLEET_COMPANIES


async def test_fleet_check_with_one_system_down_keeps_the_counts_of_its_customers(
    fleet: tuple[RunningSandbox, Make], database: Database
) -> None:
    running, make = fleet
    await database.pool.execute(
        "update customer set discrepancy_count = 9, checked_at = now() - interval '1 day'")
    vtiger_only = [1, 2, 3, VTIGER_ADDRESS]
    await database.pool.execute("update customer set economic_customer_number = null where id = any($1::int[])",
                                vtiger_only)
    running.economic.faults.error_rate = 1.0

    result = await check_fleet(await make())

    assert result.systems_available == {"hub": True, "vtiger": True, "economic": False}
    assert result.unavailable_reasons["economic"].startswith("e-conomic: Internal server error")
    # The server's own message does not say which request: the page and the tries are added.
    assert result.unavailable_reasons["economic"].endswith("(GET /customers page 1 (skippages=0), sent 3 times)")
    assert list(result.incomplete) == ["economic"]
    assert result.incomplete["economic"] == (
        f"{result.unavailable_reasons['economic']}; the check is incomplete: no counts were changed for the "
        f"{FLEET_COMPANIES - len(vtiger_only)} customers in e-conomic — run it again")
    assert result.summary["unavailable"] == result.unavailable_reasons
    assert result.summary["incomplete"] == result.incomplete
    assert (result.summary["compared"], result.summary["kept"]) == (len(vtiger_only), FLEET_COMPANIES - 4)
    assert len(result.customers) == FLEET_COMPANIES
    expected_vtiger = {p.vtiger_id for p in running.data.planted if p.kind == "real" and p.system == "vtiger"}
    with_differences = {running.data.companies[c.customer_id - 1].vtiger_id
                        for c in result.customers if c.comparison.discrepancy_count}
    assert with_differences == expected_vtiger
    for check in result.customers:
        assert check.as_json()["systems_available"] == {"hub": True, "vtiger": True, "economic": False}
        assert check.compared is (check.customer_id in vtiger_only)
        assert all(d.suggested != "economic" for d in check.comparison.discrepancies)
    stored = {r["id"]: (r["discrepancy_count"], r["fresh"]) for r in await database.pool.fetch(
        "select id, discrepancy_count, checked_at > now() - interval '1 hour' as fresh from customer")}
    by_id = {c.customer_id: c.comparison.discrepancy_count for c in result.customers}
    assert stored == {customer_id: (by_id[customer_id], True) if customer_id in vtiger_only else (9, False)
                      for customer_id in range(1, FLEET_COMPANIES + 1)}
    assert stored[VTIGER_ADDRESS] == (1, True)


async def test_fleet_check_asks_again_for_a_malformed_page_and_is_complete(
    fleet: tuple[RunningSandbox, Make], database: Database
) -> None:
    running, make = fleet
    service = await make(vtiger_max_concurrency=1, economic_max_concurrency=1)
    await service.mappings()
    reset_logs(running)
    running.vtiger.faults.malformed_next = 1  # one page at a time: the first page of each, once
    running.economic.faults.malformed_next = 1

    result = await check_fleet(service)

    assert result.incomplete == {} and result.unavailable_reasons == {}
    assert running.economic.request_count == 2  # one page of 1000, asked for twice
    assert running.vtiger.request_count == len(running.vtiger.accounts) // 100 + 1 + 1  # the pages, +1
    expected = real_differences(running.data)
    for check in result.customers:
        vtiger_id = running.data.companies[check.customer_id - 1].vtiger_id
        assert check.compared and {d.field for d in check.comparison.discrepancies} == expected.get(vtiger_id, set())
    assert result.summary["compared"] == FLEET_COMPANIES
    assert await database.pool.fetchval("select count(*) from customer where checked_at is null") == 0


async def test_fleet_check_with_a_query_page_malformed_every_time_keeps_the_vtiger_customers_counts(
    fleet: tuple[RunningSandbox, Make], database: Database
) -> None:
    running, make = fleet
    await database.pool.execute("update customer set discrepancy_count = 9, checked_at = now() - interval '1 day'")
    await database.pool.execute("update customer set vtiger_id = null where id = $1", ECONOMIC_CITY)
    service = await make()  # 2 retries: 3 tries
    await service.mappings()
    faults = running.vtiger.faults
    faults.fault_path, faults.malformed_next = "/query", 100

    result = await check_fleet(service)

    assert list(result.incomplete) == ["vtiger"]
    assert result.incomplete["vtiger"].startswith(
        "vTiger: GET /query page 1 (offset 0) answered HTTP 200 with something that is not JSON")
    assert result.incomplete["vtiger"].endswith(
        f"(sent 3 times); the check is incomplete: no counts were changed for the {FLEET_COMPANIES - 1} customers "
        "in vTiger — run it again")
    stored = {r["id"]: (r["discrepancy_count"], r["fresh"]) for r in await database.pool.fetch(
        "select id, discrepancy_count, checked_at > now() - interval '1 hour' as fresh from customer")}
    assert stored.pop(ECONOMIC_CITY) == (1, True)  # compared with e-conomic, the only system it is linked to
    assert set(stored.values()) == {(9, False)}
