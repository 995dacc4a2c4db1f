"""The sandbox vTiger and e-conomic, over real HTTP: they must behave like the real services."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from api_fixtures import fixture_json

from hubtui.sandbox.demo_data import demo_companies
from hubtui.sandbox.economic.customers import render_customer
from hubtui.sandbox.faults import EconomicFaults, VtigerFaults, faults_from_options, json_bytes
from hubtui.sandbox.remote_data import (
    ECONOMIC_ONLY_CUSTOMER_NUMBER,
    MISSING_FROM_ECONOMIC_INDEX,
    ORPHAN_VTIGER_ID,
    build_remote_data,
)
from hubtui.sandbox.server import (
    SANDBOX_ECONOMIC_APP_SECRET,
    SANDBOX_ECONOMIC_GRANT,
    SANDBOX_VTIGER_ACCESS_KEY,
    SANDBOX_VTIGER_USERNAME,
    RunningSandbox,
    SandboxOptions,
    _bind,
    serve_sandboxes,
)

COMPANIES = 2500  # more than one e-conomic page of 1000, and many vTiger pages of 100


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=COMPANIES)) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_faults(sandbox: RunningSandbox) -> Iterator[None]:
    sandbox.vtiger.faults = VtigerFaults()
    sandbox.economic.faults = EconomicFaults()
    sandbox.vtiger.reset_flood_control()
    sandbox.vtiger.reset_log()
    sandbox.economic.reset_log()
    yield


@pytest.fixture
async def vtiger(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    auth = (SANDBOX_VTIGER_USERNAME, SANDBOX_VTIGER_ACCESS_KEY)
    async with httpx.AsyncClient(base_url=sandbox.vtiger_rest_url, auth=auth, timeout=5) as client:
        yield client


@pytest.fixture
async def economic(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-AppSecretToken": SANDBOX_ECONOMIC_APP_SECRET,
               "X-AgreementGrantToken": SANDBOX_ECONOMIC_GRANT}
    async with httpx.AsyncClient(base_url=sandbox.economic_url, headers=headers, timeout=5) as client:
        yield client


async def query(client: httpx.AsyncClient, vtql: str) -> list[dict[str, str]]:
    response = await client.get("/query", params={"query": vtql})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["result"]


async def vtiger_error(response: httpx.Response, status: int = 400) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    return body["error"]


def draft_order(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "date": "2026-11-20",
        "currency": "DKK",
        "customer": {"customerNumber": 10001},
        "layout": {"layoutNumber": 19},
        "paymentTerms": {"paymentTermsNumber": 1},
        "recipient": {"name": "Mols Maler ApS", "vatZone": {"vatZoneNumber": 1}},
        "references": {"other": "HUB-ORDER-1"},
        "lines": [{"description": "Konsulenttimer oktober", "product": {"productNumber": "1"},
                   "quantity": 2.5, "unitNetPrice": 850.00}],
    }
    order.update(changes)
    return order


# ------------------------------------------------------------------------------------------------- vTiger

async def test_vtiger_rest_rejects_bad_credentials(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.vtiger_rest_url) as client:
        error = await vtiger_error(await client.get("/me"), 401)
        assert error["code"] == "AUTHENTICATION_REQUIRED"
        wrong = await client.get("/me", auth=(SANDBOX_VTIGER_USERNAME, "not-the-key"))
        assert (await vtiger_error(wrong, 401))["code"] == "INVALID_USER_CREDENTIALS"


async def test_vtiger_me_and_describe(vtiger: httpx.AsyncClient) -> None:
    me = (await vtiger.get("/me")).json()["result"]
    assert me["user_name"] == SANDBOX_VTIGER_USERNAME
    describe = (await vtiger.get("/describe", params={"elementType": "Accounts"})).json()["result"]
    names = {field["name"] for field in describe["fields"]}
    assert {"cf_854", "cf_856", "accountname", "assigned_user_id"} <= names
    assert "mobile" not in names
    assert describe["idPrefix"] == "3"
    mandatory = {field["name"] for field in describe["fields"] if field["mandatory"]}
    assert mandatory == {"accountname", "assigned_user_id"}
    ours = {field["name"]: field for field in describe["fields"]}
    for field in fixture_json("vtiger/samples/describe_accounts.json")["result"]["fields"]:
        assert ours[field["name"]] == field
    timelogs = (await vtiger.get("/describe", params={"elementType": "Timelogs"})).json()["result"]
    assert {"related_to", "contact_id", "date_start", "duration", "description", "billable",
            "case_id"} <= {field["name"] for field in timelogs["fields"]}
    unknown = await vtiger.get("/describe", params={"elementType": "Potions"})
    assert (await vtiger_error(unknown))["code"] == "ACCESS_DENIED"


async def test_query_returns_at_most_100_rows(vtiger: httpx.AsyncClient) -> None:
    assert len(await query(vtiger, "select * from Accounts;")) == 100
    assert len(await query(vtiger, "select id from Accounts limit 500;")) == 100
    page = await query(vtiger, "select id, accountname from Accounts order by id limit 200, 500;")
    assert len(page) == 100
    assert page[0]["id"] == "3x1199"  # 3x999 (the orphan) sorts first, then 3x1000...
    assert set(page[0]) == {"id", "accountname"}
    total = await query(vtiger, "select count(*) from Accounts;")
    assert total == [{"count": str(COMPANIES + 1)}]


async def test_query_parser_handles_quotes_and_operators(vtiger: httpx.AsyncClient) -> None:
    element = {"accountname": "O'Brien & Sønner ApS", "assigned_user_id": "19x1", "bill_city": "Aarhus C"}
    created = await vtiger.post("/create", data={"elementType": "Accounts", "element": json.dumps(element)})
    record_id = created.json()["result"]["id"]
    assert record_id.startswith("3x")
    for vtql in (
        "select * from Accounts where accountname = 'O''Brien & Sønner ApS';",
        "SELECT id FROM Accounts WHERE accountname LIKE 'o''brien%' AND bill_city = 'aarhus c';",
        "select id from Accounts where accountname in ('Nobody', 'O''Brien & Sønner ApS') limit 5;",
        "select id from Accounts where (bill_city = 'Nowhere' or accountname = 'O''Brien & Sønner ApS');",
    ):
        assert [row["id"] for row in await query(vtiger, vtql)] == [record_id], vtql
    newest = await query(vtiger, "select id, modifiedtime from Accounts order by modifiedtime desc limit 3;")
    assert newest[0]["id"] == record_id
    assert newest[0]["modifiedtime"] >= newest[1]["modifiedtime"] >= newest[2]["modifiedtime"]
    changed = await query(vtiger, "select id from Accounts where modifiedtime > '2026-06-01 00:00:00';")
    assert record_id in {row["id"] for row in changed}
    missing_semicolon = await vtiger.get("/query", params={"query": "select * from Accounts"})
    assert (await vtiger_error(missing_semicolon))["code"] == "QUERY_SYNTAX_ERROR"
    unterminated = await vtiger.get("/query", params={"query": "select * from Accounts where id = 'x;"})
    assert (await vtiger_error(unterminated))["code"] == "QUERY_SYNTAX_ERROR"
    unknown_field = await vtiger.get("/query", params={"query": "select mobile from Accounts;"})
    assert (await vtiger_error(unknown_field))["code"] == "QUERY_SYNTAX_ERROR"


async def test_html_encoded_names_come_back_encoded(sandbox: RunningSandbox,
                                                    vtiger: httpx.AsyncClient) -> None:
    company = next(c for c in sandbox.data.companies if "&" in c.name)
    quoted = company.name.replace("'", "''")
    rows = await query(vtiger, f"select accountname from Accounts where accountname = '{quoted}';")
    assert rows and "&amp;" in rows[0]["accountname"]


async def test_revise_changes_only_the_given_fields(vtiger: httpx.AsyncClient) -> None:
    before = (await vtiger.get("/retrieve", params={"id": "3x1003"})).json()["result"]
    element = {"id": "3x1003", "bill_city": "Aarhus C", "mobile": "12345678"}
    revised = await vtiger.post("/revise", data={"element": json.dumps(element)})
    after = revised.json()["result"]
    assert after["bill_city"] == "Aarhus C"
    assert "mobile" not in after  # not an Accounts field: silently ignored, like vtiger
    assert {k: v for k, v in after.items() if k not in {"bill_city", "modifiedtime"}} == \
        {k: v for k, v in before.items() if k not in {"bill_city", "modifiedtime"}}
    assert after["modifiedtime"] > before["modifiedtime"]
    assert (await vtiger.get("/retrieve", params={"id": "3x1003"})).json()["result"] == after
    since = int(time.time()) - 120
    synced = (await vtiger.get("/sync", params={"modifiedTime": since, "elementType": "Accounts"})).json()
    assert "3x1003" in {record["id"] for record in synced["result"]["updated"]}


async def test_update_needs_mandatory_fields_and_blanks_the_rest(vtiger: httpx.AsyncClient) -> None:
    element = {"id": "3x1004", "bill_city": "Vejle"}
    partial = await vtiger.post("/update", data={"element": json.dumps(element)})
    error = await vtiger_error(partial)
    assert error["code"] == "MANDATORY_FIELDS_MISSING"
    assert "accountname" in error["message"]
    full = {"id": "3x1004", "accountname": "Ny Navn ApS", "assigned_user_id": "19x1"}
    updated = (await vtiger.post("/update", data={"element": json.dumps(full)})).json()["result"]
    assert updated["accountname"] == "Ny Navn ApS"
    assert updated["bill_city"] == ""  # update replaces the record: use revise for field sync
    missing = await vtiger.get("/retrieve", params={"id": "3x424242"})
    assert (await vtiger_error(missing))["code"] == "RECORD_NOT_FOUND"


async def test_timelogs_are_pending_for_about_20_customers(vtiger: httpx.AsyncClient,
                                                         sandbox: RunningSandbox) -> None:
    timelogs = sandbox.data.vtiger_timelogs
    assert 18 <= len({t["related_to"] for t in timelogs.values()}) <= 22
    rows = await query(vtiger, "select * from Timelogs where related_to = '3x1000' order by date_start;")
    assert len(rows) >= 2
    for row in rows:
        assert row["date_start"].startswith("2026-")
        assert row["duration"].isdigit()  # minutes
        assert row["billable"] in {"0", "1"}
    assert any(t.get("case_id") for t in timelogs.values())


async def test_webservice_login_and_expired_session(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.vtiger_url) as client:
        challenge = await client.get("/webservice.php", params={"operation": "getchallenge",
                                                                "username": SANDBOX_VTIGER_USERNAME})
        token = challenge.json()["result"]["token"]
        wrong = await client.post("/webservice.php", data={
            "operation": "login", "username": SANDBOX_VTIGER_USERNAME, "accessKey": "0" * 32})
        assert wrong.status_code == 200
        assert wrong.json()["error"]["code"] == "INVALID_USER_CREDENTIALS"
        login = await client.post("/webservice.php", data={
            "operation": "login", "username": SANDBOX_VTIGER_USERNAME,
            "accessKey": hashlib.md5((token + SANDBOX_VTIGER_ACCESS_KEY).encode()).hexdigest()})
        session = login.json()["result"]["sessionName"]
        read = {"operation": "retrieve", "sessionName": session, "id": "3x1000"}
        assert (await client.get("/webservice.php", params=read)).json()["result"]["id"] == "3x1000"
        as_post = await client.post("/webservice.php", data=read)
        assert as_post.json()["error"]["code"] == "UNKNOWN_OPERATION"  # reads are GET-only
        sandbox.vtiger.expire_sessions()
        expired = await client.get("/webservice.php", params=read)
        assert expired.status_code == 200
        assert expired.json() == {"success": False, "error": {
            "code": "INVALID_SESSIONID", "message": "Session Identifier provided is Invalid"}}


async def test_flood_control_headers_and_429(sandbox: RunningSandbox, vtiger: httpx.AsyncClient) -> None:
    sandbox.vtiger.faults.flood_limit = 3
    answers = [await vtiger.get("/me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-FloodControl-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["X-FloodControl-MinuteLimit"] == "3"
    assert 0 < int(answers[0].headers["X-FloodControl-Reset"]) <= 60
    assert "X-RateLimit-DailyLimit" in answers[0].headers and "X-RateLimit-Remaining" in answers[0].headers
    assert (await vtiger_error(answers[3], 429))["code"]
    assert int(answers[3].headers["Retry-After"]) > 0


# ---------------------------------------------------------------------------------------------- e-conomic

async def test_economic_rejects_missing_tokens(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.economic_url) as client:
        answer = await client.get("/customers", headers={"X-AppSecretToken": SANDBOX_ECONOMIC_APP_SECRET})
    assert answer.status_code == 401
    body = answer.json()
    assert body["httpStatusCode"] == 401 and body["message"] and body["logId"]


async def test_economic_self_and_customer_match_the_official_schemas(economic: httpx.AsyncClient) -> None:
    agreement = (await economic.get("/self")).json()
    assert agreement["agreementNumber"] and agreement["company"]["name"]
    customer = (await economic.get("/customers/10001")).json()
    assert customer["currency"] == "DKK" and customer["layout"]["layoutNumber"] == 19
    assert customer["lastUpdated"].endswith("Z") and "T" in customer["lastUpdated"]
    for document, name in ((agreement, "self.get"), (customer, "customers.customerNumber.get"),
                           (customer, "customers.customerNo.put")):
        schema = fixture_json(f"economic/schemas/{name}.schema.json")
        assert list(jsonschema.Draft3Validator(schema).iter_errors(document)) == [], name


async def test_economic_pages_of_1000_with_next_page(economic: httpx.AsyncClient) -> None:
    first = (await economic.get("/customers", params={"pagesize": 1000, "skippages": 0})).json()
    assert len(first["collection"]) == 1000
    pagination = first["pagination"]
    assert pagination["maxPageSizeAllowed"] == 1000
    assert pagination["results"] == pagination["resultsWithoutFilter"] == COMPANIES  # -1 missing, +1 extra
    assert "skippages=1" in pagination["nextPage"]
    last = (await economic.get(pagination["lastPage"])).json()
    assert last["pagination"]["skipPages"] == 2
    assert "nextPage" not in last["pagination"]
    assert len(last["collection"]) == COMPANIES - 2000
    default = (await economic.get("/customers")).json()
    assert default["pagination"]["pageSize"] == 20 and len(default["collection"]) == 20
    too_big = await economic.get("/customers", params={"pagesize": 1001})
    assert too_big.status_code == 400


async def test_economic_filters_and_sort(economic: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    async def numbers(filter_text: str, sort: str = "customerNumber") -> list[int]:
        params = {"filter": filter_text, "sort": sort, "pagesize": 1000}
        answer = await economic.get("/customers", params=params)
        assert answer.status_code == 200, answer.text
        return [c["customerNumber"] for c in answer.json()["collection"]]

    assert await numbers("customerNumber$eq:10005") == [10005]
    name = sandbox.economic.customers[10010]["name"]
    escaped = "".join(f"${ch}" if ch in "$()*,[]" else ch for ch in name)
    assert 10010 in await numbers(f"name$eq:{escaped}$and:customerNumber$lt:10011")
    assert await numbers("lastUpdated$gt:2030-01-01T00:00:00Z") == []
    assert len(await numbers("lastUpdated$gt:2025-01-01T00:00:00Z")) == 1000
    assert all(n < 10020 for n in await numbers("name$like:sønner$and:customerNumber$lt:10020"))
    assert await numbers("customerNumber$in:[10003,10001]", sort="-customerNumber") == [10003, 10001]
    bad = await economic.get("/customers", params={"filter": "nonsense$eq:1"})
    assert bad.status_code == 400


async def test_put_customer_is_a_full_replacement(economic: httpx.AsyncClient) -> None:
    customer = (await economic.get("/customers/10020")).json()
    assert "website" in customer
    customer["city"] = "Odense C"
    del customer["website"]
    saved = await economic.put("/customers/10020", json=customer)
    assert saved.status_code == 200, saved.text
    assert saved.json()["city"] == "Odense C"
    assert "website" not in saved.json()  # left out = cleared
    assert saved.json()["lastUpdated"] > customer["lastUpdated"]
    missing = await economic.put("/customers/424242", json=customer)
    assert missing.status_code == 404
    assert missing.json()["message"] == "Resource not found."


async def test_put_customer_without_required_field_is_a_400(sandbox: RunningSandbox,
                                                            economic: httpx.AsyncClient) -> None:
    customer = (await economic.get("/customers/10021")).json()
    del customer["paymentTerms"]
    answer = await economic.put("/customers/10021", json=customer)
    assert answer.status_code == 400
    body = answer.json()
    for key in ("message", "errorCode", "developerHint", "logId", "httpStatusCode", "logTime", "errors"):
        assert key in body, key
    assert body["errorCode"] == "E04300" and body["httpStatusCode"] == 400
    detail = body["errors"]["paymentTerms"]["errors"][0]
    assert set(detail) >= {"propertyName", "errorMessage", "errorCode", "inputValue"}
    assert detail["propertyName"] == "paymentTerms"

    sandbox.economic.faults.errors_as_array = True
    customer["customerGroup"] = {"customerGroupNumber": 99}
    as_array = (await economic.put("/customers/10021", json=customer)).json()
    assert {e["propertyName"] for e in as_array["errors"]} == {"paymentTerms", "customerGroup"}
    assert "E07140" in {e["errorCode"] for e in as_array["errors"]}
    too_long = {**customer, "paymentTerms": {"paymentTermsNumber": 1},
                "customerGroup": {"customerGroupNumber": 1}, "zip": "9" * 31}
    [error] = (await economic.put("/customers/10021", json=too_long)).json()["errors"]
    assert error["propertyName"] == "zip"


async def test_put_customer_rejects_null(economic: httpx.AsyncClient) -> None:
    customer = (await economic.get("/customers/10022")).json()
    customer["email"] = None
    answer = await economic.put("/customers/10022", json=customer)
    assert answer.status_code == 400
    assert answer.json()["errors"]["email"]["errors"][0]["inputValue"] is None
    unchanged = (await economic.get("/customers/10022")).json()
    assert unchanged["email"]


async def test_draft_order_validation(economic: httpx.AsyncClient) -> None:
    three_decimals = draft_order(lines=[{"description": "Timer", "product": {"productNumber": "1"},
                                         "quantity": 1, "unitNetPrice": 850.125}])
    answer = await economic.post("/orders/drafts", json=three_decimals)
    assert answer.status_code == 400
    errors = answer.json()["errors"]["lines"]["items"][0]
    assert errors["unitNetPrice"]["errors"][0]["errorCode"] == "E04740"

    no_quantity = draft_order(lines=[{"description": "Timer", "product": {"productNumber": "1"}}])
    codes = json.dumps((await economic.post("/orders/drafts", json=no_quantity)).json())
    assert "E04730" in codes
    no_number = draft_order(lines=[{"description": "Timer", "product": {}, "quantity": 1}])
    assert "E04500" in json.dumps((await economic.post("/orders/drafts", json=no_number)).json())
    unknown_customer = await economic.post("/orders/drafts", json=draft_order(customer={"customerNumber": 7}))
    assert unknown_customer.status_code == 400
    assert "customer" in unknown_customer.json()["errors"]
    no_recipient = {k: v for k, v in draft_order().items() if k != "recipient"}
    assert "recipient" in (await economic.post("/orders/drafts", json=no_recipient)).json()["errors"]


async def test_draft_order_is_created_and_found_by_reference(economic: httpx.AsyncClient) -> None:
    answer = await economic.post("/orders/drafts", json=draft_order(references={"other": "HUB-42"}))
    assert answer.status_code == 201, answer.text
    draft = answer.json()
    assert isinstance(draft["orderNumber"], int)
    assert draft["self"].endswith(f"/orders/drafts/{draft['orderNumber']}")
    assert draft["netAmount"] == 2125.0 and draft["vatAmount"] == 531.25 and draft["grossAmount"] == 2656.25
    found = (await economic.get("/orders/drafts", params={"filter": "references.other$eq:HUB-42"})).json()
    assert [d["orderNumber"] for d in found["collection"]] == [draft["orderNumber"]]
    assert (await economic.get(f"/orders/drafts/{draft['orderNumber']}")).json() == draft


async def test_idempotency_key_replays_the_first_answer(sandbox: RunningSandbox,
                                                        economic: httpx.AsyncClient) -> None:
    order = draft_order(references={"other": "HUB-IDEMPOTENT"})
    headers = {"Idempotency-Key": "hubtui-test-7f3a"}
    first = await economic.post("/orders/drafts", json=order, headers=headers)
    count = len(sandbox.economic.drafts)
    again = await economic.post("/orders/drafts", json=order, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["X-ResultFromCache"] == "true"
    assert "X-ResultFromCache" not in first.headers
    assert again.json() == first.json()
    assert len(sandbox.economic.drafts) == count
    other_key = await economic.post("/orders/drafts", json=order, headers={"Idempotency-Key": "another"})
    assert other_key.json()["orderNumber"] != first.json()["orderNumber"]


# ------------------------------------------------------------------------------------- faults and the log

async def test_burst_of_429_with_retry_after(sandbox: RunningSandbox, vtiger: httpx.AsyncClient,
                                             economic: httpx.AsyncClient) -> None:
    sandbox.vtiger.faults.burst_429 = 2
    sandbox.vtiger.faults.retry_after_s = 3
    statuses = [(await vtiger.get("/me")) for _ in range(3)]
    assert [s.status_code for s in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "3"
    assert statuses[0].json()["success"] is False
    sandbox.economic.faults.burst_429 = 1
    limited = await economic.get("/self")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert (await economic.get("/self")).status_code == 200


async def test_error_rate_timeout_and_malformed_faults(sandbox: RunningSandbox, vtiger: httpx.AsyncClient,
                                                       economic: httpx.AsyncClient) -> None:
    sandbox.economic.faults.error_rate = 1.0
    assert (await economic.get("/self")).status_code == 500
    sandbox.economic.faults.error_rate = 0.0
    sandbox.economic.faults.malformed_next = 1
    broken = await economic.get("/self")
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    sandbox.vtiger.faults.timeout_next = 1
    with pytest.raises(httpx.ReadTimeout):
        await vtiger.get("/me", timeout=0.3)
    assert (await vtiger.get("/me")).status_code == 200


async def test_latency_is_the_whole_answer_time_with_the_work_inside_it(
    sandbox: RunningSandbox, vtiger: httpx.AsyncClient
) -> None:
    sandbox.vtiger.faults.latency_ms = 200
    started = time.perf_counter()
    assert (await vtiger.get("/me")).status_code == 200
    assert 0.2 <= time.perf_counter() - started < 0.35
    # The service does the work when the request arrives and answers when the latency is up, so a client
    # that stops waiting has still changed the record, as with a real service that answers slowly.
    element = json.dumps({"id": "3x1005", "phone": "70 99 99 99"})
    with pytest.raises(httpx.ReadTimeout):
        await vtiger.post("/revise", data={"element": element}, timeout=0.05)
    assert sandbox.vtiger.accounts["3x1005"]["phone"] == "70 99 99 99"


async def test_faults_control_endpoint(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.vtiger_url) as client:
        changed = await client.post("/_sandbox/faults", json={"latency_ms": 5, "burst_429": 1})
        assert changed.json()["latency_ms"] == 5 and sandbox.vtiger.faults.burst_429 == 1
        assert (await client.post("/_sandbox/faults", json={"no_such_fault": 1})).status_code == 400
        assert (await client.post("/_sandbox/faults", json={"error_rate": 2})).status_code == 400
        token = sandbox.vtiger.challenge(SANDBOX_VTIGER_USERNAME)["token"]
        key_hash = hashlib.md5((token + SANDBOX_VTIGER_ACCESS_KEY).encode()).hexdigest()
        sandbox.vtiger.login(SANDBOX_VTIGER_USERNAME, key_hash)
        assert sandbox.vtiger.sessions
        await client.post("/_sandbox/faults", json={"expire_sessions": True})
        assert sandbox.vtiger.sessions == {}
        assert (await client.get("/_sandbox/faults")).json()["burst_429"] == 1


async def test_write_log_records_writes_without_secrets(sandbox: RunningSandbox, vtiger: httpx.AsyncClient,
                                                        economic: httpx.AsyncClient) -> None:
    await vtiger.get("/retrieve", params={"id": "3x1005"})
    await vtiger.post("/revise", data={"element": json.dumps({"id": "3x1005", "phone": "70 10 20 30"})})
    await economic.post("/orders/drafts", json=draft_order(), headers={"Idempotency-Key": "log-test"})
    assert sandbox.vtiger.request_count == 2
    [entry] = sandbox.vtiger.write_log
    assert entry.method == "POST" and entry.path.endswith("/revise") and entry.status == 200
    assert entry.body == {"element": {"id": "3x1005", "phone": "70 10 20 30"}}
    [draft_entry] = sandbox.economic.write_log
    assert draft_entry.body["references"] == {"other": "HUB-ORDER-1"} and draft_entry.status == 201
    async with httpx.AsyncClient(base_url=sandbox.vtiger_url) as client:
        log = (await client.get("/_sandbox/writes")).json()
        assert log["request_count"] == 2 and log["writes"][0]["body"]["element"]["phone"] == "70 10 20 30"
        text = json.dumps(log)
        assert SANDBOX_VTIGER_ACCESS_KEY not in text and "authorization" not in text.lower()
        await client.post("/_sandbox/reset-log")
    assert sandbox.vtiger.write_log == [] and sandbox.vtiger.request_count == 0
    assert SANDBOX_ECONOMIC_APP_SECRET not in json.dumps([e.to_json() for e in sandbox.economic.write_log])


async def test_shutdown_is_quick_with_a_hanging_request() -> None:
    loop = asyncio.get_running_loop()
    async with serve_sandboxes(SandboxOptions(companies=5)) as running:
        running.economic.faults.timeout_next = 1
        client = httpx.AsyncClient(base_url=running.economic_url, timeout=30)
        pending = asyncio.create_task(client.get("/self"))
        await asyncio.sleep(0.1)
        started = loop.time()
    assert loop.time() - started < 2
    with pytest.raises(httpx.HTTPError):
        (await pending).raise_for_status()
    await client.aclose()


# ------------------------------------------------------------------------------------- speed, not faults

def test_the_listening_socket_is_tcp_with_nodelay() -> None:
    sock = _bind("127.0.0.1", 0)
    try:
        # asyncio sets TCP_NODELAY on accepted connections only when the socket says IPPROTO_TCP
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()


async def test_small_answers_are_not_held_back(economic: httpx.AsyncClient, vtiger: httpx.AsyncClient) -> None:
    # With Nagle's algorithm on, the body written after the headers waited for the client's delayed ACK:
    # ~40 ms on every request. Without it a request to the sandbox takes a millisecond or two.
    for client, path, params in ((economic, "/customers/10001", None), (vtiger, "/retrieve", {"id": "3x1001"})):
        durations = []
        for _ in range(10):
            started = time.perf_counter()
            (await client.get(path, params=params)).raise_for_status()
            durations.append(time.perf_counter() - started)
        assert statistics.median(durations) < 0.02, path


async def test_pages_joined_from_encoded_records_are_the_plain_encoding(
        sandbox: RunningSandbox, vtiger: httpx.AsyncClient, economic: httpx.AsyncClient) -> None:
    vtql = "select * from Accounts order by id limit 200,100;"
    for _ in range(2):  # the first read encodes each record, the second joins what was kept
        page = await vtiger.get("/query", params={"query": vtql})
        assert page.content == json_bytes({"success": True, "result": sandbox.vtiger.query(vtql)})
        listing = await economic.get("/customers", params={"pagesize": 1000, "skippages": 1})
        body = listing.json()
        customers = [render_customer(sandbox.economic.customers[c["customerNumber"]], sandbox.economic_url)
                     for c in body["collection"]]
        assert len(customers) == 1000
        assert listing.content == json_bytes({"collection": customers, "pagination": body["pagination"],
                                              "metaData": body["metaData"], "self": body["self"]})


async def test_a_write_shows_in_the_next_page_read(vtiger: httpx.AsyncClient,
                                                   economic: httpx.AsyncClient) -> None:
    vtql = "select * from Accounts order by id limit 0,100;"
    record_id = (await query(vtiger, vtql))[40]["id"]
    element = {"id": record_id, "bill_city": "Skagen"}
    assert (await vtiger.post("/revise", data={"element": json.dumps(element)})).status_code == 200
    assert {row["id"]: row for row in await query(vtiger, vtql)}[record_id]["bill_city"] == "Skagen"

    params = {"pagesize": 1000, "skippages": 0}
    customer = (await economic.get("/customers", params=params)).json()["collection"][40]
    customer["city"] = "Skagen"
    number = customer["customerNumber"]
    assert (await economic.put(f"/customers/{number}", json=customer)).status_code == 200
    listed = {c["customerNumber"]: c for c in (await economic.get("/customers", params=params)).json()["collection"]}
    assert listed[number]["city"] == "Skagen"
    assert (await economic.get(f"/customers/{number}")).json() == listed[number]


# -------------------------------------------------------------------------------------- data and options

def test_remote_data_plants_every_kind_of_difference() -> None:
    data = build_remote_data(200)
    again = build_remote_data(200)
    assert data.vtiger_accounts == again.vtiger_accounts and data.planted == again.planted
    companies = data.companies
    missing = companies[MISSING_FROM_ECONOMIC_INDEX]
    assert missing.economic_customer_number not in data.economic_customers
    assert ORPHAN_VTIGER_ID in data.vtiger_accounts
    assert ECONOMIC_ONLY_CUSTOMER_NUMBER in data.economic_customers
    kinds = {(p.system, p.kind, p.field) for p in data.planted}
    for expected in (("vtiger", "formatting", "phone"), ("economic", "formatting", "phone"),
                     ("economic", "formatting", "cvr_number"), ("vtiger", "formatting", "cvr_number"),
                     ("vtiger", "formatting", "website"), ("economic", "formatting", "country"),
                     ("vtiger", "formatting", "name"), ("vtiger", "real", "address"),
                     ("economic", "real", "city"), ("vtiger", "real", "email")):
        assert expected in kinds, expected
    assert any(v.startswith("DK-") for v in (a.get("cf_856", "") for a in data.vtiger_accounts.values()))
    account = data.vtiger_accounts[companies[0].vtiger_id]
    assert account["cf_854"] == str(companies[0].economic_customer_number)
    customer = data.economic_customers[companies[0].economic_customer_number or 0]
    assert customer["customerGroup"] == {"customerGroupNumber": 1}
    assert customer["layout"]["layoutNumber"] == 19


def test_big_data_sets_reuse_prebuilt_companies() -> None:
    companies = demo_companies(10_000)
    data = build_remote_data(companies=companies)
    assert len(data.vtiger_accounts) == 10_001 and len(data.economic_customers) == 10_000


def test_fault_options_from_the_command_line() -> None:
    vtiger_faults, economic_faults = faults_from_options(
        ["vtiger.latency_ms=200", "economic.error_rate=0.25", "vtiger.flood_limit=60",
         "economic.errors_as_array=true"]
    )
    assert vtiger_faults.latency_ms == 200 and vtiger_faults.flood_limit == 60
    assert economic_faults.error_rate == 0.25 and economic_faults.errors_as_array is True
    assert economic_faults.latency_ms == 0
    for wrong in ("latency_ms=1", "crm.latency_ms=1", "vtiger.speed=9", "vtiger.latency_ms=fast"):
        with pytest.raises(ValueError):
            faults_from_options([wrong])
