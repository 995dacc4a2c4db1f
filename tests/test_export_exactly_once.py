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
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hubtui_process import clean_environment

from hubtui.config import Settings
from hubtui.connectors.economic import EconomicClient
from hubtui.sandbox.server import RunningSandbox, SandboxOptions, serve_sandboxes
from hubtui.services.timetracking import OrderExport, TimeTracking
from hubtui.store.db import Database

ECONOMIC_NUMBER = 10_000
YEAR = datetime.now(UTC).year
ORDER_NUMBER = f"ORD-{YEAR}-001"
LIVE = {"TIMETRACKING_ECONOMIC_READ_ONLY": "false", "TIMETRACKING_ECONOMIC_DRY_RUN": "false"}


class HoldingProxy:
    """TCP proxy to `upstream`; the answer to `POST /orders/drafts` never reaches the client."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.held = asyncio.Event()  # set once e-conomic's answer to the POST arrived here (and stayed)
        self.held_bytes = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        self._writers += [client_writer, upstream_writer]
        holding = False

        async def requests() -> None:
            nonlocal holding
            while data := await client_reader.read(65536):
                # HTTP/1.1 without pipelining: everything e-conomic sends after this is the POST's answer.
                if b"POST /orders/drafts " in data:
                    holding = True
                upstream_writer.write(data)
                await upstream_writer.drain()
            upstream_writer.close()

        async def answers() -> None:
            while data := await upstream_reader.read(65536):
                if holding:
                    self.held_bytes += len(data)
                    self.held.set()
                    continue
                client_writer.write(data)
                await client_writer.drain()
            client_writer.close()

        await asyncio.gather(requests(), answers(), return_exceptions=True)


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
    tracking = TimeTracking(db, settings)
    for number, (day, minutes) in enumerate(((1, 95), (2, 20))):
        entry = await db.pool.fetchval(
            "insert into time_entry (remote_id, customer_id, work_date, duration_minutes, billable, description) "
            "values ($1, $2, $3, $4, true, 'Support') returning id",
            f"43x{number}", customer, date(2026, 10, day), minutes,
        )
        await tracking.approve(entry)
    return await tracking.generate_order(customer)


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
    assert row["export_started_at"] is not None and row["idempotency_key"] == f"hubtui-{ORDER_NUMBER}"
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


async def test_killed_after_the_post_the_retry_within_the_hour_finds_the_same_draft(
    db: Database, database_url: str, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    async with HoldingProxy(sandbox.economic_url) as proxy:
        env = environment(database_url, tmp_path, proxy.url, sandbox)
        draft_number = await export_killed_after_the_post(order_id, proxy, env, tmp_path, sandbox)
    (first,) = draft_posts(sandbox)
    assert first.status == 201 and first.body["references"] == {"other": ORDER_NUMBER}
    await assert_left_halfway(db, order_id)

    # The retry, in this process, straight to the sandbox: it finds the draft by its order number before
    # posting anything (a POST would carry the same key, which e-conomic replays within the hour).
    live = Settings(**{name.lower(): value for name, value in sandbox.env().items()},
                    hubtui_data_dir=tmp_path / "data", http_max_retries=0,
                    timetracking_economic_read_only=False, timetracking_economic_dry_run=False)
    async with EconomicClient(live) as economic:
        result = await OrderExport(db, live, economic).export(order_id)

    assert (result.success, result.outcome, result.economic_draft_id) == (True, "exported", draft_number)
    assert result.details["found_by_reference"] is True
    assert len(draft_posts(sandbox)) == 1 and len(sandbox.economic.drafts) == 1
    await assert_exported_once(db, order_id, draft_number, sandbox)


async def test_killed_after_the_post_a_retry_hours_later_finds_the_draft_instead_of_posting(
    db: Database, database_url: str, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    async with HoldingProxy(sandbox.economic_url) as proxy:
        env = environment(database_url, tmp_path, proxy.url, sandbox)
        draft_number = await export_killed_after_the_post(order_id, proxy, env, tmp_path, sandbox)
    await assert_left_halfway(db, order_id)

    # Two hours pass: the export started long ago, and e-conomic has forgotten the key.
    await db.pool.execute("update billing_order set export_started_at = now() - interval '2 hours' where id = $1",
                          order_id)
    sandbox.economic.idempotency.clear()
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


async def test_a_retry_at_the_edge_of_the_hour_does_not_create_a_second_draft(
    db: Database, sandbox: RunningSandbox, order_id: int, tmp_path: Path
) -> None:
    live = Settings(**{name.lower(): value for name, value in sandbox.env().items()},
                    hubtui_data_dir=tmp_path / "data", http_max_retries=0,
                    timetracking_economic_read_only=False, timetracking_economic_dry_run=False)
    dry = live.model_copy(update={"timetracking_economic_dry_run": True})
    async with EconomicClient(live) as economic:
        payload = (await OrderExport(db, dry, economic).export(order_id)).details["payload"]
        # The attempt 59 min 30 s ago: the draft was created, its answer was lost (as in the tests above).
        first = await economic.create_draft_order(payload, f"hubtui-{ORDER_NUMBER}")
        await db.pool.execute(
            "update billing_order set idempotency_key = $2, "
            "export_started_at = now() - interval '59 minutes 30 seconds' where id = $1",
            order_id, f"hubtui-{ORDER_NUMBER}")
        # By the time the retry's POST reaches e-conomic, e-conomic's hour has run out.
        sandbox.economic.idempotency.clear()

        result = await OrderExport(db, live, economic).export(order_id)

    assert result.economic_draft_id == first.response["orderNumber"]
    assert len(sandbox.economic.drafts) == 1
