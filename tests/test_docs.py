"""The README is what a new user follows: its commands, settings and CI must stay true."""

import re
from pathlib import Path

from hubtui.config import Settings

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A Markdown link or image target, and a path in backticks that starts by going up a directory.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
UP_PATH = re.compile(r"`(\.\./[^`\s]*)`")


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README, re.S)


def test_readme_has_exactly_the_two_fresh_machine_commands() -> None:
    start, tests = readme_commands()
    assert "pip install" in start and "hubtui demo" in start
    assert "pip install" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def test_readme_documents_every_setting() -> None:
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in README]
    assert not missing


def test_readme_screenshots_exist() -> None:
    for image in re.findall(r"\((screenshots/[^)]+\.svg)\)", README):
        assert (ROOT / image).is_file(), image


def test_docs_point_only_at_files_in_the_repository() -> None:
    # A clone has only the repository: a path outside it (../shared, /work/...) is a dead end for its reader.
    leaving = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in LINK.findall(text) + UP_PATH.findall(text):
            if re.match(r"https?://", target):
                continue
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT.resolve()) or not path.exists():
                leaving.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not leaving
    assert (ROOT / "docs" / "architecture.md") in DOCS
