"""Every normalisation rule, as pairs of values that must (or must not) count as the same."""

from __future__ import annotations

import pytest

from hubtui.core.normalize import normalize, same

# (field, one value, another value, the same?)
RULES = [
    # Everywhere
    pytest.param("country", None, "", True, id="none-is-empty"),
    pytest.param("address", "   ", None, True, id="blank-is-empty"),
    pytest.param("name", "x", None, False, id="value-is-not-empty"),
    pytest.param("country", "A &amp; B", "A & B", True, id="html-entities-decoded"),
    pytest.param("country", "A &amp;amp; B", "A & B", True, id="double-encoded-entities"),
    pytest.param("country", "Cafe\u0301", "Café", True, id="unicode-nfc"),
    pytest.param("country", " Danmark \t", "Danmark", True, id="whitespace-stripped"),
    pytest.param("unknown", "a  b\u00a0c", "a b c", True, id="whitespace-collapsed-nbsp"),
    pytest.param("unknown", "ABC", "abc", False, id="other-fields-keep-case"),
    pytest.param("unknown", 12345, "12345", True, id="non-text-as-text"),
    pytest.param("address", "Vej 1\x00", "Vej 1\u2400", True, id="nul-is-the-hubs-visible-nul"),
    # Phone and mobile
    pytest.param("phone", "+45 12 34 56 78", "12345678", True, id="phone-plus45-dropped"),
    pytest.param("phone", "0045 1234 5678", "12345678", True, id="phone-0045-dropped"),
    pytest.param("phone", "(+45) 12-34-56-78", "12 34 56 78", True, id="phone-digits-only"),
    pytest.param("mobile_phone", "+45 20 30 40 50", "20304050", True, id="mobile-same-rules"),
    pytest.param("phone", "4512345678", "12345678", False, id="phone-45-without-plus-kept"),
    pytest.param("phone", "45123456", "123456", False, id="phone-8-digits-starting-45-kept"),
    pytest.param("phone", "+46 8 123 456 78", "0046 8 12345678", True, id="phone-foreign-plus-is-00"),
    pytest.param("phone", "+46 8 123 456 78", "812345678", False, id="phone-foreign-code-kept"),
    pytest.param("phone", "12345678", "12345679", False, id="phone-different-number"),
    pytest.param("phone", "ukendt", "", False, id="phone-without-digits-not-empty"),
    pytest.param("phone", "Ukendt", "ukendt", True, id="phone-without-digits-case-free"),
    # CVR
    pytest.param("cvr_number", "DK-12345678", "12345678", True, id="cvr-dk-dash"),
    pytest.param("cvr_number", "DK 12345678", "12345678", True, id="cvr-dk-space"),
    pytest.param("cvr_number", "dk12345678", "12345678", True, id="cvr-dk-lowercase"),
    pytest.param("cvr_number", "12 34 56 78", "12345678", True, id="cvr-spaced"),
    pytest.param("cvr_number", "DK-12345678", "DK-87654321", False, id="cvr-different"),
    pytest.param("cvr_number", "SE5566778899", "5566778899", False, id="cvr-foreign-prefix-kept"),
    # Website
    pytest.param("website", "https://www.x.dk/", "www.x.dk", True, id="website-scheme-slash"),
    pytest.param("website", "http://WWW.X.DK", "www.x.dk", True, id="website-host-case"),
    pytest.param("website", "x.dk/Om-Os/", "https://x.dk/Om-Os", True, id="website-path-kept"),
    pytest.param("website", "x.dk/Om-Os", "x.dk/om-os", False, id="website-path-case-matters"),
    pytest.param("website", "x.dk", "www.x.dk", False, id="website-www-matters"),
    # Country
    pytest.param("country", "Danmark", "Denmark", True, id="country-danish-english"),
    pytest.param("country", "Denmark", "DK", True, id="country-iso"),
    pytest.param("country", "dk", "DANMARK", True, id="country-case"),
    pytest.param("country", "Sverige", "SE", True, id="country-sweden"),
    pytest.param("country", "Norge", "Norway", True, id="country-norway"),
    pytest.param("country", "Tyskland", "Germany", True, id="country-germany"),
    pytest.param("country", "Danmark", "Sverige", False, id="country-different"),
    pytest.param("country", "Atlantis", "atlantis", True, id="country-unknown-case-free"),
    # Postal code
    pytest.param("postal_code", "DK-8000", "8000", True, id="postal-dk-dash"),
    pytest.param("postal_code", "dk 8000", "8000", True, id="postal-dk-space"),
    pytest.param("postal_code", "S-123 45", "12345", True, id="postal-foreign-prefix-spaces"),
    pytest.param("postal_code", "8000", "8200", False, id="postal-different"),
    # E-mail
    pytest.param("email", "Info@Firma.DK", "info@firma.dk", True, id="email-case"),
    pytest.param("email", "info@firma.dk", "faktura@firma.dk", False, id="email-different"),
    pytest.param(
        "invoice_email", "b@x.dk a@x.dk", "A@x.dk; b@x.dk", True, id="invoice-email-set-order-separators"
    ),
    pytest.param(
        "invoice_email", "a@x.dk,b@x.dk,a@x.dk", "a@x.dk b@x.dk", True, id="invoice-email-duplicates",
    ),
    pytest.param("invoice_email", "a@x.dk b@x.dk", "a@x.dk", False, id="invoice-email-missing-address"),
    # Name, address, city
    pytest.param("name", "Jensen ApS", "JENSEN APS", True, id="name-case"),
    pytest.param("name", "Jensen  ApS", "JensenApS", True, id="name-spaces"),
    pytest.param("name", "Jensen ApS", "Jensen A/S", False, id="name-different"),
    pytest.param("address", "Hovedgaden 1, 1. th", "hovedgaden 1,1.th", True, id="address-case-spaces"),
    pytest.param("address", "Hovedgaden 1", "Hovedgade 1", False, id="address-different"),
    pytest.param("city", "Århus C", "århus c", True, id="city-case"),
    pytest.param("city", "Aarhus", "Århus", False, id="city-spelling-differs"),
]


@pytest.mark.parametrize(("field", "one", "other", "expected"), RULES)
def test_rule(field: str, one: object, other: object, expected: bool) -> None:
    assert same(field, one, other) is expected
    assert same(field, other, one) is expected


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [
        pytest.param("phone", "+45 12 34 56 78", "12345678", id="phone"),
        pytest.param("cvr_number", "DK-12345678", "12345678", id="cvr"),
        pytest.param("website", "https://www.x.dk/", "www.x.dk", id="website"),
        pytest.param("country", "Danmark", "DK", id="country"),
        pytest.param("postal_code", "DK-8000", "8000", id="postal"),
        pytest.param("invoice_email", "B@x.dk; a@x.dk", "a@x.dk b@x.dk", id="invoice-email"),
        pytest.param("name", None, "", id="none"),
    ],
)
def test_key(field: str, value: object, key: str) -> None:
    assert normalize(field, value) == key
