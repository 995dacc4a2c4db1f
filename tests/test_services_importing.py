"""Importing vTiger Accounts and Timelogs into the hub: the sandbox vTiger over real HTTP, a real Postgres."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hubtui.config import Settings
from hubtui.connectors.base import ConfigurationError, ConnectorError, RetryPolicy, Unavailable
from hubtui.connectors.vtiger import VtigerClient, decode_entities
from hubtui.core.fields import hub_values_from_vtiger
from hubtui.sandbox.remote_data import ORPHAN_VTIGER_ID, RemoteData, build_remote_data
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.importing import (
    ACCOUNTS_WATERMARK,
    TIMELOGS_WATERMARK,
    import_customers,
    import_timelogs,
    parse_economic_number,
    parse_minutes,
    parse_work_date,
)
from hubtui.store.audit import actor
from hubtui.store.db import Database

FAST_RETRY = RetryPolicy(wait_base=0.01, wait_max=0.05, max_retry_after=0.05)
LATER = datetime(2027, 1, 4, 9, 30, 0)  # after every modifiedtime in the demo data, whatever the clock says
HUB_COLUMNS = ("name", "cvr_number", "address", "city", "postal_code", "country", "phone", "email",
               "website", "invoice_email")

MakeSettings = Callable[..., Settings]


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=200)) as running:
        running.vtiger.now = lambda: LATER  # type: ignore[method-assign]
        yield running


@pytest.fixture
def make_settings(settings: Settings, tmp_path: Path) -> MakeSettings:
    """Settings pointed at a sandbox; depends on `settings` so no developer .env or environment leaks in."""

    def make(running: RunningSandbox, **overrides: Any) -> Settings:
        env = {name.lower(): value for name, value in running.env().items()}
        return Settings(**env, hubtui_data_dir=tmp_path / "data", http_max_retries=2, **overrides)

    return make


@pytest.fixture
async def vtiger(sandbox: RunningSandbox, make_settings: MakeSettings) -> AsyncIterator[VtigerClient]:
    async with VtigerClient(make_settings(sandbox), retry=FAST_RETRY) as client:
        yield client


async def watermark(db: Database, key: str) -> str | None:
    return await db.pool.fetchval("select value from sync_state where key = $1", key)


async def audit_events(db: Database) -> list[dict[str, Any]]:
    rows = await db.pool.fetch("select * from audit_event order by id")
    return [{**row, "after": json.loads(row["after"]) if row["after"] else None} for row in rows]


def newest_modified(records: dict[str, dict[str, str]]) -> str:
    return max(record["modifiedtime"] for record in records.values())


async def test_first_import_creates_every_account_and_the_second_nothing(
    db: Database, sandbox: RunningSandbox, vtiger: VtigerClient
) -> None:
    accounts = sandbox.vtiger.accounts
    calls: list[tuple[int, int | None]] = []

    summary = await import_customers(db, vtiger.settings, vtiger, progress=lambda *a: calls.append(a))

    assert (summary.read, summary.created, summary.already_in_hub, summary.skipped) == (
        len(accounts), len(accounts), 0, [])
    newest = newest_modified(accounts)
    assert summary.watermark == newest == await watermark(db, ACCOUNTS_WATERMARK)
    assert summary.line() == (f"vTiger accounts: {len(accounts)} read, {len(accounts)} new customers, "
                              f"0 already in hub, 0 skipped; next run from {newest}")
    assert calls[0] == (0, None) and calls[-1] == (len(accounts), len(accounts)) and len(calls) >= 4

    rows = {row["vtiger_id"]: row for row in await db.pool.fetch("select * from customer")}
    assert rows.keys() == accounts.keys()
    for vtiger_id, raw in accounts.items():
        expected = hub_values_from_vtiger(decode_entities(raw), vtiger.settings)
        assert {column: rows[vtiger_id][column] for column in HUB_COLUMNS} == {
            column: expected[column] for column in HUB_COLUMNS}
        number = raw.get("cf_854")
        assert rows[vtiger_id]["economic_customer_number"] == (int(number) if number else None)
    assert rows[ORPHAN_VTIGER_ID]["name"] == "Kattegat Fiskeeksport ApS"
    encoded = [i for i, raw in accounts.items() if "&amp;" in raw["accountname"]]
    assert encoded, "the demo data plants HTML-encoded names"
    for vtiger_id in encoded:
        assert "&" in rows[vtiger_id]["name"] and "&amp;" not in rows[vtiger_id]["name"]

    snapshots = {row["remote_id"]: row for row in await db.pool.fetch("select * from remote_snapshot")}
    assert snapshots.keys() == accounts.keys()
    one = snapshots[encoded[0]]
    assert one["system"] == "vtiger" and one["customer_id"] == rows[encoded[0]]["id"]
    assert one["remote_modified"] == accounts[encoded[0]]["modifiedtime"]
    assert json.loads(one["values"])["accountname"] == rows[encoded[0]]["name"]

    again = await import_customers(db, vtiger.settings, vtiger)
    ties = sum(1 for raw in accounts.values() if raw["modifiedtime"] == newest)
    assert (again.read, again.created, again.already_in_hub) == (ties, 0, ties)
    assert again.watermark == newest
    assert await db.pool.fetchval("select count(*) from customer") == len(accounts)

    events = await audit_events(db)
    assert [e["event_type"] for e in events] == ["import_customers", "import_customers"]
    assert events[0]["entity_type"] == "sync" and events[0]["outcome"] == "ok"
    assert events[0]["actor"] == actor() and events[0]["after"]["created"] == len(accounts)
    assert events[1]["after"]["created"] == 0


class QueryLog(httpx.AsyncHTTPTransport):
    """The VTQL statements a client sends."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/query"):
            self.statements.append(request.url.params["query"])
        return await super().handle_async_request(request)


