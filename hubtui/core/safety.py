"""The safety state in words, so every screen says the same thing the same way."""

from __future__ import annotations

from typing import Literal

WriteMode = Literal["read_only", "dry_run", "live"]


def write_mode(read_only: bool, dry_run: bool) -> WriteMode:
    # READ-ONLY wins over DRY-RUN: a blocked write is never even simulated.
    if read_only:
        return "read_only"
    if dry_run:
        return "dry_run"
    return "live"
