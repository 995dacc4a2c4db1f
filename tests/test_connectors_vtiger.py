"""The vTiger connector against the sandbox vTiger over real HTTP, both flavours (REST and webservice.php)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from page_times import PageTimes

from hubtui.config import Settings
from hubtui.connectors import vtiger as vtiger_module
from hubtui.connectors.base import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    ConnectorTimeout,
    MalformedResponse,
    NotFound,
    RatePacer,
    RetryPolicy,
    Unavailable,
    ValidationFailed,
)
from hubtui.connectors.vtiger import (
    VtigerClient,
    decode_entities,
    rest_base_url,
    vtql_identifier,
    vtql_quote,
    vtql_timestamp,
    webservice_root_url,
)
from hubtui.sandbox.faults import VtigerFaults
from hubtui.sandbox.server import (
    SANDBOX_VTIGER_ACCESS_KEY,
    SANDBOX_VTIGER_USERNAME,
    RunningSandbox,
    SandboxOptions,
    serve_sandboxes,
)

COMPANIES = 450  # several pages of 100
FAST_RETRY = RetryPolicy(wait_base=0.01, wait_max=0.05, max_retry_after=0.05)
FLAVOURS = ["rest", "webservice"]


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=COMPANIES)) as running:
        yield running


@pytest.fixture(scope="module")
async def big_sandbox() -> AsyncIterator[RunningSandbox]:
    """Enough pages (16) for the pages in hand to reach their limit."""
    async with serve_sandboxes(SandboxOptions(companies=1500)) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    sandbox.vtiger.faults = VtigerFaults()
    sandbox.vtiger.reset_flood_control()
    sandbox.vtiger.reset_log()
    yield


def make_settings(sandbox: RunningSandbox, flavour: str = "rest", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "vtiger_url": sandbox.vtiger_url,
        "vtiger_username": SANDBOX_VTIGER_USERNAME,
        "vtiger_api_key": SANDBOX_VTIGER_ACCESS_KEY,
        "vtiger_api_flavour": flavour,
        "vtiger_sync_enabled": True,
        "http_timeout_seconds": 5.0,
        "http_max_retries": 3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def client_for(sandbox: RunningSandbox, flavour: str = "rest", **overrides: Any) -> VtigerClient:
    return VtigerClient(make_settings(sandbox, flavour, **overrides), retry=FAST_RETRY)


# Pure helpers.


def test_vtql_quote_doubles_quotes_and_keeps_unicode() -> None:
    assert vtql_quote("O'Brien & Sønner") == "'O''Brien & Sønner'"
    assert vtql_quote("a\\") == "'a\\\\'"


def test_vtql_identifier_refuses_anything_but_a_name() -> None:
    assert vtql_identifier("cf_856") == "cf_856"
    for bad in ("accountname = 'x' or 1", "Accounts;", "", "1abc"):
        with pytest.raises(ValueError):
            vtql_identifier(bad)


def test_vtql_timestamp_is_utc() -> None:
    moment = datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=1)))
    assert vtql_timestamp(moment) == "2026-01-01 00:30:00"
    assert vtql_timestamp(datetime(2026, 5, 4, 3, 2, 1)) == "2026-05-04 03:02:01"


def test_decode_entities_recurses_into_records() -> None:
    record = {"accountname": "A &amp; B", "tags": ["&quot;x&quot;"], "n": 3, "&amp;": None}
    assert decode_entities(record) == {"accountname": "A & B", "tags": ['"x"'], "n": 3, "&amp;": None}


def test_urls() -> None:
    assert (
        rest_base_url("https://acme.od2.vtiger.com")
        == "https://acme.od2.vtiger.com" + "/restapi/v1/vtiger/default"
    )
    assert rest_base_url("https://a/restapi/v1/vtiger/default/") == "https://a/restapi/v1/vtiger/default"
    assert webservice_root_url("https://crm.example.com/vt/webservice.php") == "https://crm.example.com/vt/"


def test_error_text_is_one_readable_line() -> None:
    error = ValidationFailed(
        "vtiger",
        "assigned_user_id does not have a value.",
        code="MANDATORY_FIELDS_MISSING",
        field_errors=[("assigned_user_id", "does not have a value")],
    )
    assert str(error) == (
        "vTiger: assigned_user_id does not have a value (MANDATORY_FIELDS_MISSING)"
        " — assigned_user_id: does not have a value"
    )


class FakeTime:
    """A clock and a sleep that advances it, so pacing is tested without waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def flood_headers(remaining: int, reset_in: float, now: float, limit: int = 60) -> dict[str, str]:
    return {
        "X-FloodControl-MinuteLimit": str(limit),
        "X-FloodControl-Remaining": str(remaining),
        "X-FloodControl-Reset": str(int(now + reset_in)),  # an epoch second, as documented
        "X-RateLimit-DailyLimit": "6000",
        "X-RateLimit-Remaining": "5000",
    }


