"""The sandbox agreement: `/self` and the reference lists a customer or draft order points into (customer
groups, payment terms, VAT zones, layouts, units, products, currencies).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

AGREEMENT_NUMBER = 9_120_426

CUSTOMER_GROUPS = {1: "Indenlandske kunder", 2: "EU-kunder", 3: "Udenlandske kunder"}
# number: (name, days of credit, type)
PAYMENT_TERMS = {
    1: ("Netto 8 dage", 8, "net"), 2: ("Netto 14 dage", 14, "net"), 3: ("Netto 30 dage", 30, "net"),
    4: ("Løbende måned + 30 dage", 30, "invoiceMonth"), 5: ("Kontant", 0, "paidInCash"),
}
VAT_ZONES = {1: ("Domestic", Decimal("0.25")), 2: ("EU", Decimal(0)), 3: ("Abroad", Decimal(0)),
             4: ("Domestic exempt", Decimal(0))}
LAYOUTS = {16: "Faktura med logo", 19: "Standard", 20: "Ordrebekræftelse"}
UNITS = {1: "stk.", 2: "timer", 3: "km"}
# number: (name, sales price, unit)
PRODUCTS = {"1": ("Konsulenttimer", Decimal("850.00"), 2), "2": ("Kørsel", Decimal("250.00"), 1),
            "100": ("Servicekontrakt, måned", Decimal("1995.00"), 1)}
CURRENCIES = frozenset({"DKK", "EUR", "SEK", "NOK", "USD", "GBP"})


def reference_documents(base: str) -> dict[str, dict[int | str, dict[str, Any]]]:
    """The reference lists as e-conomic answers them, by collection and number."""
    return {
        "customer-groups": {n: {"customerGroupNumber": n, "name": name}
                            for n, name in CUSTOMER_GROUPS.items()},
        "payment-terms": {n: {"paymentTermsNumber": n, "name": t[0], "daysOfCredit": t[1],
                              "paymentTermsType": t[2]} for n, t in PAYMENT_TERMS.items()},
        "vat-zones": {n: {"vatZoneNumber": n, "name": z[0], "enabledForCustomer": True}
                      for n, z in VAT_ZONES.items()},
        "layouts": {n: {"layoutNumber": n, "name": name, "deleted": False}
                    for n, name in LAYOUTS.items()},
        "units": {n: {"unitNumber": n, "name": name} for n, name in UNITS.items()},
        "products": {n: {"productNumber": n, "name": p[0], "salesPrice": float(p[1]),
                         "unit": {"unitNumber": p[2], "self": f"{base}/units/{p[2]}"}, "barred": False}
                     for n, p in PRODUCTS.items()},
    }


def agreement(base: str) -> dict[str, Any]:
    return {
        "agreementNumber": AGREEMENT_NUMBER,
        "agreementType": {"agreementTypeNumber": 2, "name": "Professionel"},
        "userName": "Sandbox Support",
        "signupDate": "2019-04-01",
        "user": {"loginId": "SANDBOX", "email": "support@sandbox.hubtui.dk", "name": "Sandbox Support",
                 "agreementNumber": AGREEMENT_NUMBER,
                 "language": {"languageNumber": 1, "name": "Danish", "culture": "da-DK",
                              "self": f"{base}/languages/1"}},
        "company": {"addressLine1": "Sandkassevej 1", "zip": "8000", "city": "Aarhus C",
                    "name": "Sandkassen IT-Service ApS", "country": "Danmark", "phoneNumber": "70 20 30 40",
                    "companyIdentificationNumber": "12345678", "vatNumber": "DK12345678",
                    "email": "bogholderi@sandkassen.dk", "website": "www.sandkassen.dk"},
        "application": {"appNumber": 1, "name": "hubtui sandbox", "appPublicToken": "sandbox",
                        "created": "2026-01-01", "requiredRoles": [{"roleNumber": 1, "name": "SuperUser"}],
                        "self": f"{base}/apps/1"},
        "settings": {"baseCurrency": "DKK", "defaultPaymentTerm": "Netto 8 dage",
                     "internationalLedger": "false"},
        "canSendElectronicInvoice": True,
        "modules": [{"moduleNumber": 1, "name": "Ordre", "self": f"{base}/modules/1"}],
        "self": f"{base}/self",
    }
