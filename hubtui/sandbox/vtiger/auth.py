"""Who may call the sandbox vTiger: its demo credentials, the HTTP Basic check of REST calls and what a
webservice.php session (made by getchallenge + login) remembers.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

VTIGER_USERNAME = "support@sandbox.hubtui.dk"
VTIGER_ACCESS_KEY = "Sbx7hubtuiDemoKy"  # vtiger access keys are 16 alphanumerics; this one is a demo value
CHALLENGE_LIFETIME_S = 300


@dataclass
class Session:
    """A webservice.php session; both times are `time.monotonic()` (idle and lifetime limits use them)."""

    created: float
    last_used: float


def basic_auth_ok(header: str, username: str, access_key: str) -> bool:
    """Whether an `Authorization: Basic ...` header carries this username and access key."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given_username, _, key = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return same(given_username, username) and same(key, access_key)


def same(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input (compare_digest on str does not)."""
    return secrets.compare_digest(given.encode(), expected.encode())
