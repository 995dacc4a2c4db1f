"""Exactly once: hubtui killed between e-conomic's answer to `POST /orders/drafts` and recording it.

The export runs as a real `python -m hubtui orders export ID --json` process against the test database. It
talks to the e-conomic sandbox (served from this test process) through a small TCP proxy that forwards the
requests but holds back the bytes of the answer to `POST /orders/drafts`: the draft exists in e-conomic,
hubtui has not heard of it, and then the process gets SIGKILL, so nothing after the POST can run. The next
attempt must not create a second draft:

* within the hour, by sending the same `Idempotency-Key`, which e-conomic answers from its cache
  (`X-ResultFromCache: true`) with the first draft;
* later than that, by finding the draft through `references.other` (the hubtui order number) before posting.
  The sandbox keeps its replay cache in `EconomicState.idempotency` (one hour on a monotonic clock) and has
  no control endpoint to age it, so the test clears that dict: what an hour passing does to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from holding_proxy import HoldingProxy
from hubtui_process import clean_environment

from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.approval_queue import ApprovalQueue
from hubtui.services.order_export import OrderExport
from hubtui.services.orders import Orders
from hubtui.store.db import Database, drop_database, ensure_database
from hubtui.store.migrate import upgrade_to_head

ECONOMIC_NUMBER = 10_000
YEAR = datetime.now(UTC).year
ORDER_NUMBER = f"ORD-{YEAR}-001"
LIVE = {"TIMETRACKING_ECONOMIC_READ_ONLY": "false", "TIMETRACKING_ECONOMIC_DRY_RUN": "false"}


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandboxes(SandboxOptions(companies=20)) as running:
        yield running


@pytest.fixture
async def order_id(db: Database, settings: Settings) -> int:
    """An open order of two approved entries for the customer with e-conomic number 10000."""
    customer = await db.pool.fetchval(
        "insert into customer (name, hourly_rate, economic_customer_number) values ($1, $2, $3) returning id",
        "Nordisk Byg ApS", Decimal("850.00"), ECONOMIC_NUMBER,
    )
    queue = ApprovalQueue(db, settings)
    orders = Orders(db, settings)
    for number, (day, minutes) in enumerate(((1, 95), (2, 20))):
        entry = await db.pool.fetchval(
            "insert into time_entry (remote_id, customer_id, work_date, duration_minutes, billable, description) "
            "values ($1, $2, $3, $4, true, 'Support') returning id",
            f"43x{number}", customer, date(2026, 10, day), minutes,
        )
        await queue.approve(entry)
    return await orders.generate_order(customer)


def environment(database_url: str, tmp_path: Path, economic_url: str, sandbox: RunningSandbox) -> dict[str, str]:
    """This process's environment without hubtui settings, plus the test database, `economic_url` and live
    draft exports."""
    return clean_environment(**{**sandbox.env(), **LIVE, "ECONOMIC_API_URL": economic_url}, DATABASE_URL=database_url,
                             HUBTUI_DATA_DIR=str(tmp_path / "data"), HTTP_TIMEOUT_SECONDS="60", HTTP_MAX_RETRIES="0")


async def start_export(order: int, env: Mapping[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubtui", "orders", "export", str(order), "--json", env=dict(env), cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def export_killed_after_the_post(order: int, proxy: HoldingProxy, env: Mapping[str, str], cwd: Path,
                                       sandbox: RunningSandbox) -> int:
    """Run the export until e-conomic has created the draft, then SIGKILL it; return the draft's number."""
    process = await start_export(order, env, cwd)
    held = asyncio.ensure_future(proxy.held.wait())
    exited = asyncio.ensure_future(process.wait())
    try:
        await asyncio.wait({held, exited}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if not held.done():
            stdout, stderr = await process.communicate() if exited.done() else (b"", b"")
            pytest.fail(f"the export never posted (exit {process.returncode}): {stdout!r} {stderr!r}")
        assert process.returncode is None, "the export finished although its answer was held back"
        process.send_signal(signal.SIGKILL)
        stdout, _ = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        held.cancel()
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.gather(held, exited, return_exceptions=True)
    assert process.returncode == -signal.SIGKILL
    assert stdout == b""  # it never got to say anything
    (draft_number,) = sandbox.economic.drafts
    assert proxy.held_bytes > 0
    return draft_number


def draft_posts(sandbox: RunningSandbox) -> list[Any]:
    return [w for w in sandbox.economic.write_log if (w.method, w.path) == ("POST", "/orders/drafts")]


async def assert_left_halfway(db: Database, order: int) -> dict[str, Any]:
    row = dict(await db.pool.fetchrow("select * from billing_order where id = $1", order))
    assert row["key_first_sent_at"] is not None and row["idempotency_key"].startswith("hubtui-")
    assert (row["status"], row["economic_draft_number"], row["exported_at"]) == ("open", None, None)
    statuses = await db.pool.fetch("select distinct status from time_entry where order_id = $1", order)
    assert [r["status"] for r in statuses] == ["approved"]
    audit = await db.pool.fetch("select event_type from audit_event where event_type like 'export_%' order by id")
    assert [r["event_type"] for r in audit] == ["export_started"]
    return row


async def assert_exported_once(db: Database, order: int, draft_number: int, sandbox: RunningSandbox) -> None:
    assert list(sandbox.economic.drafts) == [draft_number]
    assert sandbox.economic.drafts[draft_number]["references"]["other"] == ORDER_NUMBER
    row = await db.pool.fetchrow("select * from billing_order where id = $1", order)
    assert (row["status"], row["economic_draft_number"]) == ("exported", draft_number)
    statuses = await db.pool.fetch("select distinct status from time_entry where order_id = $1", order)
    assert [r["status"] for r in statuses] == ["billed"]
    completed = await db.pool.fetch("select after from audit_event where event_type = 'export_completed'")
    assert [json.loads(r["after"])["economic_draft_id"] for r in completed] == [draft_number]


def live_settings(sandbox: RunningSandbox, tmp_path: Path, **changes: Any) -> Settings:
    return Settings(**{name.lower(): value for name, value in sandbox.env().items()},
                    **{"hubtui_data_dir": tmp_path / "data", "http_max_retries": 0, "http_timeout_seconds": 2,
                       "timetracking_economic_read_only": False, "timetracking_economic_dry_run": False, **changes})


async def export_now(db: Database, settings: Settings, order: int, **options: Any) -> Any:
    async with EconomicClient(settings) as economic:
        return await OrderExport(db, settings, economic).export(order, **options)


async def an_hour_passes(db: Database, sandbox: RunningSandbox, order: int) -> None:
    """What an hour does: the key was first sent long ago, and e-conomic has forgotten it."""
    await db.pool.execute("update billing_order set key_first_sent_at = now() - interval '61 minutes' "
                          "where id = $1", order)
    sandbox.economic.idempotency.clear()


async def test_killed_after_the_post_the_retry_within_the_hour_resends_the_key_and_gets_the_same_draft(
    db: Database, database_url: str, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    async with HoldingProxy(sandbox.economic_url) as proxy:
        env = environment(database_url, tmp_path, proxy.url, sandbox)
        draft_number = await export_killed_after_the_post(order_id, proxy, env, tmp_path, sandbox)
    (first,) = draft_posts(sandbox)
    assert first.status == 201 and first.body["references"] == {"other": ORDER_NUMBER}
    key = (await assert_left_halfway(db, order_id))["idempotency_key"]

    result = await export_now(db, live_settings(sandbox, tmp_path), order_id)

    assert (result.success, result.outcome, result.economic_draft_id) == (True, "exported", draft_number)
    assert result.details["replayed"] is True and "replayed by e-conomic" in result.message
    assert len(draft_posts(sandbox)) == 2 and len(sandbox.economic.drafts) == 1  # the second POST was replayed
    assert await db.pool.fetchval("select idempotency_key from billing_order where id = $1", order_id) == key
    await assert_exported_once(db, order_id, draft_number, sandbox)


async def test_killed_after_the_post_a_retry_hours_later_finds_the_draft_instead_of_posting(
    db: Database, database_url: str, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    async with HoldingProxy(sandbox.economic_url) as proxy:
        env = environment(database_url, tmp_path, proxy.url, sandbox)
        draft_number = await export_killed_after_the_post(order_id, proxy, env, tmp_path, sandbox)
    await assert_left_halfway(db, order_id)
    await an_hour_passes(db, sandbox, order_id)
    requests_before = sandbox.economic.request_count

    # The retry is another process, straight to the sandbox.
    retry = await start_export(order_id, environment(database_url, tmp_path, sandbox.economic_url, sandbox),
                               tmp_path)
    stdout, stderr = await asyncio.wait_for(retry.communicate(), timeout=60)

    assert retry.returncode == 0, stderr.decode()
    reply = json.loads(stdout)
    assert (reply["success"], reply["dry_run"], reply["order_id"], reply["economic_draft_id"]) == (
        True, False, order_id, draft_number)
    assert len(draft_posts(sandbox)) == 1, "the retry posted again instead of finding the draft"
    assert sandbox.economic.request_count - requests_before == 2  # GET the customer, GET the drafts by reference
    await assert_exported_once(db, order_id, draft_number, sandbox)


async def lose_the_answer_and_then_the_look_up(db: Database, settings: Settings, order: int,
                                               sandbox: RunningSandbox, status: int) -> Any:
    """Export once: e-conomic makes the draft but the answer never comes (the client times out), and by the
    time hubtui looks the draft up to settle it, e-conomic refuses the look-up with `status`."""
    faults = sandbox.economic.faults
    faults.after_apply_next, faults.after_apply, faults.fault_method = 1, "timeout", "POST"

    async def refuse_the_look_up_once_posted() -> None:
        while not draft_posts(sandbox):  # noqa: ASYNC110 - the sandbox's write log has no event to wait on
            await asyncio.sleep(0.01)
        faults.fault_method, faults.fault_path = "GET", "/orders/drafts"
        faults.reject_next, faults.reject_status = 1, status

    arming = asyncio.ensure_future(refuse_the_look_up_once_posted())
    try:
        return await export_now(db, settings.model_copy(update={"http_timeout_seconds": 0.5}), order)
    finally:
        arming.cancel()


@pytest.mark.parametrize("status", [400, 404, 500])
async def test_a_failed_look_up_never_posts_the_order_becomes_unknown_until_a_person_settles_it(
    db: Database, sandbox: RunningSandbox, order_id: int, tmp_path: Path, status: int
) -> None:
    """The double-billing path: answer lost, an hour passes, and e-conomic will not answer the look-up."""
    live = live_settings(sandbox, tmp_path)
    first = await lose_the_answer_and_then_the_look_up(db, live, order_id, sandbox, status)
    assert (first.success, first.outcome) == (False, "unknown")
    (draft_number,) = sandbox.economic.drafts
    await an_hour_passes(db, sandbox, order_id)
    key = await db.pool.fetchval("select idempotency_key from billing_order where id = $1", order_id)

    sandbox.economic.faults.fault_method, sandbox.economic.faults.fault_path = "GET", "/orders/drafts"
    for _ in range(2):  # again and again: whatever the look-up answers, nothing is posted
        sandbox.economic.faults.reject_next, sandbox.economic.faults.reject_status = 1, status
        result = await export_now(db, live, order_id)
        assert (result.success, result.outcome) == (False, "unknown")
        assert f"Check e-conomic's draft orders for reference {ORDER_NUMBER}" in result.message
        assert f"hubtui orders attach {order_id} --draft N" in result.message and "--none-exists" in result.message
        assert len(draft_posts(sandbox)) == 1 and len(sandbox.economic.drafts) == 1
        row = await db.pool.fetchrow("select * from billing_order where id = $1", order_id)
        assert (row["status"], row["idempotency_key"]) == ("unknown", key)
        assert ORDER_NUMBER in row["export_problem"]
    unknown = await db.pool.fetch("select message from audit_event where event_type = 'export_unknown'")
    assert len(unknown) >= 2 and all("UNKNOWN" in r["message"] for r in unknown)

    # The person looked in e-conomic and found the draft: attach it (checked against the order).
    wrong = await OrderExport(db, live, EconomicClient(live)).attach(order_id, 999_999)
    assert wrong.outcome == "failed" and "999999" in wrong.message
    async with EconomicClient(live) as economic:
        attached = await OrderExport(db, live, economic).attach(order_id, draft_number)
    assert (attached.outcome, attached.economic_draft_id) == ("exported", draft_number)
    assert "attached by a person" in attached.message
    await assert_exported_once(db, order_id, draft_number, sandbox)


async def test_the_person_declares_no_draft_exists_and_the_export_posts_once_with_a_new_key(
    db: Database, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    live = live_settings(sandbox, tmp_path)
    await db.pool.execute("update billing_order set key_first_sent_at = now() - interval '2 hours' where id = $1",
                          order_id)
    sandbox.economic.faults.reject_next, sandbox.economic.faults.fault_method = 1, "GET"
    sandbox.economic.faults.fault_path = "/orders/drafts"
    assert (await export_now(db, live, order_id)).outcome == "unknown"
    old_key = await db.pool.fetchval("select idempotency_key from billing_order where id = $1", order_id)
    assert (await export_now(db, live, 999_999, none_exists=True)).outcome == "refused"

    result = await export_now(db, live, order_id, none_exists=True)

    assert (result.success, result.outcome) == (True, "exported")
    (post,) = draft_posts(sandbox)
    assert post.applied and post.status == 201
    row = await db.pool.fetchrow("select * from billing_order where id = $1", order_id)
    assert row["idempotency_key"] != old_key and row["status"] == "exported"
    await assert_exported_once(db, order_id, result.economic_draft_id, sandbox)
    declared = await db.pool.fetchval("select count(*) from audit_event where event_type = 'export_none_declared'")
    assert declared == 1
    # An exported order says so and sends nothing.
    again = await export_now(db, live, order_id, none_exists=True)
    assert again.outcome == "refused" and "already exported" in again.message
    assert len(draft_posts(sandbox)) == 1


@pytest.mark.parametrize("kind", ["500", "timeout", "malformed", "reset"])
async def test_an_answer_lost_after_the_draft_was_made_is_settled_by_looking_it_up(
    db: Database, sandbox: RunningSandbox, order_id: int, tmp_path: Path, kind: str
) -> None:
    live = live_settings(sandbox, tmp_path, http_timeout_seconds=0.5)
    faults = sandbox.economic.faults
    faults.after_apply_next, faults.after_apply, faults.fault_method = 1, kind, "POST"

    result = await export_now(db, live, order_id)

    (draft_number,) = sandbox.economic.drafts
    assert (result.success, result.outcome, result.economic_draft_id) == (True, "exported", draft_number)
    assert "confirmed by re-read" in result.message
    (post,) = draft_posts(sandbox)
    assert post.applied and post.status != 201
    await assert_exported_once(db, order_id, draft_number, sandbox)
    outcomes = await db.pool.fetch("select event_type from audit_event where event_type like 'export_%' order by id")
    assert [r["event_type"] for r in outcomes] == ["export_started", "export_completed"]


async def test_a_lost_answer_that_cannot_be_settled_now_is_settled_by_the_next_export_within_the_hour(
    db: Database, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    live = live_settings(sandbox, tmp_path)
    first = await lose_the_answer_and_then_the_look_up(db, live, order_id, sandbox, 503)

    assert first.outcome == "unknown" and ORDER_NUMBER in first.message
    (draft_number,) = sandbox.economic.drafts
    second = await export_now(db, live, order_id)  # within the hour: the key is resent, e-conomic replays
    assert (second.outcome, second.economic_draft_id) == ("exported", draft_number)
    assert len(sandbox.economic.drafts) == 1
    await assert_exported_once(db, order_id, draft_number, sandbox)


async def test_a_post_e_conomic_refused_gets_a_new_key_and_the_next_export_creates_one_draft(
    db: Database, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    live = live_settings(sandbox, tmp_path)
    sandbox.economic.faults.reject_next, sandbox.economic.faults.fault_method = 1, "POST"
    key = await db.pool.fetchval("select idempotency_key from billing_order where id = $1", order_id)

    refused = await export_now(db, live, order_id)
    assert refused.outcome == "failed" and "e-conomic created nothing" in refused.message
    assert sandbox.economic.drafts == {}
    row = await db.pool.fetchrow("select * from billing_order where id = $1", order_id)
    assert row["idempotency_key"] != key and row["key_first_sent_at"] is None and row["status"] == "open"

    result = await export_now(db, live, order_id)
    assert result.outcome == "exported"
    await assert_exported_once(db, order_id, result.economic_draft_id, sandbox)


async def second_hub_order(admin_url: str, settings: Settings, economic_number: int) -> tuple[Database, int, str]:
    """Another hub database (as another OS user's default gets), numbering its first order the same."""
    name = f"hubtui_test_{os.getpid()}_second"
    await drop_database(admin_url, name)
    await ensure_database(admin_url, name)
    url = admin_url.replace("/postgres?", f"/{name}?", 1)
    await upgrade_to_head(url)
    other = await Database.connect(url)
    customer = await other.pool.fetchval(
        "insert into customer (name, hourly_rate, economic_customer_number) values ('Fjord Data A/S', 1000, $1) "
        "returning id", economic_number)
    queue = ApprovalQueue(other, settings)
    orders = Orders(other, settings)
    entry = await other.pool.fetchval(
        "insert into time_entry (remote_id, customer_id, work_date, duration_minutes, billable, description) "
        "values ('43x77', $1, '2026-10-05', 60, true, 'Server') returning id", customer)
    await queue.approve(entry)
    return other, await orders.generate_order(customer), name


async def test_two_hub_databases_exporting_the_same_order_number_in_the_same_hour_get_their_own_drafts(
    db: Database, admin_url: str, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    live = live_settings(sandbox, tmp_path)
    other, other_order, name = await second_hub_order(admin_url, live, ECONOMIC_NUMBER + 9)
    try:
        assert (await other.pool.fetchval("select order_number from billing_order")) == ORDER_NUMBER
        mine = await export_now(db, live, order_id)
        theirs = await export_now(other, live, other_order)
        assert mine.outcome == theirs.outcome == "exported"
        assert mine.economic_draft_id != theirs.economic_draft_id and len(sandbox.economic.drafts) == 2
        drafts = sandbox.economic.drafts
        assert drafts[mine.economic_draft_id]["customer"]["customerNumber"] == ECONOMIC_NUMBER
        assert drafts[theirs.economic_draft_id]["customer"]["customerNumber"] == ECONOMIC_NUMBER + 9
        # Even if both orders carried one key (as when it was derived from the order number), the replayed
        # answer is compared with what was sent and never taken for this order.
        await other.pool.execute("update billing_order set status = 'open', economic_draft_number = null, "
                                 "key_first_sent_at = null, idempotency_key = $1",
                                 await db.pool.fetchval("select idempotency_key from billing_order"))
        stranger = await export_now(other, live, other_order)
        assert (stranger.success, stranger.outcome) == (False, "unknown")
        assert f"draft {mine.economic_draft_id}, which is not this order" in stranger.message
        assert f"customer {ECONOMIC_NUMBER}, not {ECONOMIC_NUMBER + 9}" in stranger.message
        assert await other.pool.fetchval("select status from billing_order") == "unknown"
        assert len(sandbox.economic.drafts) == 2
    finally:
        await other.close()
        await drop_database(admin_url, name)
