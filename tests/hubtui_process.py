"""Running hubtui as a user, a script or cron does: a separate process, with none of the settings a
developer may have exported in the environment the tests run in."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubtui.config import Settings

# Every environment variable hubtui reads as a setting (matched without regard to case, as Settings does).
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any hubtui setting, plus `settings`. XDG_CONFIG_HOME is the
    session's empty directory (set by conftest), so a developer's ~/.config/hubtui/.env is never read."""
    env = {name: value for name, value in os.environ.items() if name.upper() not in SETTING_NAMES}
    assert "XDG_CONFIG_HOME" in env, "conftest.py must isolate the user config file"
    return {**env, **settings}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def run_hubtui(*args: str, env: Mapping[str, str], cwd: Path) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubtui", *args, env=dict(env), cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())
