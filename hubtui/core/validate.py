"""Checks a value a support person typed before it is written anywhere, with a message that says how
to fix it. Bounds come from e-conomic's customer schema, the strictest of the three systems."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from hubtui.core.fields import MAX_LENGTHS, REQUIRED_FIELDS, field_label

_CVR_NOISE = re.compile(r"[\s\-.]")
_EMAIL_SEPARATORS = re.compile(r"[\s,;]+")
# Deliberately loose: catches typos (missing @, no domain), not every RFC 5322 corner. \w lets Danish
# domains like blåbær.dk through.
_EMAIL = re.compile(r"^[^@\s,;<>()\[\]\"]+@(?:[\w-]+\.)+[^\W\d_]{2,}$")
_PHONE = re.compile(r"^[0-9 +\-()/.]+$")
_POSTAL_CODE = re.compile(r"^[\w\- ]+$")
_WEBSITE = re.compile(r"^(?:https?://)?(?:[\w-]+\.)+[^\W\d_]{2,}(?::\d+)?(?:[/?#]\S*)?$", re.IGNORECASE)
_MIN_PHONE_DIGITS = 5


class InvalidValue(ValueError):
    """A typed value that cannot be written; `message` is shown to the support person as is."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _cvr(field: str, text: str) -> str:
    digits = _CVR_NOISE.sub("", text).upper().removeprefix("DK")
    if len(digits) != 8 or not (digits.isascii() and digits.isdigit()):
        raise InvalidValue(field, f"{field_label(field)} must be 8 digits, e.g. 12345678 (DK in front is ok)")
    return digits


def _one_email(field: str, text: str) -> str:
    if not _EMAIL.match(text):
        raise InvalidValue(field, f"{field_label(field)}: '{text}' is not an address like name@firma.dk")
    return text


def _invoice_emails(field: str, text: str) -> str:
    # e-conomic mails invoices to every address in the field, separated by spaces.
    addresses = [_one_email(field, address) for address in _EMAIL_SEPARATORS.split(text) if address]
    return " ".join(addresses)


def _phone(field: str, text: str) -> str:
    if not _PHONE.match(text):
        raise InvalidValue(
            field, f"{field_label(field)} may only hold digits, spaces, +, -, ( ) and /, e.g. +45 12 34 56 78"
        )
    if sum(char.isdigit() for char in text) < _MIN_PHONE_DIGITS:
        raise InvalidValue(field, f"{field_label(field)} needs at least {_MIN_PHONE_DIGITS} digits")
    return text


def _postal_code(field: str, text: str) -> str:
    if not 3 <= len(text) <= 10 or not _POSTAL_CODE.match(text):
        raise InvalidValue(
            field, f"{field_label(field)} must be 3 to 10 letters, digits or dashes, e.g. 8000 or DK-8000"
        )
    return text


def _website(field: str, text: str) -> str:
    if not _WEBSITE.match(text):
        raise InvalidValue(field, f"{field_label(field)}: '{text}' is not a web address like www.firma.dk")
    return text


_CHECKS: dict[str, Callable[[str, str], str]] = {
    "cvr_number": _cvr,
    "email": _one_email,
    "invoice_email": _invoice_emails,
    "phone": _phone,
    "mobile_phone": _phone,
    "postal_code": _postal_code,
    "website": _website,
}


def validate(field: str, value: str) -> str:
    """The cleaned value (NFC, whitespace collapsed, CVR as 8 digits, invoice e-mails space-separated),
    "" for a cleared optional field, or InvalidValue."""
    text = unicodedata.normalize("NFC", value)
    if any(unicodedata.category(char) == "Cc" for char in text):
        # A tab or line break pasted into a field breaks vTiger's list views and e-conomic's PDFs.
        raise InvalidValue(field, f"{field_label(field)} contains a control character (a tab or line break)")
    text = " ".join(text.split())
    if not text:
        if field in REQUIRED_FIELDS:
            raise InvalidValue(field, f"{field_label(field)} cannot be empty")
        return ""
    check = _CHECKS.get(field)
    if check is not None:
        text = check(field, text)
    limit = MAX_LENGTHS.get(field)
    if limit is not None and len(text) > limit:
        raise InvalidValue(
            field, f"{field_label(field)} is too long: {len(text)} characters, e-conomic allows {limit}"
        )
    return text
