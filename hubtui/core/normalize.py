"""The comparison key of a field value: two values are "the same" when their keys are equal.

Only for comparing. What gets written is always the value as a system holds it or as it was typed,
never this key.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
_EMAIL_SEPARATORS = re.compile(r"[\s,;]+")
_CVR_NOISE = re.compile(r"[\s\-.]")
# A country prefix in front of a postal code: DK-8000, DK 8000, S-123 45, D-20095.
_POSTAL_PREFIX = re.compile(r"^(?:DK|SE|S|NO|N|DE|D|FI|FO|GL|IS)\s*-?\s*(?=\d)")

# Danish, English, native and ISO names of Denmark and the countries its customers usually sit in.
_COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "DK": ("danmark", "denmark", "dänemark", "dk", "dnk"),
    "SE": ("sverige", "sweden", "schweden", "se", "swe"),
    "NO": ("norge", "noreg", "norway", "norwegen", "no", "nor"),
    "DE": ("tyskland", "germany", "deutschland", "de", "deu"),
    "FI": ("finland", "suomi", "fi", "fin"),
    "IS": ("island", "iceland", "ísland", "is", "isl"),
    "FO": ("færøerne", "faroe islands", "føroyar", "fo", "fro"),
    "GL": ("grønland", "greenland", "kalaallit nunaat", "gl", "grl"),
    "NL": ("holland", "nederlandene", "netherlands", "the netherlands", "nederland", "nl", "nld"),
    "GB": ("storbritannien", "united kingdom", "great britain", "uk", "gb", "gbr"),
}
_COUNTRY_CODES: dict[str, str] = {
    alias: code for code, aliases in _COUNTRY_ALIASES.items() for alias in aliases
}


def text_key(value: object) -> str:
    """The rule for every field: None → "", entities decoded, Unicode NFC, whitespace collapsed."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    # vTiger can store text HTML-encoded twice ("&amp;amp;"); decode until it stops changing.
    for _ in range(3):
        if "&" not in text:
            break
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    if "\x00" in text:
        # The hub stores a NUL from vTiger as the visible ␀ (Postgres cannot hold NUL): same value.
        text = text.replace("\x00", "\u2400")
    return " ".join(unicodedata.normalize("NFC", text).split())


def _words(text: str) -> str:
    # "Jensen  ApS" = "jensen aps" = "JensenApS": people type spacing and case inconsistently.
    return text.casefold().replace(" ", "")


def _phone(text: str) -> str:
    digits = "".join(char for char in text if "0" <= char <= "9")
    if not digits:
        # "ukendt" is not the same as an empty field.
        return text.casefold()
    before_digits = text[: text.index(digits[0])]
    international = "+" in before_digits or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    # +45 / 0045 followed by an 8-digit Danish number is that number as Danes write it.
    if international and len(digits) == 10 and digits.startswith("45"):
        digits = digits[2:]
    return digits


def _cvr(text: str) -> str:
    compact = _CVR_NOISE.sub("", text).upper()
    rest = compact[2:]
    if compact.startswith("DK") and rest.isascii() and rest.isdigit():
        return rest
    return compact


def _website(text: str) -> str:
    # https://www.x.dk/ = www.x.dk: the scheme and a trailing slash say nothing about which site it is.
    # "www." stays: x.dk and www.x.dk are different hosts.
    address = _SCHEME.sub("", text).rstrip("/")
    cut = min((index for index in map(address.find, "/?#") if index >= 0), default=len(address))
    return address[:cut].lower() + address[cut:]


def _country(text: str) -> str:
    key = text.casefold().replace(".", "")
    return _COUNTRY_CODES.get(key, key)


def _postal_code(text: str) -> str:
    upper = text.upper()
    return _POSTAL_PREFIX.sub("", upper).replace(" ", "").casefold()


def _email(text: str) -> str:
    # e-conomic's invoice e-mail may hold several addresses; their order and separators do not matter.
    addresses = {address for address in _EMAIL_SEPARATORS.split(text.casefold()) if address}
    return " ".join(sorted(addresses))


_FIELD_RULES: dict[str, Callable[[str], str]] = {
    "name": _words,
    "address": _words,
    "city": _words,
    "phone": _phone,
    "mobile_phone": _phone,
    "cvr_number": _cvr,
    "website": _website,
    "country": _country,
    "postal_code": _postal_code,
    "email": _email,
    "invoice_email": _email,
}


def normalize(field: str, value: object) -> str:
    """The key `value` of hub field `field` is compared by; "" means empty."""
    text = text_key(value)
    rule = _FIELD_RULES.get(field)
    return rule(text) if rule is not None and text else text


def same(field: str, first: object, second: object) -> bool:
    return normalize(field, first) == normalize(field, second)
