"""The real API documents in tests/fixtures/api: e-conomic's JSON schemas and real e-conomic and vTiger
answers (SOURCE.md there says where each came from)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

API_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "api"


def fixture_json(relative: str) -> Any:
    """A file under tests/fixtures/api, e.g. "economic/schemas/self.get.schema.json"; missing fails the test."""
    text = (API_FIXTURES / relative).read_text(encoding="utf-8-sig")
    try:
        return json.loads(text)
    except ValueError:  # some published e-conomic schemas carry trailing commas
        return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))
