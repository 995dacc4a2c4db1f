"""The e-conomic connector against the sandbox e-conomic over real HTTP, and its write gates."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import jsonschema
import pytest
from api_fixtures import fixture_json
from page_times import PageTimes

from hubtui.config import Settings
from hubtui.connectors import economic as economic_module
from hubtui.connectors.base import (
    AuthError,
    ChangedSinceRead,
    ConfigurationError,
    ConnectorError,
    ConnectorTimeout,
    MalformedResponse,
    NotFound,
    RetryPolicy,
    Unavailable,
    ValidationFailed,
    WriteBlocked,
)
from hubtui.connectors.economic import (
    CUSTOMER_PUT_FIELDS,
    EconomicClient,
    customer_put_body,
    economic_timestamp,
    field_errors,
    filter_value,
    jsonable,
)
from hubtui.sandbox.faults import EconomicFaults
from hubtui.sandbox.server import (
    SANDBOX_ECONOMIC_APP_SECRET,
    SANDBOX_ECONOMIC_GRANT,
    RunningSandbox,
    SandboxOptions,
    serve_sandboxes,
)

COMPANIES = 2100  # three pages of 1000 customers
FAST_RETRY = RetryPolicy(wait_base=0.01, wait_max=0.05, max_retry_after=0.05)
LIVE_WRITES = {"economic_read_only": False, "economic_dry_run": False}
LIVE_DRAFTS = {"timetracking_economic_read_only": False, "timetracking_economic_dry_run": False}


def schema_validator(name: str) -> jsonschema.Draft3Validator:
    return jsonschema.Draft3Validator(fixture_json(f"economic/schemas/{name}"))


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=COMPANIES)) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    sandbox.economic.faults = EconomicFaults()
    sandbox.economic.reset_log()
    yield


def make_settings(sandbox: RunningSandbox, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "economic_api_url": sandbox.economic_url,
        "economic_app_secret_token": SANDBOX_ECONOMIC_APP_SECRET,
        "economic_agreement_grant_token": SANDBOX_ECONOMIC_GRANT,
        "economic_read_only": True,
        "economic_dry_run": True,
        "economic_sync_enabled": True,
        "timetracking_economic_read_only": True,
        "timetracking_economic_dry_run": True,
        "http_timeout_seconds": 5.0,
        "http_max_retries": 3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def client_for(sandbox: RunningSandbox, **overrides: Any) -> EconomicClient:
    return EconomicClient(make_settings(sandbox, **overrides), retry=FAST_RETRY)


def some_customer(sandbox: RunningSandbox, index: int = 0) -> int:
    return sorted(sandbox.economic.customers)[index]


def draft_payload(customer_number: int, reference: str) -> dict[str, Any]:
    return {
        "date": "2026-11-20",
        "currency": "DKK",
        "customer": {"customerNumber": customer_number},
        "layout": {"layoutNumber": 19},
        "paymentTerms": {"paymentTermsNumber": 1},
        "recipient": {"name": "Bølge Montage A/S", "vatZone": {"vatZoneNumber": 1}, "address": None},
        "references": {"other": reference},
        "notes": {"heading": "Timer november", "textLine1": ""},
        "lines": [
            {
                "lineNumber": 1,
                "sortKey": 1,
                "description": "Support, 1,5 timer",
                "product": {"productNumber": "1"},
                "unit": {"unitNumber": 2},
                "quantity": Decimal("1.50"),
                "unitNetPrice": Decimal("850.00"),
                "discountPercentage": 0,
            }
        ],
    }


# Pure helpers.


def test_filter_values_escape_the_special_characters() -> None:
    assert filter_value("a$b(c)*d,e[f]") == "a$$b$(c$)$*d$,e$[f$]"
    assert filter_value("O'Brien & Sønner") == "O'Brien & Sønner"
    assert economic_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"


def test_jsonable_turns_decimals_and_dates_into_json() -> None:
    assert jsonable({"q": Decimal("1.50"), "n": Decimal("2"), "d": datetime(2026, 1, 1).date()}) == {
        "q": 1.5,
        "n": 2,
        "d": "2026-01-01",
    }


def test_field_errors_in_the_object_form_of_a_real_answer() -> None:
    body = fixture_json("economic/samples/error_400_customer_validation.json")
    assert field_errors(body["errors"]) == [("customerGroup", "CustomerGroup '1' not found.")]


def test_field_errors_in_the_array_form_and_nested() -> None:
    array = [{"propertyName": "lines[0].quantity", "errorMessage": "Quantity is required."}]
    nested = {"lines": {"items": [{"quantity": {"errors": [{"errorMessage": "Quantity is required."}]}}]}}
    assert field_errors(array) == [("lines.0.quantity", "Quantity is required.")]
    assert field_errors(nested) == [("lines.0.quantity", "Quantity is required.")]
    assert field_errors(None) == []


def test_error_text_is_one_readable_line() -> None:
    problems = [("name", "Name is required")]
    error = ValidationFailed(
        "economic", "Validation failed", code="E04300", field_errors=problems, log_id="abc"
    )
    assert str(error) == "e-conomic: Validation failed (E04300) — name: Name is required; logId abc"


def test_the_put_body_of_a_real_customer_fits_the_put_schema() -> None:
    customer = fixture_json("economic/samples/customer_get.json")
    body = customer_put_body(customer, {"city": "Aarhus C", "email": None, "mobilePhone": "12345678"})
    read_only = {"self", "lastUpdated", "metaData", "balance", "dueAmount", "contacts", "templates"}
    assert not read_only & set(body)
    assert body["city"] == "Aarhus C" and "email" not in body and body["mobilePhone"] == "12345678"
    assert list(schema_validator("customers.customerNo.put.schema.json").iter_errors(body)) == []


def test_the_writable_customer_fields_are_the_put_schema_ones() -> None:
    properties = fixture_json("economic/schemas/customers.customerNo.put.schema.json")["properties"]
    writable = {name for name, spec in properties.items() if not spec.get("readOnly")}
    assert writable == CUSTOMER_PUT_FIELDS


def test_an_unknown_field_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="invoiceEmail"):
        customer_put_body({"name": "x"}, {"invoiceEmail": "a@b.dk"})


# Reads.


async def test_connection_test_reports_the_agreement_and_the_flags(sandbox: RunningSandbox) -> None:
    report = await economic_module.connection_test(make_settings(sandbox))
    assert report["status"] == "connected"
    assert report["read_only"] is True and report["dry_run"] is True
    assert report["timetracking_read_only"] is True and report["timetracking_dry_run"] is True
    assert report["agreement_number"] and report["company"]


@pytest.mark.parametrize("concurrency", [1, 3, 8])
async def test_customers_page_past_1000(sandbox: RunningSandbox, concurrency: int) -> None:
    expected = len(sandbox.economic.customers)
    assert 2000 < expected <= 3000
    async with client_for(sandbox, economic_max_concurrency=concurrency) as books:
        customers = await books.customers()
        # Pages 0 .. concurrency-1 go out together, before page 0 tells that there are 3: with 8, pages
        # 3-7 are asked for too (and cancelled); otherwise not a request more than the 3 pages.
        assert books.request_count == max(3, concurrency)
    assert [c["customerNumber"] for c in customers] == sorted(sandbox.economic.customers)


def skippages(request: httpx.Request) -> int:
    return int(request.url.params.get("skippages", "-1"))


async def test_the_first_pages_are_asked_for_together(sandbox: RunningSandbox) -> None:
    sandbox.economic.faults.latency_ms = 100  # every answer takes 100 ms: what overlaps is plain to see
    times = PageTimes(skippages)
    settings = make_settings(sandbox, economic_max_concurrency=2)
    async with EconomicClient(settings, transport=times, retry=FAST_RETRY) as books:
        customers = await books.customers()
    assert len(customers) == len(sandbox.economic.customers)
    assert times.peak == 2
    assert times.asked[1] < times.answered[0]  # page 1 did not wait for page 0 to tell the count
    assert times.asked[2] > times.answered[0]  # page 2 waited for a free slot (and for the count)


async def test_without_a_count_the_pages_are_followed_by_next_page() -> None:
    items = [{"customerNumber": n} for n in range(1, 26)]

    def answer(request: httpx.Request) -> httpx.Response:
        size, skip = int(request.url.params["pagesize"]), int(request.url.params["skippages"])
        assert size == 1000
        chunk = items[skip * 10:(skip + 1) * 10]  # a server that pages by 10 and tells no count
        pagination = {"nextPage": f"/customers?skippages={skip + 1}"} if (skip + 1) * 10 < len(items) else {}
        return httpx.Response(200, json={"collection": chunk, "pagination": pagination})

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        economic_api_url="http://economic.invalid",
        economic_app_secret_token="secret-token",
        economic_agreement_grant_token="grant-token",
        economic_max_concurrency=2,
    )
    async with EconomicClient(settings, transport=httpx.MockTransport(answer), retry=FAST_RETRY) as books:
        assert await books.customers() == items


async def test_customers_updated_since_reads_only_recent_changes(sandbox: RunningSandbox) -> None:
    number = some_customer(sandbox, 7)
    since = datetime.now(UTC) - timedelta(seconds=2)
    async with client_for(sandbox, **LIVE_WRITES) as books:
        await books.update_customer(number, {"city": "Skagen"})
        changed = await books.customers(updated_since=since)
    assert [c["customerNumber"] for c in changed] == [number]


async def test_a_missing_customer_is_not_found_with_its_log_id(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox) as books:
        with pytest.raises(NotFound) as caught:
            await books.get_customer(987654321)
    assert caught.value.status == 404 and caught.value.log_id
    assert f"logId {caught.value.log_id}" in str(caught.value)


# Customer writes and their gates.


async def test_update_customer_puts_the_whole_customer_back(sandbox: RunningSandbox) -> None:
    number = some_customer(sandbox, 1)
    before = dict(sandbox.economic.customers[number])
    async with client_for(sandbox, **LIVE_WRITES) as books:
        result = await books.update_customer(
            number, {"city": "Aarhus C"}, expected_last_updated=before["lastUpdated"]
        )
    assert result.outcome == "written"
    [entry] = sandbox.economic.write_log
    assert (entry.method, entry.path) == ("PUT", f"/customers/{number}")
    assert entry.body == result.payload
    assert list(schema_validator("customers.customerNo.put.schema.json").iter_errors(entry.body)) == []
    assert "null" not in json.dumps(entry.body)
    assert not {"self", "lastUpdated", "metaData"} & set(entry.body)
    after = sandbox.economic.customers[number]
    assert after["city"] == "Aarhus C" and after["name"] == before["name"]
    assert result.response["city"] == "Aarhus C"


async def test_clearing_a_field_leaves_it_out(sandbox: RunningSandbox) -> None:
    number = next(n for n, c in sorted(sandbox.economic.customers.items()) if c.get("mobilePhone"))
    async with client_for(sandbox, **LIVE_WRITES) as books:
        result = await books.update_customer(number, {"mobilePhone": None})
    assert "mobilePhone" not in result.payload
    assert "mobilePhone" not in sandbox.economic.customers[number]


async def test_read_only_blocks_before_any_request(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, economic_read_only=True, economic_dry_run=False) as books:
        with pytest.raises(WriteBlocked) as caught:
            await books.update_customer(some_customer(sandbox), {"city": "X"})
        assert books.request_count == 0
    assert caught.value.flag == "ECONOMIC_READ_ONLY"
    assert "ECONOMIC_READ_ONLY" in str(caught.value)
    assert sandbox.economic.write_log == [] and sandbox.economic.request_count == 0


async def test_dry_run_reads_but_sends_nothing_and_returns_the_exact_payload(sandbox: RunningSandbox) -> None:
    number = some_customer(sandbox, 2)
    async with client_for(sandbox, economic_read_only=False, economic_dry_run=True) as books:
        dry = await books.update_customer(number, {"zip": "8000"})
    assert dry.outcome == "dry_run" and "ECONOMIC_DRY_RUN=true" in dry.reason
    assert (dry.method, dry.path) == ("PUT", f"/customers/{number}")
    assert sandbox.economic.write_log == [] and sandbox.economic.request_count == 1  # the GET only
    assert list(schema_validator("customers.customerNo.put.schema.json").iter_errors(dry.payload)) == []
    async with client_for(sandbox, **LIVE_WRITES) as books:
        live = await books.update_customer(number, {"zip": "8000"})
    assert sandbox.economic.write_log[0].body == dry.payload == live.payload


async def test_sync_disabled_sends_nothing_at_all(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, economic_sync_enabled=False, **LIVE_WRITES) as books:
        result = await books.update_customer(some_customer(sandbox), {"city": "X"})
    assert result.outcome == "disabled" and "ECONOMIC_SYNC_ENABLED=false" in result.reason
    assert sandbox.economic.request_count == 0


async def test_a_change_made_since_our_read_is_not_overwritten(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, **LIVE_WRITES) as books:
        with pytest.raises(ChangedSinceRead) as caught:
            await books.update_customer(
                some_customer(sandbox, 3), {"city": "X"}, expected_last_updated="2000-01-01T00:00:00Z"
            )
    assert caught.value.expected == "2000-01-01T00:00:00Z" and caught.value.actual
    assert sandbox.economic.write_log == []


@pytest.mark.parametrize("as_array", [False, True], ids=["errors-object", "errors-array"])
async def test_a_400_names_each_field(sandbox: RunningSandbox, as_array: bool) -> None:
    sandbox.economic.faults.errors_as_array = as_array
    async with client_for(sandbox, **LIVE_WRITES) as books:
        with pytest.raises(ValidationFailed) as caught:
            await books.update_customer(some_customer(sandbox, 4), {"name": "x" * 300, "zip": "z" * 40})
    error = caught.value
    assert error.code == "E04300" and error.status == 400 and error.log_id
    assert {field for field, _ in error.field_errors} == {"name", "zip"}
    text = str(error)
    assert text.startswith("e-conomic: Validation failed. 2 errors found (E04300) — name: Value is too long")
    assert text.endswith(f"logId {error.log_id}")


@pytest.mark.parametrize("as_array", [False, True], ids=["errors-object", "errors-array"])
async def test_a_400_on_a_draft_line_names_the_line(sandbox: RunningSandbox, as_array: bool) -> None:
    sandbox.economic.faults.errors_as_array = as_array
    payload = draft_payload(some_customer(sandbox), "hubtui:bad-line")
    del payload["lines"][0]["quantity"]
    async with client_for(sandbox, **LIVE_DRAFTS) as books:
        with pytest.raises(ValidationFailed) as caught:
            await books.create_draft_order(payload, "bad-line-" + str(as_array))
    assert ("lines.0.quantity", "Quantity is required when a product is set.") in caught.value.field_errors


# Draft orders.


async def test_a_draft_order_is_created_once_per_idempotency_key(sandbox: RunningSandbox) -> None:
    reference = "hubtui:order(42),[nov]*$"  # every character the filter language treats as special
    payload = draft_payload(some_customer(sandbox), reference)
    drafts_before = len(sandbox.economic.drafts)
    async with client_for(sandbox, **LIVE_DRAFTS) as books:
        first = await books.create_draft_order(payload, "hubtui-order-42")
        again = await books.create_draft_order(payload, "hubtui-order-42")
        found = await books.find_drafts_by_reference(reference)
        missing = await books.find_drafts_by_reference("hubtui:order(43)")
        fetched = await books.get_draft(first.response["orderNumber"])
    assert first.outcome == again.outcome == "written"
    assert first.response["orderNumber"] == again.response["orderNumber"]
    assert not first.replayed and again.replayed
    assert len(sandbox.economic.drafts) == drafts_before + 1
    assert [draft["orderNumber"] for draft in found] == [first.response["orderNumber"]]
    assert missing == []
    assert fetched["references"]["other"] == reference
    sent = sandbox.economic.write_log[0].body
    assert sent == first.payload
    assert "null" not in json.dumps(sent) and "textLine1" not in sent["notes"]
    assert list(schema_validator("orders.drafts.post.schema.json").iter_errors(sent)) == []


async def test_a_draft_post_that_timed_out_is_retried_without_a_second_draft(sandbox: RunningSandbox) -> None:
    sandbox.economic.faults.timeout_next = 1
    drafts_before = len(sandbox.economic.drafts)
    async with client_for(sandbox, http_timeout_seconds=0.3, **LIVE_DRAFTS) as books:
        payload = draft_payload(some_customer(sandbox), "hubtui:t")
        result = await books.create_draft_order(payload, "hubtui-t-1")
        assert books.request_count == 2
    assert result.written and len(sandbox.economic.drafts) == drafts_before + 1


async def test_draft_orders_obey_the_timetracking_read_only_flag(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, timetracking_economic_read_only=True, **LIVE_WRITES) as books:
        with pytest.raises(WriteBlocked, match="TIMETRACKING_ECONOMIC_READ_ONLY"):
            await books.create_draft_order(draft_payload(some_customer(sandbox), "x"), "k1")
    assert sandbox.economic.request_count == 0


async def test_draft_orders_dry_run_returns_the_payload_unsent(sandbox: RunningSandbox) -> None:
    payload = draft_payload(some_customer(sandbox), "hubtui:dry")
    settings = {"timetracking_economic_read_only": False, "timetracking_economic_dry_run": True}
    async with client_for(sandbox, **settings) as books:
        result = await books.create_draft_order(payload, "k2")
    assert result.outcome == "dry_run" and "TIMETRACKING_ECONOMIC_DRY_RUN=true" in result.reason
    assert (result.method, result.path) == ("POST", "/orders/drafts")
    assert result.payload["lines"][0]["quantity"] == 1.5
    assert list(schema_validator("orders.drafts.post.schema.json").iter_errors(result.payload)) == []
    assert sandbox.economic.request_count == 0


# Failures.


async def test_wrong_tokens_are_an_auth_error(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, economic_agreement_grant_token="not-the-grant-token") as books:
        with pytest.raises(AuthError) as caught:
            await books.self_info()
    assert caught.value.status == 401
    assert "ECONOMIC_AGREEMENT_GRANT_TOKEN" in str(caught.value)
    assert "not-the-grant-token" not in str(caught.value)


async def test_missing_tokens_are_a_configuration_error(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, economic_app_secret_token="") as books:
        with pytest.raises(ConfigurationError, match="ECONOMIC_APP_SECRET_TOKEN"):
            await books.self_info()
    assert sandbox.economic.request_count == 0


async def test_429_then_success_honours_retry_after(sandbox: RunningSandbox) -> None:
    sandbox.economic.faults.burst_429 = 1
    sandbox.economic.faults.retry_after_s = 1
    async with EconomicClient(make_settings(sandbox), retry=RetryPolicy(wait_base=0.01)) as books:
        started = time.monotonic()
        info = await books.self_info()
        elapsed = time.monotonic() - started
        assert books.request_count == 2
    assert info["agreementNumber"] and elapsed >= 0.9


async def test_server_errors_are_retried_then_reported(sandbox: RunningSandbox) -> None:
    sandbox.economic.faults.error_rate = 1.0
    async with client_for(sandbox, http_max_retries=2) as books:
        with pytest.raises(Unavailable) as caught:
            await books.get_customer(some_customer(sandbox))
        assert books.request_count == 3
    assert caught.value.status == 500 and caught.value.log_id


async def test_a_timeout_is_a_typed_error(sandbox: RunningSandbox) -> None:
    sandbox.economic.faults.timeout_next = 1
    async with client_for(sandbox, http_timeout_seconds=0.3, http_max_retries=0) as books:
        with pytest.raises(ConnectorTimeout, match=r"0\.3 s"):
            await books.self_info()


async def test_malformed_json_is_a_typed_error(sandbox: RunningSandbox) -> None:
    sandbox.economic.faults.malformed_next = 4  # every attempt: the first and the 3 retries
    number = some_customer(sandbox)
    async with client_for(sandbox) as books:
        with pytest.raises(MalformedResponse, match="not JSON") as caught:
            await books.get_customer(number)
        assert books.request_count == 4
    assert (caught.value.request, caught.value.attempts) == (f"GET /customers/{number}", 4)


async def test_a_malformed_answer_to_a_read_is_asked_for_again(sandbox: RunningSandbox) -> None:
    number = some_customer(sandbox, 3)
    sandbox.economic.faults.malformed_next = 1
    async with client_for(sandbox) as books:
        customer = await books.get_customer(number)
        assert books.request_count == 2
    assert customer["customerNumber"] == number and customer["name"] == sandbox.economic.customers[number]["name"]


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_a_malformed_page_is_asked_for_again_and_no_customer_is_lost(
    sandbox: RunningSandbox, concurrency: int
) -> None:
    garbled: list[int] = []

    def garble_once(page: int) -> bool:
        # The second page comes back cut in half the first time it is asked for.
        if page == 1 and page not in garbled:
            garbled.append(page)
            return True
        return False

    times = PageTimes(skippages, garble=garble_once)
    settings = make_settings(sandbox, economic_max_concurrency=concurrency)
    async with EconomicClient(settings, transport=times, retry=FAST_RETRY) as books:
        customers = await books.customers()
    assert garbled == [1]
    assert [c["customerNumber"] for c in customers] == sorted(sandbox.economic.customers)


async def test_a_page_that_stays_malformed_is_named_in_the_error(sandbox: RunningSandbox) -> None:
    times = PageTimes(skippages, garble=lambda page: page == 2)
    async with EconomicClient(make_settings(sandbox), transport=times, retry=FAST_RETRY) as books:
        with pytest.raises(MalformedResponse) as caught:
            await books.customers()
    error = caught.value
    assert (error.request, error.attempts) == ("GET /customers page 3 (skippages=2)", 4)
    assert str(error).startswith("e-conomic: GET /customers page 3 (skippages=2) answered HTTP 200 with "
                                 "something that is not JSON")


async def test_a_page_without_its_collection_is_asked_for_again() -> None:
    asked: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(skippages(request))
        if len(asked) == 1:
            return httpx.Response(200, json={"pagination": {"results": 1, "pageSize": 1000}})  # no collection
        return httpx.Response(200, json={"collection": [{"customerNumber": 7}],
                                         "pagination": {"results": 1, "pageSize": 1000}})

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        economic_api_url="http://economic.invalid",
        economic_app_secret_token="secret-token",
        economic_agreement_grant_token="grant-token",
        economic_max_concurrency=1,
        http_max_retries=1,
    )
    async with EconomicClient(settings, transport=httpx.MockTransport(answer), retry=FAST_RETRY) as books:
        assert await books.customers() == [{"customerNumber": 7}]
    assert asked == [0, 0]


async def test_secrets_stay_out_of_logs_reprs_and_errors(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    async with client_for(sandbox, **LIVE_WRITES, **LIVE_DRAFTS) as books:
        await books.customers()
        await books.update_customer(some_customer(sandbox, 9), {"city": "Ribe"})
        await books.create_draft_order(draft_payload(some_customer(sandbox), "hubtui:s"), "hubtui-s")
        for fault in ("malformed_next", "burst_429"):
            setattr(sandbox.economic.faults, fault, 10)  # more than the retries: the error is shown
            try:
                await books.self_info()
            except ConnectorError as error:
                shown += [str(error), repr(error)]
            setattr(sandbox.economic.faults, fault, 0)
        shown += [repr(books), str(books), repr(books.settings)]
    assert "PUT /customers" in caplog.text
    for secret in (SANDBOX_ECONOMIC_APP_SECRET, SANDBOX_ECONOMIC_GRANT):
        assert secret not in caplog.text
        assert all(secret not in text for text in shown)
