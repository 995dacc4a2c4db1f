"""The layering holds: screens ask services, services compose the store, the connectors and core, and SQL
lives in hubtui/store only. Run on every test run, so the structure cannot quietly erode."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A string that starts an SQL statement, as hubtui writes them (lower case).
SQL = re.compile(r"""(?:^|[("'f])"""
                 r"(select |insert into |update [a-z_]+ set |delete from |truncate |with [a-z_]+ as \()")
# The vTiger connector writes VTQL, vTiger's own query language, which looks like SQL but is not ours to move.
NOT_SQL = {Path("hubtui/connectors/vtiger.py")}


def test_the_import_contracts_in_pyproject_are_kept() -> None:
    # import-linter's own command, as a maintainer runs it: `lint-imports` in the repository.
    run = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                          "sys.exit(lint_imports(config_filenames=('pyproject.toml',), no_cache=True, no_logo=True))"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_sql_is_written_only_in_the_store() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "hubtui").rglob("*.py"))
        if path.relative_to(ROOT / "hubtui").parts[0] != "store" and path.relative_to(ROOT) not in NOT_SQL
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SQL.search(line.strip())
    ]
    assert outside == []
