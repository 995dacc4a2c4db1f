"""The real API samples and e-conomic's JSON schemas in ../shared/api, beside the repository."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ECONOMIC = Path(__file__).resolve().parents[2] / "shared" / "api" / "economic"


def shared_json(relative: str) -> Any:
    """A file under shared/api/economic; the test is skipped where shared/ is not beside the repository."""
    path = ECONOMIC / relative
    if not path.exists():
        pytest.skip(f"{path} is not here (shared/ sits beside the repository)")
    text = path.read_text(encoding="utf-8-sig")
    try:
        return json.loads(text)
    except ValueError:  # some published e-conomic schemas carry trailing commas
        return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))
