"""The words a screen puts on an outcome or a safety mode, in the UI's language (hubtui/i18n.py)."""

from __future__ import annotations

from hubtui.i18n import Labels
from hubtui.services.consistency import confirmed_by_reread
from hubtui.services.safety import WriteSafety


def outcome_words(labels: Labels, outcome: str | None, message: str | None = None) -> str:
    """An outcome as the diff and the audit log show it; "written (confirmed by re-read)" when it took a
    re-read to know (the answer to the write was lost)."""
    if not outcome:
        return "—"
    key = f"outcome_{outcome}"
    words = labels(key) if labels.has(key) else outcome
    return labels("outcome_confirmed", words=words) if outcome == "written" and confirmed_by_reread(message) \
        else words


def write_words(labels: Labels, safety: WriteSafety) -> str:
    """What a write to a system would do, for the review before writing: LIVE, READ-ONLY: blocked, ..."""
    return labels(f"write_{safety.mode}", flag=safety.flag or "")
