"""`hubtui demo` in a real terminal (tmux): filter, open a customer's diff, go back, quit with ctrl+q — run
in tmux directly, and over a real `ssh -t localhost` at 80x24 as support staff use it (an sshd started for the
test on a loopback port, with a key made for it; skipped, with the reason, where no sshd can be started)."""

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hubtui_process import clean_environment

from hubtui.core.fold import fold
from hubtui.sandbox.demo_data import DemoCompany, demo_companies

EXIT_MARKER = "HUBTUI-EXIT="


class Terminal:
    """One tmux server on a private socket, with one window running a shell command."""

    def __init__(self, env: dict[str, str], width: int = 100, height: int = 30) -> None:
        self.socket = f"hubtui-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.size = (width, height)
        self.socket_path: Path | None = None

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-u", "-f", "/dev/null", "-L", self.socket, *args],
            env=self.env, capture_output=True, text=True, timeout=10, check=True,
        )
        return result.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "e2e", "-x", str(self.size[0]), "-y", str(self.size[1]), command)
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


@dataclass
class Sshd:
    port: int
    key: Path  # the client's private key, authorised for this user


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """An sshd on a free loopback port that lets this user in with a key made here, for this test only."""
    daemon = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    if daemon is None or not shutil.which("ssh"):
        pytest.skip("no OpenSSH server here (the README's test command installs openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("starting sshd needs root (its privilege separation); CI runs as root")
    home = tmp_path / "ssh"
    home.mkdir()
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "client.pub").read_text())
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    port = free_port()
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host'}\nPidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
    )
    server = subprocess.Popen([daemon, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            probe = subprocess.run(
                ["ssh", *ssh_options(port, home / "client"), "127.0.0.1", "true"], capture_output=True,
                text=True, timeout=10, check=False)
            if probe.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.skip(f"sshd could not be started here: {probe.stderr.strip() or server.stderr.read()}")
            time.sleep(0.2)
        yield Sshd(port, home / "client")
    finally:
        server.terminate()
        server.wait(timeout=10)


def ssh_options(port: int, key: Path) -> list[str]:
    return ["-p", str(port), "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]


def test_demo_filter_open_back_quit(tmp_path: Path) -> None:
    demo_filter_open_back_quit(tmp_path, via_ssh=None)


def test_demo_over_ssh_at_80x24(tmp_path: Path, sshd: Sshd) -> None:
    demo_filter_open_back_quit(tmp_path, via_ssh=sshd, size=(80, 24))


def demo_filter_open_back_quit(tmp_path: Path, via_ssh: Sshd | None, size: tuple[int, int] = (100, 30)) -> None:
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
    env.update({"HUBTUI_DATA_DIR": str(data_dir), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                "TERM": "xterm-256color" if via_ssh else "xterm"})
    hubtui = f"cd {shlex.quote(str(tmp_path))} && {shlex.quote(sys.executable)} -m hubtui demo"
    if via_ssh is not None:
        # The remote login gets sshd's environment, not ours: pass the test's settings along explicitly.
        passed = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items()
                          if name in ("HUBTUI_DATA_DIR", "XDG_CONFIG_HOME", "LANG", "LC_ALL", "PYTHONPATH"))
        remote = f"cd {shlex.quote(str(tmp_path))} && env {passed} {shlex.quote(sys.executable)} -m hubtui demo"
        hubtui = shlex.join(["ssh", "-t", *ssh_options(via_ssh.port, via_ssh.key), "127.0.0.1", remote])
    # stderr is not redirected: Textual draws on it.
    command = f"{hubtui}; echo {EXIT_MARKER}$?; sleep 600"
    terminal = Terminal(env, *size)
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