async def test_pacer_waits_for_the_reset_when_the_budget_is_nearly_spent() -> None:
    fake = FakeTime()
    pacer = RatePacer(reserve=2, clock=fake.clock, sleep=fake.sleep)
    await pacer.wait_turn()  # nothing seen yet: no wait
    pacer.observe(flood_headers(remaining=2, reset_in=20, now=fake.now))
    await pacer.wait_turn()
    assert fake.slept == [pytest.approx(20, abs=1)]
    assert pacer.budget is not None and pacer.budget.daily_remaining == 5000


async def test_pacer_spreads_requests_when_the_budget_runs_low() -> None:
    fake = FakeTime()
    pacer = RatePacer(reserve=2, clock=fake.clock, sleep=fake.sleep)
    pacer.observe(flood_headers(remaining=50, reset_in=30, now=fake.now))
    await pacer.wait_turn()
    assert fake.slept == []  # plenty left: full speed
    pacer.observe(flood_headers(remaining=10, reset_in=30, now=fake.now))
    for _ in range(3):
        await pacer.wait_turn()
    # 10 left for 30 s: about 3 s apart; the local count goes down while answers are still outstanding
    assert len(fake.slept) == 3 and all(2.5 < wait < 3.5 for wait in fake.slept)
    assert pacer.budget is not None and pacer.budget.minute_remaining == 7


async def test_pacer_never_waits_longer_than_its_cap() -> None:
    fake = FakeTime()
    pacer = RatePacer(reserve=2, max_wait=65, clock=fake.clock, sleep=fake.sleep)
    pacer.observe({"X-FloodControl-Remaining": "0", "X-FloodControl-Reset": "15349121212"})  # the doc's value
    await pacer.wait_turn()
    assert fake.slept == [65]


async def test_pacer_reads_a_small_reset_as_seconds_from_now() -> None:
    fake = FakeTime()
    pacer = RatePacer(reserve=2, clock=fake.clock, sleep=fake.sleep)
    pacer.observe({"X-FloodControl-Remaining": "1", "X-FloodControl-Reset": "12"})  # the sandbox's form
    assert pacer.budget is not None and pacer.budget.minute_reset_at == fake.now + 12
    await pacer.wait_turn()
    assert fake.slept == [12]


async def test_pacer_keeps_the_earliest_reset_of_a_window() -> None:
    fake = FakeTime()
    pacer = RatePacer(reserve=2, clock=fake.clock, sleep=fake.sleep)
    start = fake.now
    pacer.observe({"X-FloodControl-Remaining": "5", "X-FloodControl-Reset": "10"})
    fake.now += 0.9  # whole seconds: 9.1 s left is still "10", and an early answer can arrive late
    pacer.observe({"X-FloodControl-Remaining": "6", "X-FloodControl-Reset": "10"})
    assert pacer.budget is not None
    assert pacer.budget.minute_reset_at == start + 10 and pacer.budget.minute_remaining == 5
    pacer.observe({"X-FloodControl-Remaining": "2", "X-FloodControl-Reset": "10"})
    await pacer.wait_turn()
    assert fake.slept == [pytest.approx(9.1)]  # until the earliest reset, not the latest answer's 10 s
    pacer.observe({"X-FloodControl-Remaining": "59", "X-FloodControl-Reset": "60"})  # the next window
    assert pacer.budget.minute_reset_at == fake.now + 60 and pacer.budget.minute_remaining == 59


