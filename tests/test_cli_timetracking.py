"""The headless time-tracking commands as scripts and cron run them: separate `hubtui --demo` processes.

Every `--demo` process starts its own fresh sandboxes, but the demo hub database persists between commands,
so the runs below are one story: sync, peek, decide, make an order, export it. Commands that do not depend
on each other run side by side. This test process keeps the demo's embedded Postgres running (each run joins
it instead of starting its own) and reads the demo hub database directly to check what the commands did.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hubtui_process import Run, clean_environment, run_hubtui

from hubtui.store.db import Database, embedded_url

YEAR = datetime.now(UTC).year
EXPORT_KEYS = {"success", "dry_run", "order_id", "economic_draft_id", "message", "details"}
ENTRY_KEYS = {"id", "customer_id", "customer_name", "economic_customer_number", "contact", "work_date",
              "duration_minutes", "billable", "billable_hours", "hourly_rate", "rate_is_default", "amount",
              "description", "related_case", "position", "total", "customer_position", "customer_total"}


@dataclass
class Story:
    """Everything the commands printed, and what the hub database held at the interesting moments."""

    runs: dict[str, Run] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending_after_sync: int = 0


def rounded_hours(minutes: int) -> Decimal:
    return (Decimal(-(-minutes // 15) * 15) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def approved_hours(row: dict[str, Any]) -> Decimal:
    """What approving without --hours stores: 0 for an entry marked not billable in vTiger, else rounded up."""
    return rounded_hours(row["duration_minutes"]) if row["billable"] else Decimal("0.00")


def order_hours(story: Story) -> list[Decimal]:
    """The order's line quantities in date order: e1 (only when it has hours to bill) and e2 (approved as 1,5)."""
    return [hours for hours in (story.rows["e1"]["billable_hours"], Decimal("1.50")) if hours > 0]


@pytest.fixture(scope="module")
async def story(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Story]:
    home = tmp_path_factory.mktemp("timetracking-demo")
    data_dir = home / "data"
    hub_url = await embedded_url(data_dir / "demo" / "pgdata")  # held until the test process ends
    env = clean_environment(HUBTUI_DATA_DIR=str(data_dir))
    story = Story()
    runs = story.runs

    def run(*args: str, **settings: str) -> Any:
        return run_hubtui("--demo", *args, env={**env, **settings}, cwd=home)

    runs["sync"] = await run("sync", "timelogs")
    db = await Database.connect(hub_url)
    try:
        story.pending_after_sync = await db.pool.fetchval("select count(*) from time_entry where status = 'pending'")
        runs["next"] = await run("wizard", "next", "--json")
        first = runs["next"].json()["entry"]
        story.rows["next"] = dict(await db.pool.fetchrow(
            "select e.*, c.hourly_rate, c.economic_customer_number as number from time_entry e "
            "join customer c on c.id = e.customer_id where e.id = $1", first["id"]))
        story.ids["queue_head"] = await db.pool.fetchval(
            "select e.id from time_entry e join customer c on c.id = e.customer_id where e.status = 'pending' "
            "order by c.name, e.customer_id, e.work_date, e.id limit 1")
        customer = first["customer_id"]
        same = [r["id"] for r in await db.pool.fetch(
            "select id from time_entry where customer_id = $1 and status = 'pending' order by work_date, id",
            customer)]
        others = [r["id"] for r in await db.pool.fetch(
            "select id from time_entry where customer_id <> $1 and status = 'pending' order by id", customer)]
        e1, e2, e3, e4 = same[0], same[1], others[0], others[1]
        story.ids.update(customer=customer, e1=e1, e2=e2, e3=e3, e4=e4)

        (runs["approve"], runs["approve_hours"], runs["approve_25"], runs["reject"],
         runs["reject_blank"]) = await asyncio.gather(
            run("entries", "approve", str(e1)),
            run("entries", "approve", str(e2), "--hours", "1,5"),
            run("entries", "approve", str(e3), "--hours", "25"),
            run("entries", "reject", str(e3), "--reason", "Intern tid"),
            run("entries", "reject", str(e4), "--reason", "   "),
        )
        runs["approve_again"], runs["reject_again"], runs["generate"] = await asyncio.gather(
            run("entries", "approve", str(e1)),
            run("entries", "reject", str(e3), "--reason", "Dublet"),
            run("orders", "generate", "--customer", str(customer), "--json"),
        )
        order = runs["generate"].json()["order_id"]
        story.ids["order"] = order
        (runs["generate_again"], runs["export_blocked"], runs["export_dry_run"],
         runs["export_booked"]) = await asyncio.gather(
            run("orders", "generate", "--customer", str(customer), "--json"),
            run("orders", "export", str(order), "--json"),
            run("orders", "export", str(order), "--json", TIMETRACKING_ECONOMIC_READ_ONLY="false"),
            run("orders", "export", str(order), "--json", TIMETRACKING_ECONOMIC_READ_ONLY="false",
                TIMETRACKING_ECONOMIC_DRY_RUN="false", TIMETRACKING_EXPORT_TYPE="booked"),
        )
        story.rows["order_before_live"] = dict(await db.pool.fetchrow("select * from billing_order where id = $1",
                                                                      order))
        runs["export_live"] = await run("orders", "export", str(order), "--json",
                                        TIMETRACKING_ECONOMIC_READ_ONLY="false",
                                        TIMETRACKING_ECONOMIC_DRY_RUN="false")
        runs["attach_exported"], runs["none_exists_exported"] = await asyncio.gather(
            run("orders", "attach", str(order), "--draft", "1"),
            run("orders", "export", str(order), "--none-exists", "--json", TIMETRACKING_ECONOMIC_READ_ONLY="false",
                TIMETRACKING_ECONOMIC_DRY_RUN="false"),
        )
        for name in ("e1", "e2", "e3", "e4"):
            story.rows[name] = dict(await db.pool.fetchrow("select * from time_entry where id = $1",
                                                           story.ids[name]))
        story.rows["order"] = dict(await db.pool.fetchrow("select * from billing_order where id = $1", order))
        yield story
    finally:
        await db.close()