async def test_import_reads_only_the_fields_it_stores(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    # The CVR field is named in settings but this vTiger has no such field: it is left out of the query
    # (vTiger would refuse the whole query for it) and the import goes on without CVR numbers.
    settings = make_settings(sandbox, vtiger_cvr_field="cf_999")
    log = QueryLog()
    async with VtigerClient(settings, transport=log, retry=FAST_RETRY) as crm:
        summary = await import_customers(db, settings, crm)
    assert summary.created == len(sandbox.vtiger.accounts)
    columns = {re.fullmatch(r"select (.+) from Accounts order by id limit \d+,100;", statement).group(1)  # type: ignore[union-attr]
               for statement in log.statements}
    assert columns == {"id, modifiedtime, accountname, bill_street, bill_city, bill_code, bill_country, phone, "
                       "email1, website, email2, cf_854"}
    assert await db.pool.fetchval("select count(*) from customer where cvr_number is not null") == 0
    numbers = await db.pool.fetchval("select count(*) from customer where economic_customer_number is not null")
    assert numbers == sum(1 for raw in sandbox.vtiger.accounts.values() if raw.get("cf_854"))


async def test_revised_accounts_update_the_snapshot_never_the_hub(
    db: Database, sandbox: RunningSandbox, vtiger: VtigerClient
) -> None:
    await import_customers(db, vtiger.settings, vtiger)
    first, second = sorted(sandbox.vtiger.accounts)[:2]
    await db.pool.execute("update customer set city = 'Hubby' where vtiger_id = $1", first)
    before = await db.pool.fetchrow("select * from customer where vtiger_id = $1", second)
    sandbox.vtiger.revise({"id": first, "bill_city": "Nyby"})
    sandbox.vtiger.revise({"id": second, "phone": "11 22 33 44", "accountname": "Omdøbt & Co"})

    summary = await import_customers(db, vtiger.settings, vtiger)

    assert summary.created == 0 and summary.watermark == "2027-01-04 09:30:00"
    assert summary.read == summary.already_in_hub >= 2
    assert await db.pool.fetchval("select city from customer where vtiger_id = $1", first) == "Hubby"
    after = await db.pool.fetchrow("select * from customer where vtiger_id = $1", second)
    assert dict(after) == dict(before)
    snapshots = {row["remote_id"]: row for row in await db.pool.fetch(
        "select * from remote_snapshot where remote_id = any($1::text[])", [first, second])}
    assert json.loads(snapshots[first]["values"])["bill_city"] == "Nyby"
    assert json.loads(snapshots[second]["values"])["phone"] == "11 22 33 44"
    assert snapshots[second]["remote_modified"] == "2027-01-04 09:30:00"


async def test_new_accounts_with_bad_or_taken_economic_numbers(
    db: Database, sandbox: RunningSandbox, vtiger: VtigerClient
) -> None:
    await import_customers(db, vtiger.settings, vtiger)
    taken = next(raw for raw in sandbox.vtiger.accounts.values() if raw.get("cf_854"))
    owner = "19x1"
    quoted = sandbox.vtiger.create("Accounts", {"accountname": "O'Brien & Sønner", "cf_854": "ukendt",
                                                "assigned_user_id": owner})["id"]
    decimal = sandbox.vtiger.create("Accounts", {"accountname": "Decimal ApS", "cf_854": "77001.00000000",
                                                 "assigned_user_id": owner})["id"]
    twin = sandbox.vtiger.create("Accounts", {"accountname": "Tvilling A/S", "cf_854": taken["cf_854"],
                                              "assigned_user_id": owner})["id"]

    summary = await import_customers(db, vtiger.settings, vtiger)

    assert summary.created == 2
    names = dict(await db.pool.fetch("select vtiger_id, economic_customer_number from customer "
                                     "where vtiger_id = any($1::text[])", [quoted, decimal, twin]))
    assert names == {quoted: None, decimal: 77001}
    assert [w.remote_id for w in summary.warnings] == [quoted]
    assert "'ukendt' is not a number" in summary.warnings[0].reason and "1 warning" in summary.line()
    assert [s.remote_id for s in summary.skipped] == [twin]
    assert f"e-conomic number {taken['cf_854']}" in summary.skipped[0].reason
    assert f"vTiger {taken['id']}" in summary.skipped[0].reason
    snapshot = await db.pool.fetchrow("select * from remote_snapshot where remote_id = $1", twin)
    assert snapshot is not None and snapshot["customer_id"] is None


async def test_two_processes_importing_at_once_create_no_duplicates(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    settings = make_settings(sandbox)
    one, two = VtigerClient(settings, retry=FAST_RETRY), VtigerClient(settings, retry=FAST_RETRY)
    async with one, two:
        first, second = await asyncio.gather(import_customers(db, settings, one),
                                             import_customers(db, settings, two, full=True))
    accounts = len(sandbox.vtiger.accounts)
    assert first.created + second.created == accounts
    assert await db.pool.fetchval("select count(*) from customer") == accounts
    assert await db.pool.fetchval("select count(*) from remote_snapshot") == accounts


async def test_timelogs_import_as_pending_entries_and_leave_decided_ones_alone(
    db: Database, sandbox: RunningSandbox, vtiger: VtigerClient
) -> None:
    timelogs = sandbox.vtiger.records["Timelogs"]
    await import_customers(db, vtiger.settings, vtiger)

    summary = await import_timelogs(db, vtiger.settings, vtiger)

    assert (summary.read, summary.created, summary.skipped) == (len(timelogs), len(timelogs), [])
    assert summary.watermark == newest_modified(timelogs) == await watermark(db, TIMELOGS_WATERMARK)
    assert summary.line().startswith(f"vTiger timelogs: {len(timelogs)} read, {len(timelogs)} new pending")
    entries = {row["remote_id"]: row for row in await db.pool.fetch(
        "select t.*, c.vtiger_id from time_entry t join customer c on c.id = t.customer_id")}
    assert entries.keys() == timelogs.keys()
    for remote_id, raw in timelogs.items():
        entry = entries[remote_id]
        assert entry["vtiger_id"] == raw["related_to"]
        assert entry["status"] == "pending" and entry["billable_hours"] is None
        assert entry["duration_minutes"] == int(raw["duration"])
        assert entry["work_date"] == date.fromisoformat(raw["date_start"])
        assert entry["billable"] == (raw.get("billable") == "1")
        assert entry["description"] == decode_entities(raw.get("description", ""))
        # The wizard shows names a person recognises, keeping the vTiger id for reference.
        contact = sandbox.vtiger.records["Contacts"].get(raw.get("contact_id") or "")
        assert entry["contact"] == (
            f"{contact['firstname']} {contact['lastname']} ({raw['contact_id']})" if contact else None
        )
        case = sandbox.vtiger.records["HelpDesk"].get(raw.get("case_id") or "")
        assert entry["related_case"] == (
            f"{case['ticket_no']} {case['ticket_title']} ({raw['case_id']})" if case else None
        )
    assert any('"Kundeportal"' in entry["description"] for entry in entries.values())

    decided = sorted(entries)[0]
    await db.pool.execute(
        "update time_entry set status = 'approved', billable_hours = 1.25, decided_by = 'mette', "
        "decided_at = now(), description = 'rettet' where remote_id = $1", decided)
    approved = await db.pool.fetchrow("select * from time_entry where remote_id = $1", decided)
    sandbox.vtiger.revise({"id": decided, "duration": "999"})

    again = await import_timelogs(db, vtiger.settings, vtiger, full=True)

    assert (again.read, again.created, again.already_imported) == (len(timelogs), 0, len(timelogs))
    assert await db.pool.fetchrow("select * from time_entry where remote_id = $1", decided) == approved
    assert await db.pool.fetchval("select count(*) from time_entry") == len(timelogs)
    assert [e["event_type"] for e in await audit_events(db)][-2:] == ["import_timelogs"] * 2


async def test_timelogs_without_a_hub_customer_are_read_again_later(
    db: Database, make_settings: MakeSettings
) -> None:
    data = build_remote_data(60)
    extra = {
        "43x90001": {"related_to": ORPHAN_VTIGER_ID, "date_start": "2026-10-05", "duration": "45"},
        "43x90002": {"related_to": "3x1000", "date_start": "2026-10-05", "duration": "lang tid"},
        "43x90003": {"related_to": "3x1000", "date_start": "05-10-2026", "duration": "30"},
        "43x90004": {"related_to": "3x1000", "date_start": "2026-10-06", "duration": "1:30"},
    }
    for number, (remote_id, fields) in enumerate(extra.items()):
        data.vtiger_timelogs[remote_id] = {"id": remote_id, "assigned_user_id": "19x1", "billable": "1",
                                           "modifiedtime": f"2026-10-0{number + 1} 12:00:00", **fields}
    async with serve_sandboxes(SandboxOptions(data=data)) as running:
        settings = make_settings(running)
        async with VtigerClient(settings, retry=FAST_RETRY) as vtiger:
            before = await import_timelogs(db, settings, vtiger)
            assert before.created == 0 and len(before.skipped) == len(data.vtiger_timelogs)
            reasons = {s.remote_id: s.reason for s in before.skipped}
            assert reasons["43x90001"] == f"no hub customer for {ORPHAN_VTIGER_ID} — run `hubtui sync " \
                                          "customers` first"
            earliest = min(raw["modifiedtime"] for raw in data.vtiger_timelogs.values())
            assert before.watermark == await watermark(db, TIMELOGS_WATERMARK) == earliest

            await import_customers(db, settings, vtiger)
            after = await import_timelogs(db, settings, vtiger)

    reasons = {s.remote_id: s.reason for s in after.skipped}
    assert reasons == {"43x90002": "duration 'lang tid' is not a number of minutes",
                       "43x90003": "date '05-10-2026' is not yyyy-mm-dd"}
    assert after.created == len(data.vtiger_timelogs) - 2
    minutes = "select duration_minutes from time_entry where remote_id = '43x90004'"
    assert await db.pool.fetchval(minutes) == 90
    assert after.watermark == newest_modified(data.vtiger_timelogs)


async def test_a_missing_timelog_field_names_the_field_and_setting(
    db: Database, sandbox: RunningSandbox, make_settings: MakeSettings
) -> None:
    settings = make_settings(sandbox, vtiger_timelog_duration_field="nope")
    async with VtigerClient(settings, retry=FAST_RETRY) as vtiger:
        await import_customers(db, settings, vtiger)
        with pytest.raises(ConfigurationError, match=r"'nope'.*VTIGER_TIMELOG_DURATION_FIELD"):
            await import_timelogs(db, settings, vtiger)
    assert await db.pool.fetchval("select count(*) from time_entry") == 0
    assert await watermark(db, TIMELOGS_WATERMARK) is None
    failed = (await audit_events(db))[-1]
    assert (failed["event_type"], failed["outcome"]) == ("import_timelogs", "failed")
    assert "VTIGER_TIMELOG_DURATION_FIELD" in failed["message"]


async def test_server_trouble_mid_import_retries_through_or_writes_nothing(
    db: Database, make_settings: MakeSettings
) -> None:
    # One page in flight and at most two in hand, so page 300 is only asked for once the import has
    # stored page 0 and taken page 100: trouble that starts after the first page surely hits a later one.
    async with serve_sandboxes(SandboxOptions(companies=450)) as sandbox:
        sandbox.vtiger.now = lambda: LATER  # type: ignore[method-assign]
        settings = make_settings(sandbox, vtiger_max_concurrency=1)
        async with VtigerClient(settings, retry=FAST_RETRY) as vtiger:
            await _server_trouble_mid_import(db, sandbox, vtiger)


async def _server_trouble_mid_import(db: Database, sandbox: RunningSandbox, vtiger: VtigerClient) -> None:
    faults = sandbox.vtiger.faults

    def errors_after_first_page(done: int, total: int | None) -> None:
        if done == 100:
            faults.error_rate = 1.0

    with pytest.raises(Unavailable) as failure:
        await import_customers(db, vtiger.settings, vtiger, progress=errors_after_first_page)
    assert isinstance(failure.value, ConnectorError) and failure.value.status == 500
    assert await db.pool.fetchval("select count(*) from customer") == 0
    assert await db.pool.fetchval("select count(*) from remote_snapshot") == 0
    assert await watermark(db, ACCOUNTS_WATERMARK) is None
    failed = (await audit_events(db))[-1]
    assert (failed["event_type"], failed["outcome"]) == ("import_customers", "failed")
    assert failed["message"] == str(failure.value)

    faults.error_rate = 0.0
    faults.retry_after_s = 0

    def burst_after_first_page(done: int, total: int | None) -> None:
        if done == 100:
            faults.burst_429 = 2

    summary = await import_customers(db, vtiger.settings, vtiger, progress=burst_after_first_page)
    assert summary.created == len(sandbox.vtiger.accounts)
    assert faults.burst_429 == 0  # both 429s were met, and waited out
    mark = await watermark(db, ACCOUNTS_WATERMARK)

    sandbox.vtiger.revise({"id": ORPHAN_VTIGER_ID, "bill_city": "Skagen"})
    faults.error_rate = 1.0
    with pytest.raises(Unavailable):
        await import_customers(db, vtiger.settings, vtiger)
    assert await watermark(db, ACCOUNTS_WATERMARK) == mark
    snapshot = await db.pool.fetchval("select values from remote_snapshot where remote_id = $1",
                                      ORPHAN_VTIGER_ID)
    assert json.loads(snapshot)["bill_city"] == "Frederikshavn"


async def test_thousands_of_accounts_import_quickly(db: Database, make_settings: MakeSettings) -> None:
    data: RemoteData = build_remote_data(2500)
    async with serve_sandboxes(SandboxOptions(data=data)) as running:
        settings = make_settings(running)
        async with VtigerClient(settings, retry=FAST_RETRY) as vtiger:
            started = time.perf_counter()
            summary = await import_customers(db, settings, vtiger)
            elapsed = time.perf_counter() - started
    assert summary.created == len(data.vtiger_accounts) == 2501
    assert await db.pool.fetchval("select count(distinct vtiger_id) from customer") == 2501
    assert elapsed < 10, f"{elapsed:.1f} s for 2,501 accounts"


def test_value_parsers() -> None:
    assert parse_economic_number(" 1001 ") == (1001, None)
    assert parse_economic_number("1001.00000000") == (1001, None)
    assert parse_economic_number("") == (None, None)
    assert parse_economic_number("12.5")[0] is None and parse_economic_number("abc")[1]
    assert parse_economic_number("99999999999")[1] == "99999999999 is out of range"
    assert parse_minutes("90") == (90, None) and parse_minutes(" 1:30 ") == (90, None)
    assert parse_minutes("90,4") == (90, None) and parse_minutes("45.5") == (46, None)
    assert parse_minutes("0")[0] is None and parse_minutes("-5")[0] is None and parse_minutes("")[0] is None
    assert parse_minutes("NaN")[0] is None and parse_minutes("1e9")[0] is None
    assert parse_work_date("2026-10-05") == (date(2026, 10, 5), None)
    assert parse_work_date("2026-10-05 08:00:00") == (date(2026, 10, 5), None)
    assert parse_work_date("2026-13-05")[0] is None


def test_actor_names_the_ssh_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    local = actor()
    monkeypatch.setenv("SSH_CONNECTION", "10.1.2.3 52114 10.1.2.4 22")
    assert actor() == f"{local} via ssh from 10.1.2.3"