async def test_pacer_spreads_over_at_most_its_cap_whatever_the_reset_says() -> None:
    fake = FakeTime()
    pacer = RatePacer(reserve=2, max_wait=60, clock=fake.clock, sleep=fake.sleep)
    # 10 of 60 left, with a reset centuries away (a skewed clock or another unit): spread over 60 s at
    # most, not one request a minute
    pacer.observe({"X-FloodControl-MinuteLimit": "60", "X-FloodControl-Remaining": "10",
                   "X-FloodControl-Reset": "15349121212"})
    await pacer.wait_turn()
    assert fake.slept == [pytest.approx(6)]


# Reads.


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_connection_test_names_the_user(sandbox: RunningSandbox, flavour: str) -> None:
    async with client_for(sandbox, flavour) as crm:
        report = await crm.connection_test()
    assert report["status"] == "connected"
    assert report["flavour"] == flavour
    assert report["user_name"] == SANDBOX_VTIGER_USERNAME
    assert report["sync_enabled"] is True
    if flavour == "rest":  # flood-control headers are a vTiger Cloud thing
        assert report["rate_limit"]["minute_remaining"] is not None


async def test_module_connection_test_opens_and_closes_its_own_client(sandbox: RunningSandbox) -> None:
    report = await vtiger_module.connection_test(make_settings(sandbox))
    assert report["status"] == "connected"


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_query_pages_past_the_100_row_cap(sandbox: RunningSandbox, flavour: str, concurrency: int) -> None:
    expected = len(sandbox.vtiger.accounts)
    assert expected > 300 and expected % 100  # the last page is short
    async with client_for(sandbox, flavour, vtiger_max_concurrency=concurrency) as crm:
        before = crm.request_count
        rows = await crm.query("select * from Accounts")
        sent = crm.request_count - before
    assert len(rows) == expected
    assert [row["id"] for row in rows] == sorted(sandbox.vtiger.accounts, key=lambda i: int(i.split("x")[1]))
    login = 2 if flavour == "webservice" else 0  # getchallenge + login
    pages = expected // 100 + 1
    # Pages are asked for ahead; the ones past the short last page can have gone out in its round.
    assert pages + login <= sent <= pages + login + concurrency - 1


async def test_query_keeps_a_given_order_and_adds_id_as_tie_breaker(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox) as crm:
        rows = await crm.query("select accountname, bill_city from Accounts order by bill_city;")
    assert len(rows) == len(sandbox.vtiger.accounts)
    assert len({row["id"] for row in rows}) == len(rows)


async def test_query_refuses_a_limit_of_its_own(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox) as crm:
        with pytest.raises(ValueError, match="LIMIT"):
            await crm.query("select * from Accounts limit 5;")
        # the word inside a quoted value is data, not a clause
        assert await crm.query("select * from Accounts where accountname = 'No limit ApS'") == []


def query_offset(request: httpx.Request) -> int:
    match = re.search(r"limit (\d+),", request.url.params.get("query", ""))
    return int(match.group(1)) if match else -1


def pages_first_id(sandbox: RunningSandbox) -> str:
    return min(sandbox.vtiger.accounts, key=lambda record_id: int(record_id.split("x")[1]))


def page_tasks_left() -> list[asyncio.Task[Any]]:
    """Page fetches of `query_pages` still running."""
    return [task for task in asyncio.all_tasks()
            if "query_pages" in task.get_coro().__qualname__ and not task.done()]  # type: ignore[union-attr]


