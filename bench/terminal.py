"""Terminal traffic of the customer list: bytes the app writes per cursor move, and per second while idle.

Runs the real app (`hubtui demo`, its own HUBTUI_DATA_DIR) in tmux at 80x24 and at 120x40 and records every
byte it writes to the terminal with `tmux pipe-pane`. Over a slow SSH link these bytes are the lag.

- bytes per cursor move: the list focused, 50 presses of j/k that stay within the rows on screen (no scroll),
  a press every 0.1 s; all bytes written from the first press until 0.5 s after the last, divided by 50.
  (The first press after the list took the focus also repaints the list whole, for its focused style.)
- bytes per scrolling move: 20 presses of j past the last row on screen (each one scrolls the list).
- idle bytes per second: 10 s with no input, the filter box focused (as the screen opens).

The app runs as over SSH (SSH_CONNECTION set) unless --local is given. Prints figures; asserts nothing.

    python bench/terminal.py [--sizes 80x24 120x40] [--data-dir /tmp/hubtui-bench-terminal] [--local]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

MOVES = 50
SCROLLS = 20
IDLE_SECONDS = 10.0
KEY_GAP = 0.1
READY = "of 200 customers"


class Pane:
    """One app in one tmux server on a private socket, its output appended to `log`."""

    def __init__(self, width: int, height: int, log: Path) -> None:
        self.socket = f"hubtui-bench-terminal-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.width, self.height, self.log = width, height, log

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-u", "-f", "/dev/null", "-L", self.socket, *args],
                              capture_output=True, text=True, timeout=10, check=True).stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "bench", "-x", str(self.width), "-y", str(self.height), command)
        # -o: only what the app writes to the terminal, not what is typed into it.
        self.tmux("pipe-pane", "-o", "-t", "bench", f"cat >> {shlex.quote(str(self.log))}")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "bench")

    def send(self, key: str) -> None:
        self.tmux("send-keys", "-t", "bench", key)

    def written(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def wait(self, ready: Callable[[str], bool], within: float, what: str) -> str:
        deadline = time.monotonic() + within
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if ready(screen):
                return screen
            time.sleep(0.2)
        raise SystemExit(f"timed out after {within:.0f} s waiting for {what}; the screen:\n{screen}")

    def settle(self, quiet: float = 3.0, within: float = 20.0) -> None:
        """Wait until the app has written nothing for `quiet` seconds (a blinking cursor never is: then
        `within` ends the wait)."""
        deadline = time.monotonic() + within
        size, since = self.written(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            time.sleep(0.2)
            if self.written() != size:
                size, since = self.written(), time.monotonic()

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10, check=False)


def visible_rows(screen: str) -> int:
    """Rows of customers on screen: lines between the column header and the status line."""
    lines = screen.splitlines()
    header = next(n for n, line in enumerate(lines) if "CVR" in line)
    status = next(n for n, line in enumerate(lines) if READY in line)
    return status - header - 1


def measure(width: int, height: int, data_dir: Path, ssh: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="hubtui-terminal-") as tmp:
        log = Path(tmp) / "out.bin"
        # Only the settings given here: a developer's exported HUBTUI_* or .env must not change the figures.
        env = ["env", "-i", f"HOME={tmp}", f"PATH={os.environ.get('PATH', '')}", "LANG=C.UTF-8",
               "LC_ALL=C.UTF-8", "TERM=xterm-256color", f"XDG_CONFIG_HOME={tmp}",
               f"HUBTUI_DATA_DIR={data_dir}"]
        if ssh:
            env.append("SSH_CONNECTION=192.0.2.1 50000 192.0.2.2 22")
        command = f"cd {shlex.quote(tmp)} && {shlex.join(env)} {shlex.quote(sys.executable)} -m hubtui demo; sleep 60"
        pane = Pane(width, height, log)
        try:
            pane.start(command)
            pane.wait(lambda s: READY in s, 120, "the customer list")
            # The demo checks every customer at start, then shows a toast for a few seconds: let both pass.
            pane.wait(lambda s: "Checked " in s, 60, "the start-up check's message")
            pane.wait(lambda s: "Checked " not in s, 60, "the start-up check's message to go")
            pane.settle()

            before = pane.written()
            time.sleep(IDLE_SECONDS)
            idle = (pane.written() - before) / IDLE_SECONDS

            pane.send("Tab")  # the list takes the focus: j and k move the cursor
            time.sleep(1.0)
            rows = visible_rows(pane.screen())
            span = max(1, min(8, rows - 1))
            before = pane.written()
            for n in range(MOVES):
                pane.send("j" if (n // span) % 2 == 0 else "k")
                time.sleep(KEY_GAP)
            time.sleep(0.5)
            per_move = (pane.written() - before) / MOVES

            pane.send("Home")
            time.sleep(0.5)
            for _ in range(rows - 1):
                pane.send("j")
            time.sleep(1.0)
            before = pane.written()
            for _ in range(SCROLLS):
                pane.send("j")
                time.sleep(KEY_GAP)
            time.sleep(0.5)
            per_scroll = (pane.written() - before) / SCROLLS

            pane.send("C-q")
            time.sleep(1.0)
            return {"move": per_move, "scroll": per_scroll, "idle": idle, "rows": rows}
        finally:
            pane.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["80x24", "120x40"], metavar="WxH")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "hubtui-bench-terminal")
    parser.add_argument("--local", action="store_true", help="run without SSH_CONNECTION (as on a local console)")
    args = parser.parse_args()
    print(f"hubtui demo in tmux, {'local' if args.local else 'over SSH (SSH_CONNECTION set)'}; "
          f"data in {args.data_dir}", flush=True)
    print("| terminal | rows shown | bytes per cursor move | bytes per scrolling move | idle bytes/s |")
    print("|---|---:|---:|---:|---:|")
    for size in args.sizes:
        width, height = (int(part) for part in size.lower().split("x"))
        figures = measure(width, height, args.data_dir, ssh=not args.local)
        print(f"| {width}x{height} | {figures['rows']:.0f} | {figures['move']:,.0f} | {figures['scroll']:,.0f} "
              f"| {figures['idle']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
