"""Deterministic Danish demo companies: the hub's demo customers, and the base the sandboxes vary from.

The same seed always gives the same companies, so screenshots and tests are stable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

_FIRST = (
    "Nordisk", "Østjysk", "Århus", "Sønderborg", "Fyns", "Himmerlands", "Vestkyst", "Bølge", "Skov",
    "Havne", "Lærke", "Kløver", "Fjord", "Hede", "Bornholms", "Sjællands", "Limfjords", "Møns", "Ærø",
    "Vendsyssel", "Grøn", "Blå", "Solsikke", "Nørre", "Søndre", "Kronborg", "Egeskov", "Gudenå",
    "Mols", "Thy", "Storebælt", "Øresund", "Rønne", "Kattegat", "Dybbøl", "Ribe", "Tønder", "Kolding",
)
_SECOND = (
    "Byg", "El", "VVS", "Data", "Revision", "Transport", "Tømrer", "Maler", "Køl", "Auto", "Montage",
    "Consult", "Regnskab", "Mølle", "Bager", "Trælast", "Kloak", "Tag", "Glas", "Smede", "Rengøring",
    "Logistik", "Advokater", "Ejendomme", "Energi", "Foder", "Fisk", "Tekstil", "Print", "Software",
)
_SUFFIX = ("ApS", "A/S", "I/S", "IVS", "& Søn", "& Sønner ApS", "Holding ApS", "K/S")
_STREETS = (
    "Hovedgaden", "Vestergade", "Østergade", "Nørregade", "Søndergade", "Strandvejen", "Kirkevej",
    "Skolevej", "Møllevej", "Åboulevarden", "Industrivej", "Håndværkervej", "Rådhuspladsen",
    "Jernbanegade", "Bøgevej", "Egevænget", "Lærkevej", "Fælledvej", "Havnegade", "Æblehaven",
)
_CITIES = (
    ("1050", "København K"), ("2100", "København Ø"), ("2200", "København N"), ("2300", "København S"),
    ("2800", "Kongens Lyngby"), ("3000", "Helsingør"), ("4000", "Roskilde"), ("4700", "Næstved"),
    ("5000", "Odense C"), ("5700", "Svendborg"), ("6000", "Kolding"), ("6400", "Sønderborg"),
    ("6700", "Esbjerg"), ("6760", "Ribe"), ("7100", "Vejle"), ("7400", "Herning"), ("7500", "Holstebro"),
    ("8000", "Aarhus C"), ("8200", "Aarhus N"), ("8600", "Silkeborg"), ("8700", "Horsens"),
    ("8900", "Randers C"), ("9000", "Aalborg"), ("9800", "Hjørring"), ("9900", "Frederikshavn"),
    ("3700", "Rønne"), ("5960", "Marstal"), ("7700", "Thisted"),
)
_RATES = (Decimal("695.00"), Decimal("750.00"), Decimal("850.00"), Decimal("925.50"), Decimal("1100.00"))


@dataclass(frozen=True, slots=True)
class DemoCompany:
    """One demo company as the hub knows it (the sandboxes derive their own copies from it)."""

    name: str
    cvr_number: str | None
    address: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    phone: str | None
    mobile_phone: str | None
    email: str | None
    website: str | None
    invoice_email: str | None
    vtiger_id: str
    economic_customer_number: int | None
    hourly_rate: Decimal | None


def _slug(name: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "&": "og"})
    words = name.lower().translate(table).replace("/", "").split()
    return "".join(w for w in words if w not in {"aps", "as", "is", "ivs", "ks", "og", "holding"})


def demo_companies(count: int = 200, seed: int = 2026) -> list[DemoCompany]:
    rng = random.Random(seed)
    companies: list[DemoCompany] = []
    seen_names: set[str] = set()
    for index in range(count):
        name = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)} {rng.choice(_SUFFIX)}"
        if name in seen_names:
            name = f"{name} {index + 1}"
        seen_names.add(name)
        slug = _slug(name)
        postal_code, city = rng.choice(_CITIES)
        missing = rng.random()  # roughly one in ten companies lacks some field
        phone = f"{rng.randint(20, 99)}{rng.randint(0, 999999):06d}"
        companies.append(
            DemoCompany(
                name=name,
                cvr_number=f"{rng.randint(10_000_000, 99_999_999)}" if missing > 0.03 else None,
                address=f"{rng.choice(_STREETS)} {rng.randint(1, 180)}",
                city=city,
                postal_code=postal_code,
                country="Danmark",
                phone=phone,
                mobile_phone=f"{rng.randint(20, 99)}{rng.randint(0, 999999):06d}" if missing > 0.5 else None,
                email=f"kontakt@{slug}.dk" if missing > 0.06 else None,
                website=f"www.{slug}.dk" if missing > 0.09 else None,
                invoice_email=f"faktura@{slug}.dk",
                vtiger_id=f"3x{1000 + index}",
                economic_customer_number=10_000 + index,
                hourly_rate=rng.choice(_RATES) if missing > 0.2 else None,
            )
        )
    return companies