async def test_pages_are_fetched_several_at_a_time_and_yielded_in_order(sandbox: RunningSandbox) -> None:
    expected = len(sandbox.vtiger.accounts)
    async with client_for(sandbox, vtiger_max_concurrency=1) as crm:
        one_at_a_time = await crm.query("select * from Accounts")
    sandbox.vtiger.faults.latency_ms = 50  # every answer takes 50 ms: what overlaps is plain to see
    times = PageTimes(query_offset)
    settings = make_settings(sandbox, vtiger_max_concurrency=4)
    async with VtigerClient(settings, transport=times, retry=FAST_RETRY) as crm:
        pages = [page async for page in crm.query_pages("select * from Accounts")]
    assert [row for page in pages for row in page] == one_at_a_time  # the same rows in the same order
    assert [len(page) for page in pages] == [100] * (expected // 100) + [expected % 100]
    # the first page alone (a one-page result wastes nothing), then four at a time
    assert all(times.answered[0] < asked for offset, asked in times.asked.items() if offset)
    assert times.peak == 4
    assert all(times.asked[offset] < times.answered[100] for offset in (100, 200, 300, 400))
    assert not page_tasks_left()


async def test_a_slow_page_does_not_hold_up_the_other_slots(sandbox: RunningSandbox) -> None:
    # Page 100 takes 0.3 s; the three other slots go on: each page asks for the one four after it as soon
    # as it is in, not when the caller has got past the slow page.
    times = PageTimes(query_offset, delay=lambda offset: 0.3 if offset == 100 else 0.0)
    async with VtigerClient(make_settings(sandbox), transport=times, retry=FAST_RETRY) as crm:
        rows = await crm.query("select * from Accounts")
    assert len(rows) == len(sandbox.vtiger.accounts)
    later = [offset for offset, asked in times.asked.items() if asked < times.answered[100] and offset > 400]
    assert later, "no page after the first round was asked for while page 100 was out"
    assert times.peak <= 4


async def test_a_slow_reader_holds_back_the_reading(big_sandbox: RunningSandbox) -> None:
    # An import that writes each page before taking the next must not have every page fetched behind its
    # back: at most twice the concurrency pages are in hand (asked for and not yet taken) at any time.
    times = PageTimes(query_offset)
    taken = 0
    async with VtigerClient(make_settings(big_sandbox), transport=times, retry=FAST_RETRY) as crm:
        async for page in crm.query_pages("select * from Accounts"):
            assert page
            assert max(times.asked) - taken <= 8 * 100
            await asyncio.sleep(0.02)  # the sandbox answers far faster than this reader reads
            taken += 100
    assert taken == 1600
    assert max(times.asked) <= 1500 + 300  # the last page (1500) is short: at most concurrency - 1 past it
    assert not page_tasks_left()


async def test_a_slow_page_and_a_slow_reader_together_still_give_every_row_in_order(
    big_sandbox: RunningSandbox,
) -> None:
    # While page 100 is out the other slots run ahead until the pages in hand reach their limit; the pages
    # held back then must still come in order when the reader gets to them.
    async with client_for(big_sandbox, vtiger_max_concurrency=1) as crm:
        expected = await crm.query("select * from Accounts")
    times = PageTimes(query_offset, delay=lambda offset: 0.3 if offset == 100 else 0.0)
    rows: list[dict[str, Any]] = []
    async with VtigerClient(make_settings(big_sandbox), transport=times, retry=FAST_RETRY) as crm:
        async for page in crm.query_pages("select * from Accounts"):
            await asyncio.sleep(0.02)
            rows.extend(page)
    assert rows == expected
    assert not page_tasks_left()


async def test_a_bulk_read_asks_for_a_whole_first_round(sandbox: RunningSandbox) -> None:
    sandbox.vtiger.faults.latency_ms = 50
    times = PageTimes(query_offset)
    async with VtigerClient(make_settings(sandbox), transport=times, retry=FAST_RETRY) as crm:
        rows = await crm.query("select * from Accounts", bulk=True)
        assert len(rows) == len(sandbox.vtiger.accounts)
        # pages 0-300 went out together, before the first of them was answered
        assert all(times.asked[offset] < times.answered[0] for offset in (0, 100, 200, 300))
        # a small result read as bulk costs at most concurrency - 1 requests more than needed
        before = crm.request_count
        few = await crm.query(f"select id from Accounts where id = '{pages_first_id(sandbox)}'", bulk=True)
        assert len(few) == 1 and crm.request_count - before == 4
    assert not page_tasks_left()


async def test_a_result_of_whole_pages_ends_at_the_empty_page(sandbox: RunningSandbox) -> None:
    numbers = sorted(int(record_id.split("x")[1]) for record_id in sandbox.vtiger.accounts)
    last = f"3x{numbers[199]}"
    async with client_for(sandbox) as crm:
        pages = [page async for page in crm.query_pages(f"select id from Accounts where id <= '{last}'")]
    assert [len(page) for page in pages] == [100, 100, 0]
    assert [row["id"] for page in pages for row in page] == [f"3x{n}" for n in numbers[:200]]


async def test_a_failing_page_ends_the_read_and_leaves_nothing_running(sandbox: RunningSandbox) -> None:
    times = PageTimes(query_offset, fail_page=200)
    settings = make_settings(sandbox, http_max_retries=0)
    async with VtigerClient(settings, transport=times, retry=FAST_RETRY) as crm:
        with pytest.raises(Unavailable):
            await crm.query("select * from Accounts")
        assert not page_tasks_left()


async def test_stopping_early_leaves_nothing_running(sandbox: RunningSandbox) -> None:
    times = PageTimes(query_offset, delay=lambda offset: 1.0 if offset >= 200 else 0.0)  # out for a second
    async with VtigerClient(make_settings(sandbox), transport=times, retry=FAST_RETRY) as crm:
        started = time.perf_counter()
        async with contextlib.aclosing(crm.query_pages("select * from Accounts")) as pages:
            async for page in pages:
                if page[0]["id"] != pages_first_id(sandbox):
                    assert len(page_tasks_left()) >= 3  # offsets 200-400 are on their way
                    break
        assert not page_tasks_left()
        assert time.perf_counter() - started < 0.9  # cancelled, not waited for
        assert 300 not in times.answered


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_quoted_name_is_found(sandbox: RunningSandbox, flavour: str) -> None:
    record_id = next(iter(sandbox.vtiger.accounts))
    name = "O'Brien & Sønner"
    async with client_for(sandbox, flavour) as crm:
        written = await crm.revise(record_id, {"accountname": name})
        assert written.outcome == "written"
        found = await crm.find("Accounts", "accountname", name)
    assert [row["id"] for row in found] == [record_id]
    assert found[0]["accountname"] == name


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_html_encoded_values_come_back_as_text(sandbox: RunningSandbox, flavour: str) -> None:
    record_id, stored = next(
        (key, row) for key, row in sandbox.vtiger.accounts.items() if "&amp;" in row.get("accountname", "")
    )
    async with client_for(sandbox, flavour) as crm:
        record = await crm.retrieve(record_id)
        rows = await crm.find("Accounts", "accountname", record["accountname"])
    assert record["accountname"] == stored["accountname"].replace("&amp;", "&")
    assert record_id in {row["id"] for row in rows}
    assert all("&amp;" not in row["accountname"] for row in rows)


async def test_describe_is_cached_and_gives_the_id_prefix(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox) as crm:
        assert await crm.id_prefix("Accounts") == "3"
        assert {"accountname", "cf_854", "cf_856"} <= await crm.field_names("Accounts")
        before = crm.request_count
        await crm.describe("Accounts")
        assert crm.request_count == before


async def test_modified_since_reads_only_what_changed(sandbox: RunningSandbox) -> None:
    record_id = list(sandbox.vtiger.accounts)[5]
    since = datetime.now(UTC) - timedelta(seconds=2)
    async with client_for(sandbox) as crm:
        await crm.revise(record_id, {"bill_city": "Aarhus C"})
        changed = await crm.modified_since("Accounts", since)
    assert record_id in {row["id"] for row in changed}
    assert len(changed) < len(sandbox.vtiger.accounts)


async def test_a_missing_record_is_not_found(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox) as crm:
        with pytest.raises(NotFound) as caught:
            await crm.retrieve("3x987654")
    assert caught.value.code == "RECORD_NOT_FOUND"


# Writes.


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_revise_sends_only_the_changed_fields(sandbox: RunningSandbox, flavour: str) -> None:
    record_id = list(sandbox.vtiger.accounts)[3]
    before = dict(sandbox.vtiger.accounts[record_id])
    async with client_for(sandbox, flavour) as crm:
        result = await crm.revise(record_id, {"bill_city": "Odense C"})
    assert result.outcome == "written" and result.written
    assert result.payload == {"id": record_id, "bill_city": "Odense C"}
    assert result.response["bill_city"] == "Odense C"
    [entry] = sandbox.vtiger.write_log
    element = entry.body["element"]
    assert element == {"id": record_id, "bill_city": "Odense C"}
    after = sandbox.vtiger.accounts[record_id]
    assert after["accountname"] == before["accountname"]


async def test_sync_disabled_makes_revise_a_no_op(sandbox: RunningSandbox) -> None:
    record_id = next(iter(sandbox.vtiger.accounts))
    async with client_for(sandbox, vtiger_sync_enabled=False) as crm:
        result = await crm.revise(record_id, {"bill_city": "Nowhere"})
    assert result.outcome == "disabled"
    assert "VTIGER_SYNC_ENABLED=false" in result.reason
    assert sandbox.vtiger.request_count == 0
    assert sandbox.vtiger.write_log == []


async def test_a_rejected_write_names_the_field(sandbox: RunningSandbox) -> None:
    record_id = next(iter(sandbox.vtiger.accounts))
    async with client_for(sandbox) as crm:
        with pytest.raises(ValidationFailed) as caught:
            await crm.revise(record_id, {"accountname": ""})
    assert caught.value.code == "MANDATORY_FIELDS_MISSING"
    assert caught.value.field_errors[0][0] == "accountname"
    assert str(caught.value).startswith("vTiger: accountname does not have a value")


# Sessions (webservice.php).


async def test_an_expired_session_is_renewed_once(sandbox: RunningSandbox) -> None:
    record_id = next(iter(sandbox.vtiger.accounts))
    async with client_for(sandbox, "webservice") as crm:
        await crm.retrieve(record_id)
        sandbox.vtiger.expire_sessions()
        before = crm.request_count
        record = await crm.retrieve(record_id)
        # the refused call, getchallenge, login, the call again
        assert crm.request_count - before == 4
    assert record["id"] == record_id


async def test_a_session_that_dies_again_at_once_is_an_auth_error_not_a_loop(sandbox: RunningSandbox) -> None:
    sandbox.vtiger.faults.session_idle_s = 0.0  # every session is dead by its first use
    async with client_for(sandbox, "webservice") as crm:
        with pytest.raises(AuthError) as caught:
            await crm.describe("Accounts")
        # getchallenge, login, refused call; once more; then give up
        assert crm.request_count == 6
    assert caught.value.code == "INVALID_SESSIONID"


# Failures.


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_wrong_credentials_are_an_auth_error(sandbox: RunningSandbox, flavour: str) -> None:
    async with client_for(sandbox, flavour, vtiger_api_key="WrongKey12345678") as crm:
        with pytest.raises(AuthError) as caught:
            await crm.me()
    assert caught.value.code == "INVALID_USER_CREDENTIALS"
    assert "VTIGER_API_KEY" in str(caught.value)
    assert "WrongKey12345678" not in str(caught.value)


async def test_missing_url_is_a_configuration_error(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, vtiger_url=None) as crm:
        with pytest.raises(ConfigurationError, match="VTIGER_URL"):
            await crm.me()


async def test_429_then_success_honours_retry_after(sandbox: RunningSandbox) -> None:
    sandbox.vtiger.faults.burst_429 = 1
    sandbox.vtiger.faults.retry_after_s = 1
    async with VtigerClient(make_settings(sandbox), retry=RetryPolicy(wait_base=0.01)) as crm:
        started = time.monotonic()
        me = await crm.me()
        elapsed = time.monotonic() - started
        assert crm.request_count == 2
    assert me["user_name"] == SANDBOX_VTIGER_USERNAME
    assert elapsed >= 0.9


async def test_a_burst_of_429_is_ridden_out(sandbox: RunningSandbox) -> None:
    sandbox.vtiger.faults.burst_429 = 3
    async with client_for(sandbox) as crm:
        rows = await crm.query("select * from Accounts")
    assert len(rows) == len(sandbox.vtiger.accounts)


async def test_server_errors_are_retried_then_reported(sandbox: RunningSandbox) -> None:
    sandbox.vtiger.faults.error_rate = 1.0
    async with client_for(sandbox, http_max_retries=2) as crm:
        with pytest.raises(Unavailable) as caught:
            await crm.me()
        assert crm.request_count == 3
    assert caught.value.status == 500


async def test_a_revise_is_repeated_after_a_server_error_as_it_sets_the_same_values(sandbox: RunningSandbox) -> None:
    sandbox.vtiger.faults.error_rate = 1.0
    async with client_for(sandbox, http_max_retries=3) as crm:
        with pytest.raises(Unavailable):
            await crm.revise(next(iter(sandbox.vtiger.accounts)), {"bill_city": "X"})
        assert crm.request_count == 4  # the first and 3 retries, then the caller settles it by reading back


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_timeout_is_a_typed_error(sandbox: RunningSandbox, flavour: str) -> None:
    async with client_for(sandbox, flavour, http_timeout_seconds=0.3, http_max_retries=0) as crm:
        if flavour == "webservice":
            await crm.describe("Accounts")  # log in first, so the timeout hits the read
        sandbox.vtiger.faults.timeout_next = 1
        with pytest.raises(ConnectorTimeout) as caught:
            await crm.retrieve(next(iter(sandbox.vtiger.accounts)))
    assert "0.3 s" in str(caught.value)


async def test_a_read_that_timed_out_is_retried(sandbox: RunningSandbox) -> None:
    sandbox.vtiger.faults.timeout_next = 1
    async with client_for(sandbox, http_timeout_seconds=0.3) as crm:
        assert (await crm.me())["user_name"] == SANDBOX_VTIGER_USERNAME


async def test_malformed_json_is_a_typed_error(sandbox: RunningSandbox) -> None:
    sandbox.vtiger.faults.malformed_next = 4  # every attempt: the first and the 3 retries
    async with client_for(sandbox) as crm:
        with pytest.raises(MalformedResponse) as caught:
            await crm.me()
        assert crm.request_count == 4
    assert "not JSON" in str(caught.value)
    assert isinstance(caught.value, ConnectorError)
    assert (caught.value.request, caught.value.attempts) == ("GET /me", 4)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_malformed_answer_to_a_read_is_asked_for_again(sandbox: RunningSandbox, flavour: str) -> None:
    record_id = pages_first_id(sandbox)
    async with client_for(sandbox, flavour) as crm:
        await crm.describe("Accounts")  # logged in (webservice), so the fault hits the read itself
        sent = crm.request_count
        sandbox.vtiger.faults.malformed_next = 1
        record = await crm.retrieve(record_id)
        assert crm.request_count == sent + 2
    assert record["id"] == record_id and record["accountname"] == sandbox.vtiger.accounts[record_id]["accountname"]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_malformed_query_page_is_asked_for_again_and_no_row_is_lost(
    sandbox: RunningSandbox, flavour: str
) -> None:
    garbled: list[int] = []

    def garble_once(offset: int) -> bool:
        # The third page comes back cut in half the first time it is asked for.
        if offset == 200 and offset not in garbled:
            garbled.append(offset)
            return True
        return False

    times = PageTimes(query_offset, garble=garble_once)
    settings = make_settings(sandbox, flavour)
    async with VtigerClient(settings, transport=times, retry=FAST_RETRY) as crm:
        rows = await crm.query("select * from Accounts")
    assert garbled == [200]
    assert [row["id"] for row in rows] == sorted(sandbox.vtiger.accounts, key=lambda i: int(i.split("x")[1]))


async def test_a_query_page_that_stays_malformed_is_named_in_the_error(sandbox: RunningSandbox) -> None:
    times = PageTimes(query_offset, garble=lambda offset: offset == 300)
    async with VtigerClient(make_settings(sandbox), transport=times, retry=FAST_RETRY) as crm:
        with pytest.raises(MalformedResponse) as caught:
            await crm.query("select * from Accounts")
        assert not page_tasks_left()
    error = caught.value
    assert (error.request, error.attempts) == ("GET /query page 4 (offset 300)", 4)
    assert str(error).startswith("vTiger: GET /query page 4 (offset 300) answered HTTP 200 with something that "
                                 "is not JSON")


async def test_a_query_result_that_is_not_a_list_is_asked_for_again() -> None:
    answers = [{"success": True, "result": {"accountname": "not a page of rows"}},
               {"success": True, "result": [{"id": "3x1", "accountname": "Aarhus Byg ApS"}]}]
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["query"])
        return httpx.Response(200, json=answers[min(len(asked), len(answers)) - 1])

    settings = Settings(_env_file=None, vtiger_url="http://vtiger.invalid", vtiger_username="api@example.com",  # type: ignore[call-arg]
                        vtiger_api_key="key-1234", http_max_retries=1)
    async with VtigerClient(settings, transport=httpx.MockTransport(answer), retry=FAST_RETRY) as crm:
        assert await crm.query("select id, accountname from Accounts") == [
            {"id": "3x1", "accountname": "Aarhus Byg ApS"}]
        answers[1] = answers[0]
        asked.clear()
        with pytest.raises(MalformedResponse, match=r"GET /query page 1 \(offset 0\) answered without a list"):
            await crm.query("select id from Accounts")
    assert len(asked) == 2  # the first try and the one retry, then it gives up


