"""`hubtui demo` in a real terminal (tmux): filter, open a customer's diff, go back, quit with ctrl+q."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from hubtui_process import clean_environment

from hubtui.core.fold import fold
from hubtui.sandbox.demo_data import DemoCompany, demo_companies

WIDTH, HEIGHT = 100, 30
EXIT_MARKER = "HUBTUI-EXIT="


class Terminal:
    """One tmux server on a private socket, with one window running a shell command."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"hubtui-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.socket_path: Path | None = None

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-u", "-f", "/dev/null", "-L", self.socket, *args],
            env=self.env, capture_output=True, text=True, timeout=10, check=True,
        )
        return result.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "e2e", "-x", str(WIDTH), "-y", str(HEIGHT), command)
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def send(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "e2e", *(["-l"] if literal else []), *keys)

    def wait_for(self, *texts: str, within: float = 15.0, what: str = "") -> str:
        deadline = time.monotonic() + within
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            if EXIT_MARKER in screen and EXIT_MARKER not in texts:
                raise AssertionError(f"hubtui exited while waiting for {what or texts!r}:\n{screen}")
            time.sleep(0.1)
        raise AssertionError(
            f"timed out after {within} s waiting for {what or texts!r}; the screen:\n{screen}"
        )

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True,
                       timeout=10, check=False)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)


def matches(company: DemoCompany, query: str) -> bool:
    needle = fold(query.strip())  # the list folds Danish letters and accents (core/fold.py)
    values = (company.name, company.cvr_number, company.city, company.vtiger_id,
              company.economic_customer_number)
    return any(needle in fold(str(v)) for v in values if v is not None)


def stop_leftover_postgres(pgdata: Path) -> None:
    """If the test failed while hubtui ran, stop the demo Postgres it started (by its pid)."""
    pid_file = pgdata / "postmaster.pid"
    deadline = time.monotonic() + 5
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # hubtui stops it on exit; give that a moment
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        except (ValueError, IndexError, ProcessLookupError):
            pass


def test_demo_filter_open_back_quit(tmp_path: Path) -> None:
    assert shutil.which("tmux"), (
        "tmux is not installed; this end-to-end test needs a real terminal. "
        "The README's test command installs it (e.g. `apt-get install -y tmux`)."
    )
    companies = demo_companies(200)
    # A company with a CVR, found by typing part of its name (its first two words): exactly one match.
    target = next(
        c for c in companies
        if c.cvr_number and sum(matches(o, " ".join(c.name.split()[:2])) for o in companies) == 1
    )
    query = " ".join(target.name.split()[:2])

    data_dir = tmp_path / "data"
    env = {k: v for k, v in clean_environment().items() if not k.startswith("TMUX")}
    env.update({"HUBTUI_DATA_DIR": str(data_dir), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm"})
    # stderr is not redirected: Textual draws on it.
    command = (
        f"cd {shlex.quote(str(tmp_path))} && {shlex.quote(sys.executable)} -m hubtui demo; "
        f"echo {EXIT_MARKER}$?; sleep 600"
    )
    terminal = Terminal(env)
    try:
        terminal.start(command)
        # First start: initdb of the demo cluster, migrations and the seed.
        screen = terminal.wait_for("200 of 200 customers", within=60, what="the customer list")
        assert "e-conomic: READ-ONLY" in screen
        assert "DEMO" in screen

        terminal.send(query, literal=True)
        screen = terminal.wait_for("1 of 200 customers", target.name, what=f"the list filtered by {query!r}")
        others = [c.name for c in companies if c is not target]
        assert not [name for name in others if name in screen]

        # Enter: the customer in the three systems (the demo runs the sandboxes), a: all fields.
        terminal.send("Enter")
        title = f"{target.name}  hub #"
        screen = terminal.wait_for(title, f"vTiger {target.vtiger_id} · e-conomic", "Choice · why",
                                   what="the customer's diff screen")
        assert "unavailable" not in screen  # all three systems answered
        terminal.send("a")
        cvr = target.cvr_number or ""
        screen = terminal.wait_for(f"○ {cvr}", what="all fields, the CVR among them")
        assert re.search(rf"^ CVR\s+○ {cvr}\s", screen, re.MULTILINE), screen  # the hub's column

        terminal.send("Escape")
        screen = terminal.wait_for("1 of 200 customers", what="the list again")
        assert title not in screen

        terminal.send("C-q")
        screen = terminal.wait_for(EXIT_MARKER, within=15, what="hubtui to exit")
        assert f"{EXIT_MARKER}0" in screen
        assert "Traceback" not in screen
    finally:
        terminal.kill()
        stop_leftover_postgres(data_dir / "demo" / "pgdata")
