"""Small wording helpers shared by screens."""

from __future__ import annotations

from datetime import UTC, datetime


def age(moment: datetime | None) -> str:
    """How long ago, in the words a person uses: "45 s ago", "3 min ago", "2 days ago"."""
    if moment is None:
        return "never"
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago" if seconds < 172800 else f"{seconds // 86400} days ago"