async def test_pacing_keeps_a_bulk_read_under_the_flood_limit(sandbox: RunningSandbox) -> None:
    # 4 requests a second allowed; /me plus 5 pages of accounts would trip 429 (retries are off) unpaced
    sandbox.vtiger.faults.flood_limit = 4
    sandbox.vtiger.faults.flood_window_s = 1.0
    async with client_for(sandbox, http_max_retries=0, vtiger_max_concurrency=1) as crm:
        await crm.me()
        rows = await crm.query("select * from Accounts")
        budget = crm.rate_budget
        assert crm.request_count == sandbox.vtiger.request_count  # nothing refused, nothing repeated
    assert len(rows) == len(sandbox.vtiger.accounts)
    assert budget is not None and budget.minute_limit == 4 and budget.daily_limit is not None
    assert crm.pacer.waited_seconds > 0


async def test_pacing_holds_with_pages_fetched_ahead(sandbox: RunningSandbox) -> None:
    # 8 requests a second, up to four at a time, no retries: a single 429 would fail the read
    sandbox.vtiger.faults.flood_limit = 8
    sandbox.vtiger.faults.flood_window_s = 1.0
    async with client_for(sandbox, http_max_retries=0, vtiger_max_concurrency=4) as crm:
        await crm.me()
        rows = await crm.query("select * from Accounts")
    assert len(rows) == len(sandbox.vtiger.accounts)
    assert crm.pacer.waited_seconds > 0