def test_sync_timelogs_leaves_the_demo_queue_full_of_pending_entries(story: Story) -> None:
    run = story.runs["sync"]
    assert run.code == 0, run.stderr
    (line,) = run.stdout.splitlines()
    assert line.startswith("vTiger timelogs: ") and " 0 skipped" in line
    assert story.pending_after_sync > 40


def test_wizard_next_json_shows_the_head_of_the_queue_and_leaves_it_unclaimed(story: Story) -> None:
    run = story.runs["next"]
    assert run.code == 0, run.stderr
    reply = run.json()
    assert set(reply) == {"entry", "message"} and reply["message"] == ""
    entry, row = reply["entry"], story.rows["next"]
    assert set(entry) == ENTRY_KEYS
    assert entry["id"] == story.ids["queue_head"]
    rate = row["hourly_rate"] if row["hourly_rate"] is not None else Decimal("850.00")
    hours = approved_hours(row)
    assert (entry["customer_id"], entry["work_date"], entry["duration_minutes"], entry["description"],
            entry["contact"], entry["related_case"], entry["economic_customer_number"]) == (
        row["customer_id"], row["work_date"].isoformat(), row["duration_minutes"], row["description"],
        row["contact"], row["related_case"], row["number"])
    # Money and hours as exact decimal strings, never floats.
    assert (entry["billable_hours"], entry["hourly_rate"], entry["amount"]) == (
        str(hours), str(rate), str((hours * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)))
    assert entry["rate_is_default"] is (row["hourly_rate"] is None)
    assert (entry["position"], entry["total"]) == (1, story.pending_after_sync)
    assert entry["customer_position"] == 1 and entry["customer_total"] >= 2
    assert row["claimed_by"] is None and row["claimed_until"] is None  # a headless peek holds nothing


def test_entries_approve_and_reject_decide_once(story: Story) -> None:
    runs, ids, rows = story.runs, story.ids, story.rows
    for name in ("approve", "approve_hours", "reject"):
        assert runs[name].code == 0, runs[name].stderr
    assert runs["approve"].stdout == f"time entry {ids['e1']} approved\n"
    assert runs["approve_hours"].stdout == f"time entry {ids['e2']} approved\n"
    assert runs["reject"].stdout == f"time entry {ids['e3']} rejected\n"
    # The demo's queue head is marked not billable in vTiger: approved at 0 hours, not its 1.25 h worked.
    assert (rows["e1"]["billable"], rows["e1"]["billable_hours"]) == (False, Decimal("0.00"))
    assert rows["e2"]["billable_hours"] == Decimal("1.50")  # "1,5": the Danish decimal comma
    assert (rows["e3"]["status"], rows["e3"]["reject_reason"]) == ("rejected", "Intern tid")


def test_a_second_decision_of_the_same_entry_exits_1_with_one_line(story: Story) -> None:
    for name, entry, verb in (("approve_again", "e1", "approved"), ("reject_again", "e3", "rejected")):
        run = story.runs[name]
        assert run.code == 1 and run.stdout == ""
        (line,) = run.stderr.splitlines()
        assert line.startswith(f"hubtui: time entry {story.ids[entry]} was already {verb} by ")
        assert line.endswith("someone else decided it first")
    assert story.rows["e3"]["reject_reason"] == "Intern tid"  # the second reason did not land


