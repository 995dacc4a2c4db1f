"""Customer list speed at 10k and 100k customers: start → interactive list, filter keystroke p50/p95, RSS.

Prints figures; it is not a pass/fail test. Postgres is started once up front (as the target says:
"with Postgres already running"); each measurement then runs in a fresh Python process so start-up
time includes the interpreter, imports, the database check and loading the list.

    python bench/customer_list.py [--sizes 10000 100000] [--data-dir /tmp/hubtui-bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEYSTROKES = list("nordisk") + ["backspace"] * 7 + list("8000") + ["backspace"] * 4 + list("aps") + [
    "backspace"] * 3 + list("3x10") + ["backspace"] * 4 + list("søn")


async def prepare(data_dir: Path, count: int) -> None:
    from hubtui.config import Settings
    from hubtui.services.demo import seed_demo
    from hubtui.store.db import open_database

    db = await open_database(Settings(hubtui_data_dir=data_dir))
    try:
        started = time.perf_counter()
        await seed_demo(db, count)
        print(f"  seeded {count:,} customers in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        await db.close()


async def child(data_dir: Path, spawned_at: float) -> dict[str, object]:
    """Runs in a fresh process: measure from the moment the parent started it to a drawn, interactive list.

    (psutil's process create_time is not used: Linux reports boot time in whole seconds, so it can be off
    by up to a second.)"""
    import psutil
    from textual import events

    from hubtui.config import Settings
    from hubtui.services.hub import HubServices
    from hubtui.store.db import open_database
    from hubtui.tui.app import HubApp
    from hubtui.tui.screens.customers import CustomerListScreen

    process = psutil.Process()
    settings = Settings(hubtui_data_dir=data_dir)
    db = await open_database(settings)
    app = HubApp(HubServices(settings, db))
    result: dict[str, object] = {}

    async def painted() -> None:
        done = asyncio.Event()
        app.screen.call_after_refresh(done.set)
        await done.wait()

    async with app.run_test(size=(120, 40)):
        screen = app.screen
        while not (isinstance(screen, CustomerListScreen) and screen.table.positions):
            await asyncio.sleep(0.001)
            screen = app.screen
        await painted()
        result["first_rows_s"] = time.time() - spawned_at
        while not screen.loaded:  # noqa: ASYNC110 -- polling is the measurement
            await asyncio.sleep(0.001)
        await painted()
        result["all_loaded_s"] = time.time() - spawned_at
        latencies = []
        for key in KEYSTROKES:
            before = screen.table.positions
            started = time.perf_counter()
            character = key if len(key) == 1 else None
            app._driver.send_message(events.Key(key, character))  # as the terminal driver does
            while screen.table.positions is before:  # noqa: ASYNC110 -- polling is the measurement
                await asyncio.sleep(0)
            await painted()
            latencies.append((time.perf_counter() - started) * 1000)
        result.update(
            customers=len(screen.index),
            filter_p50_ms=statistics.median(latencies),
            filter_p95_ms=statistics.quantiles(latencies, n=20)[-1],
            filter_max_ms=max(latencies),
            rss_mb=process.memory_info().rss / 2**20,
        )
    await db.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "hubtui-bench")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per size; the median is shown")
    parser.add_argument("--child", type=float, metavar="SPAWNED_AT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(asyncio.run(child(args.data_dir, args.child))))
        return

    import pgserver

    from hubtui.config import Settings

    # Hold the embedded server open for the whole benchmark: "Postgres already running".
    server_data = Settings(hubtui_data_dir=args.data_dir).pgdata_dir
    server_data.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(server_data, cleanup_mode="stop")
    print(f"hubtui customer list benchmark (python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    print(f"{'customers':>10} {'start→rows':>11} {'all loaded':>11} {'filter p50':>11} {'filter p95':>11}"
          f" {'max':>8} {'RSS':>7}")
    for size in args.sizes:
        asyncio.run(prepare(args.data_dir, size))
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, __file__, "--child", repr(time.time()), "--data-dir", str(args.data_dir)],
                check=True, capture_output=True, text=True,
            ).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        median = sorted(runs, key=lambda r: r["first_rows_s"])[len(runs) // 2]
        print(f"{median['customers']:>10,} {median['first_rows_s']:>10.2f}s {median['all_loaded_s']:>10.2f}s "
              f"{median['filter_p50_ms']:>9.1f}ms {median['filter_p95_ms']:>9.1f}ms "
              f"{median['filter_max_ms']:>6.1f}ms {median['rss_mb']:>5.0f}MB", flush=True)
    print("targets: start → interactive list ≤ 1.0 s, filter keystroke p95 ≤ 50 ms, RSS ≤ 150 MB")
    print("start→rows: process start to the first rows drawn and keys working; all loaded: the whole index"
          " (filter and sort over every customer) is ready")
    server.cleanup()


if __name__ == "__main__":
    main()