# Time entries.


async def test_timelogs_read_through_the_configured_field_names(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox) as crm:
        entries = await vtiger_module.timelogs(crm.settings, None, client=crm)
    assert len(entries) == len(sandbox.vtiger.records["Timelogs"])
    entry = entries[0]
    raw = sandbox.vtiger.records["Timelogs"][entry.id]
    assert entry.account_id == raw["related_to"]
    assert entry.duration == raw["duration"]
    assert entry.billable is (raw.get("billable") == "1")


async def test_a_missing_timelog_field_is_named_with_its_setting(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, vtiger_timelog_duration_field="minutes") as crm:
        with pytest.raises(ConfigurationError) as caught:
            await crm.timelogs()
    expected = "module Timelogs has no field 'minutes' (setting VTIGER_TIMELOG_DURATION_FIELD)"
    assert expected in str(caught.value)


async def test_a_missing_timelog_module_is_named_with_its_setting(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, vtiger_timelog_module="TimeSheets") as crm:
        with pytest.raises(ConfigurationError, match="VTIGER_TIMELOG_MODULE"):
            await crm.timelogs()


# Secrets.


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_secrets_stay_out_of_logs_reprs_and_errors(
    sandbox: RunningSandbox, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = SANDBOX_VTIGER_ACCESS_KEY
    basic = base64.b64encode(f"{SANDBOX_VTIGER_USERNAME}:{key}".encode()).decode()
    errors: list[str] = []
    async with client_for(sandbox, flavour) as crm:
        await crm.query("select * from Accounts where accountname like '%a%'")
        sandbox.vtiger.expire_sessions()
        await crm.describe("Contacts")
        sandbox.vtiger.faults.malformed_next = 4  # on every attempt, so the error is shown
        try:
            await crm.retrieve(next(iter(sandbox.vtiger.accounts)))
        except ConnectorError as error:
            errors += [str(error), repr(error)]
        try:
            await crm.retrieve("3x1")
        except ConnectorError as error:
            errors += [str(error), repr(error)]
        shown = [repr(crm), str(crm), repr(crm.settings.vtiger_api_key), *errors]
    sessions = list(sandbox.vtiger.sessions)
    assert "GET" in caplog.text  # requests are logged ...
    for secret in [key, basic, *sessions]:
        assert secret not in caplog.text  # ... without their secrets
        assert all(secret not in text for text in shown)