def test_invalid_hours_exit_2_and_a_blank_reason_exits_1_each_with_one_line(story: Story) -> None:
    run = story.runs["approve_25"]
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.splitlines() == ["hubtui: Billable hours can be at most 24 for one entry"]
    blank = story.runs["reject_blank"]
    assert blank.code == 1 and blank.stdout == ""
    assert blank.stderr.splitlines() == ["hubtui: a rejection needs a reason"]
    assert story.rows["e4"]["status"] == "pending"


def test_orders_generate_json_makes_the_order_and_a_second_run_is_refused(story: Story) -> None:
    run = story.runs["generate"]
    assert run.code == 0, run.stderr
    reply = run.json()
    rate = story.rows["next"]["hourly_rate"] or Decimal("850.00")
    total = sum(((hours * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # each line rounded, then summed
                 for hours in order_hours(story)), Decimal("0.00"))
    assert reply == {"success": True, "order_id": story.ids["order"], "order_number": f"ORD-{YEAR}-001",
                     "total_amount": str(total), "currency": "DKK", "line_count": len(order_hours(story))}

    again = story.runs["generate_again"]
    assert again.code == 1, again.stderr
    refused = again.json()
    assert refused["success"] is False
    assert refused["message"].endswith("has no approved time entries that are not on an order")


def test_orders_export_is_blocked_by_default_with_the_seed_reply(story: Story) -> None:
    run = story.runs["export_blocked"]
    assert run.code == 1, run.stderr
    reply = run.json()
    assert set(reply) == EXPORT_KEYS
    assert (reply["success"], reply["dry_run"], reply["order_id"], reply["economic_draft_id"]) == (
        False, False, story.ids["order"], None)
    assert "TIMETRACKING_ECONOMIC_READ_ONLY" in reply["message"]
    assert reply["details"]["read_only"] is True and reply["details"]["order_number"] == f"ORD-{YEAR}-001"


def test_orders_export_with_read_only_off_is_a_dry_run_with_the_payload(story: Story) -> None:
    run = story.runs["export_dry_run"]
    assert run.code == 0, run.stderr
    reply = run.json()
    assert set(reply) == EXPORT_KEYS
    assert (reply["success"], reply["dry_run"], reply["order_id"], reply["economic_draft_id"]) == (
        True, True, story.ids["order"], None)
    payload = reply["details"]["payload"]
    assert payload["references"] == {"other": f"ORD-{YEAR}-001"}
    assert payload["customer"] == {"customerNumber": story.rows["next"]["number"]}
    # Lines in date order: e1 and e2 are the customer's first two entries; e2 was approved as 1,5 hours.
    assert [Decimal(str(line["quantity"])) for line in payload["lines"]] == order_hours(story)
    assert story.rows["order_before_live"]["status"] == "open"
    assert story.rows["order_before_live"]["export_started_at"] is None


def test_orders_export_of_another_type_than_draft_exits_1(story: Story) -> None:
    run = story.runs["export_booked"]
    assert run.code == 1, run.stderr
    reply = run.json()
    assert reply["success"] is False and reply["dry_run"] is False
    assert "TIMETRACKING_EXPORT_TYPE=booked is not supported" in reply["message"]


def test_orders_export_live_exits_0_with_the_draft_number_and_bills_the_entries(story: Story) -> None:
    run = story.runs["export_live"]
    assert run.code == 0, run.stderr
    reply = run.json()
    assert set(reply) == EXPORT_KEYS
    number = reply["economic_draft_id"]
    assert isinstance(number, int)
    assert (reply["success"], reply["dry_run"], reply["message"]) == (True, False,
                                                                      f"Exported to e-conomic draft {number}")
    order = story.rows["order"]
    assert (order["status"], order["economic_draft_number"]) == ("exported", number)
    assert story.rows["e2"]["status"] == "billed"
    # e1 approved at 0 hours (not billable in vTiger) is on no order line, so it is not billed.
    assert story.rows["e1"]["status"] == ("billed" if story.rows["e1"]["billable_hours"] > 0 else "approved")


def test_the_ways_out_of_an_unknown_export_refuse_an_exported_order_and_send_nothing(story: Story) -> None:
    number = story.rows["order"]["economic_draft_number"]
    attach = story.runs["attach_exported"]
    assert attach.code == 1 and attach.stdout == ""
    assert attach.stderr.strip() == f"order ORD-{YEAR}-001 was already exported as e-conomic draft {number}"
    again = story.runs["none_exists_exported"]
    assert again.code == 1, again.stderr
    reply = again.json()
    assert (reply["success"], reply["economic_draft_id"], reply["details"]["outcome"]) == (False, number, "refused")
    assert story.rows["order"]["status"] == "exported"
