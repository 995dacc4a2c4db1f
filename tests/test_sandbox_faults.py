"""Faults the sandboxes inject after a request was applied, rejections, and faults scoped to a method/path."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubtui_process import clean_environment, run_hubtui

from hubtui.sandbox.faults import EconomicFaults, VtigerFaults, faults_from_options
from hubtui.sandbox.server import (
    SANDBOX_ECONOMIC_APP_SECRET,
    SANDBOX_ECONOMIC_GRANT,
    SANDBOX_VTIGER_ACCESS_KEY,
    SANDBOX_VTIGER_USERNAME,
    RunningSandbox,
    SandboxOptions,
    serve_sandboxes,
)

KINDS = ("500", "timeout", "malformed", "reset")
ECONOMIC_ERROR_KEYS = {"message", "errorCode", "developerHint", "logId", "httpStatusCode", "logTime"}


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=20)) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_faults(sandbox: RunningSandbox) -> Iterator[None]:
    sandbox.vtiger.faults = VtigerFaults()
    sandbox.economic.faults = EconomicFaults()
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


def draft_order(reference: str) -> dict[str, Any]:
    return {
        "date": "2026-11-20", "currency": "DKK", "customer": {"customerNumber": 10001},
        "layout": {"layoutNumber": 19}, "paymentTerms": {"paymentTermsNumber": 1},
        "recipient": {"name": "Mols Maler ApS", "vatZone": {"vatZoneNumber": 1}},
        "references": {"other": reference},
        "lines": [{"description": "Konsulenttimer oktober", "product": {"productNumber": "1"},
                   "quantity": 2.5, "unitNetPrice": 850.00}],
    }


def drafts_with(sandbox: RunningSandbox, reference: str) -> list[dict[str, Any]]:
    return [d for d in sandbox.economic.drafts.values() if d.get("references", {}).get("other") == reference]


async def send_and_expect(kind: str, request: Any) -> int | None:
    """Send, check the client saw the failure `kind` names, and return the status it saw (None: none)."""
    if kind == "timeout":
        with pytest.raises(httpx.ReadTimeout):
            await request(0.3)
        return None
    if kind == "reset":
        with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
            await request(5)
        return None
    response = await request(5)
    if kind == "malformed":
        assert response.status_code == 200
        with pytest.raises(ValueError):
            response.json()
    else:
        assert response.status_code == 500
    return response.status_code


@pytest.mark.parametrize("kind", KINDS)
async def test_vtiger_write_is_applied_and_the_answer_lost(sandbox: RunningSandbox, vtiger: httpx.AsyncClient,
                                                           kind: str) -> None:
    sandbox.vtiger.faults.after_apply_next = 1
    sandbox.vtiger.faults.after_apply = kind
    phone = f"70 00 00 {KINDS.index(kind):02d}"
    element = json.dumps({"id": "3x1005", "phone": phone})

    async def revise(wait_s: float) -> httpx.Response:
        return await vtiger.post("/revise", data={"element": element}, timeout=wait_s)

    seen = await send_and_expect(kind, revise)
    assert sandbox.vtiger.accounts["3x1005"]["phone"] == phone
    [entry] = sandbox.vtiger.write_log
    assert entry.applied is True and entry.status == seen
    assert sandbox.vtiger.faults.after_apply_next == 0
    again = await vtiger.post("/revise", data={"element": element})
    assert again.status_code == 200 and again.json()["result"]["phone"] == phone


@pytest.mark.parametrize("kind", KINDS)
async def test_economic_draft_is_created_and_the_answer_lost(sandbox: RunningSandbox,
                                                             economic: httpx.AsyncClient, kind: str) -> None:
    sandbox.economic.faults.after_apply_next = 1
    sandbox.economic.faults.after_apply = kind
    reference = f"HUB-LOST-{kind}"

    async def post(wait_s: float) -> httpx.Response:
        return await economic.post("/orders/drafts", json=draft_order(reference), timeout=wait_s)

    seen = await send_and_expect(kind, post)
    assert len(drafts_with(sandbox, reference)) == 1
    [entry] = sandbox.economic.write_log
    assert entry.applied is True and entry.status == seen
    async with httpx.AsyncClient(base_url=sandbox.economic_url) as control:
        [logged] = (await control.get("/_sandbox/writes")).json()["writes"]
    assert logged["applied"] is True and logged["status"] == seen
    assert (await post(5)).status_code == 201
    assert len(drafts_with(sandbox, reference)) == 2


async def test_economic_500_after_apply_has_the_real_error_shape(sandbox: RunningSandbox,
                                                                 economic: httpx.AsyncClient) -> None:
    sandbox.economic.faults.after_apply_next = 1
    failed = await economic.post("/orders/drafts", json=draft_order("HUB-SHAPE"))
    assert failed.status_code == 500
    assert ECONOMIC_ERROR_KEYS <= set(failed.json()) and failed.json()["httpStatusCode"] == 500


@pytest.mark.parametrize("kind", KINDS)
async def test_the_same_idempotency_key_returns_the_draft_whose_answer_was_lost(
    sandbox: RunningSandbox, economic: httpx.AsyncClient, kind: str
) -> None:
    sandbox.economic.faults.after_apply_next = 1
    sandbox.economic.faults.after_apply = kind
    reference = f"HUB-RETRY-{kind}"
    headers = {"Idempotency-Key": f"hubtui-lost-{kind}"}

    async def post(wait_s: float) -> httpx.Response:
        return await economic.post("/orders/drafts", json=draft_order(reference), headers=headers,
                                   timeout=wait_s)

    await send_and_expect(kind, post)
    retry = await post(5)
    assert retry.status_code == 201 and retry.headers["X-ResultFromCache"] == "true"
    [draft] = drafts_with(sandbox, reference)
    assert retry.json() == draft
    assert [entry.applied for entry in sandbox.economic.write_log] == [True, True]


async def test_faults_armed_for_post_let_a_get_pass(sandbox: RunningSandbox, economic: httpx.AsyncClient,
                                                    vtiger: httpx.AsyncClient) -> None:
    faults = sandbox.economic.faults
    faults.fault_method = "post"
    assert faults.fault_method == "POST"
    faults.malformed_next = 1
    faults.after_apply_next = 1
    faults.error_rate = 0.0
    listed = await economic.get("/orders/drafts")
    assert listed.status_code == 200 and "collection" in listed.json()
    assert (faults.malformed_next, faults.after_apply_next) == (1, 1)
    broken = await economic.post("/orders/drafts", json=draft_order("HUB-SCOPED"))
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    assert drafts_with(sandbox, "HUB-SCOPED") == []  # malformed_next is a fault before execution
    lost = await economic.post("/orders/drafts", json=draft_order("HUB-SCOPED"))
    assert lost.status_code == 500 and len(drafts_with(sandbox, "HUB-SCOPED")) == 1
    assert [(e.applied, e.status) for e in sandbox.economic.write_log] == [(False, 200), (True, 500)]
    sandbox.vtiger.faults.fault_method = "PUT"
    sandbox.vtiger.faults.error_rate = 1.0
    assert (await vtiger.get("/me")).status_code == 200


async def test_faults_scoped_to_a_path(sandbox: RunningSandbox, economic: httpx.AsyncClient) -> None:
    faults = sandbox.economic.faults
    faults.fault_path = "/orders/drafts"
    faults.burst_429 = 1
    assert (await economic.get("/self")).status_code == 200
    assert faults.burst_429 == 1
    assert (await economic.get("/orders/drafts")).status_code == 429
    assert (await economic.get("/orders/drafts")).status_code == 200


async def test_reject_next_answers_400_with_the_real_body_and_executes_nothing(
    sandbox: RunningSandbox, economic: httpx.AsyncClient, vtiger: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.economic_url) as control:
        armed = await control.post("/_sandbox/faults", json={"reject_next": 2, "fault_path": "/orders/drafts"})
        assert armed.status_code == 200, armed.text
    refused = await economic.get("/orders/drafts", params={"filter": "references.other$eq:HUB-1"})
    assert refused.status_code == 400
    body = refused.json()
    assert set(body) == ECONOMIC_ERROR_KEYS and body["httpStatusCode"] == 400 and body["errorCode"]
    count = len(sandbox.economic.drafts)
    posted = await economic.post("/orders/drafts", json=draft_order("HUB-REFUSED"))
    assert posted.status_code == 400 and len(sandbox.economic.drafts) == count
    [entry] = sandbox.economic.write_log
    assert (entry.applied, entry.status) == (False, 400)
    assert (await economic.get("/orders/drafts")).status_code == 200

    sandbox.vtiger.faults.reject_next = 1
    sandbox.vtiger.faults.reject_status = 403
    before = sandbox.vtiger.accounts["3x1006"]
    element = json.dumps({"id": "3x1006", "phone": "70 66 66 66"})
    refused = await vtiger.post("/revise", data={"element": element})
    assert refused.status_code == 403
    assert refused.json() == {"success": False, "error": {"code": "ACCESS_DENIED",
                                                          "message": refused.json()["error"]["message"]}}
    assert sandbox.vtiger.accounts["3x1006"] is before
    [entry] = sandbox.vtiger.write_log
    assert (entry.applied, entry.status) == (False, 403)


async def test_bad_fault_values_are_refused_with_the_allowed_ones(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.economic_url) as control:
        for change, words in (({"after_apply": "hang"}, ["after_apply", "500, timeout, malformed, reset"]),
                              ({"fault_method": "FETCH"}, ["fault_method", "GET", "POST"]),
                              ({"reject_status": 200}, ["reject_status", "400", "599"]),
                              ({"after_apply_next": -1}, ["after_apply_next", "negative"]),
                              ({"fault_path": 7}, ["fault_path"])):
            answer = await control.post("/_sandbox/faults", json=change)
            assert answer.status_code == 400
            assert all(word in answer.json()["error"] for word in words), answer.json()
        assert sandbox.economic.faults == EconomicFaults()
        changed = await control.post("/_sandbox/faults", json={"after_apply": "TIMEOUT", "fault_method": "put"})
        assert changed.json()["after_apply"] == "timeout" and changed.json()["fault_method"] == "PUT"
    with pytest.raises(ValueError, match="after_apply must be one of"):
        sandbox.vtiger.faults.after_apply = "slow"


def test_the_new_faults_from_the_command_line() -> None:
    _, economic = faults_from_options(["economic.after_apply=reset", "economic.after_apply_next=2",
                                       "economic.fault_method=post", "economic.fault_path=/orders/drafts",
                                       "economic.reject_next=1", "economic.reject_status=422"])
    assert (economic.after_apply, economic.after_apply_next, economic.fault_method, economic.fault_path,
            economic.reject_next, economic.reject_status) == ("reset", 2, "POST", "/orders/drafts", 1, 422)


async def test_the_cli_refuses_a_bad_fault_naming_the_option(tmp_path: Path) -> None:
    run = await run_hubtui("sandbox", "serve", "--fault", "economic.after_apply=hang",
                           env=clean_environment(HUBTUI_DATA_DIR=str(tmp_path)), cwd=tmp_path)
    assert run.code == 2
    assert "economic.after_apply=hang" in run.stderr and "500, timeout, malformed, reset" in run.stderr
    assert "Traceback" not in run.stderr


async def test_drafts_filter_on_references_other_matches_exactly_with_escapes(
    sandbox: RunningSandbox, economic: httpx.AsyncClient
) -> None:
    for reference in ("HUB-EXACT-7", "HUB-EXACT-70", "HUB-(7),[x]*$y"):
        assert (await economic.post("/orders/drafts", json=draft_order(reference))).status_code == 201

    async def found(filter_text: str) -> list[str]:
        page = await economic.get("/orders/drafts", params={"filter": filter_text})
        assert page.status_code == 200, page.text
        return [d["references"]["other"] for d in page.json()["collection"]]

    assert await found("references.other$eq:HUB-EXACT-7") == ["HUB-EXACT-7"]
    assert await found("references.other$eq:HUB-$(7$)$,$[x$]$*$$y") == ["HUB-(7),[x]*$y"]
    unescaped = await economic.get("/orders/drafts", params={"filter": "references.other$eq:HUB-(7),[x]"})
    assert unescaped.status_code == 400 and unescaped.json()["errorCode"]


async def test_idempotency_replays_the_first_answer_for_an_hour_whatever_the_new_body(
    sandbox: RunningSandbox, economic: httpx.AsyncClient
) -> None:
    headers = {"Idempotency-Key": "hubtui-docs-replay"}
    first = await economic.post("/orders/drafts", json=draft_order("HUB-FIRST"), headers=headers)
    other = await economic.post("/orders/drafts", json=draft_order("HUB-SECOND"), headers=headers)
    assert first.status_code == other.status_code == 201
    assert other.headers["X-ResultFromCache"] == "true" and other.json() == first.json()
    assert drafts_with(sandbox, "HUB-SECOND") == []
    remaining = sandbox.economic.idempotency["hubtui-docs-replay"].expires - time.monotonic()
    assert 3590 < remaining <= 3600
