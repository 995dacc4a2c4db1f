"""English and Danish labels. The Danish words follow the seed's web app (Navn, CVR Nummer, ...)."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "da"]

_LABELS: dict[str, tuple[str, str]] = {
    # key: (English, Danish)
    "name": ("Name", "Navn"),
    "cvr_number": ("CVR", "CVR Nummer"),
    "address": ("Address", "Adresse"),
    "city": ("City", "By"),
    "postal_code": ("Postal code", "Postnummer"),
    "country": ("Country", "Land"),
    "phone": ("Phone", "Telefon"),
    "mobile_phone": ("Mobile", "Mobil"),
    "email": ("Email", "Email"),
    "website": ("Website", "Hjemmeside"),
    "invoice_email": ("Invoice email", "Faktura email"),
    "vtiger_id": ("vTiger id", "vTiger id"),
    "economic_customer_number": ("e-conomic no.", "e-conomic nr."),
    "discrepancy_count": ("Discrepancies", "Uoverensstemmelser"),
    "hourly_rate": ("Hourly rate", "Timepris"),
    "column_name": ("Name", "Navn"),
    "column_cvr_number": ("CVR", "CVR"),
    "column_city": ("City", "By"),
    "column_vtiger_id": ("vTiger", "vTiger"),
    "column_economic_customer_number": ("e-conomic", "e-conomic"),
    "column_discrepancy_count": ("Diffs", "Afvig"),
    "customers": ("Customers", "Kunder"),
    "filter_placeholder": (
        "Type to filter: name, CVR, city, numbers", "Skriv for at filtrere: navn, CVR, by, numre"
    ),
    "loading": ("Loading customers…", "Henter kunder…"),
    "no_match": ("No customer matches", "Ingen kunder matcher"),
    "no_customers": (
        "No customers yet: import them from vTiger with `hubtui sync customers` (or try `hubtui demo`)",
        "Ingen kunder endnu: hent dem fra vTiger med `hubtui sync customers` (eller prøv `hubtui demo`)",
    ),
    "shown_of": ("{shown} of {total} customers", "{shown} af {total} kunder"),
    "sorted_by": ("sorted by {column}", "sorteret efter {column}"),
    "only_discrepancies": ("only with discrepancies", "kun med uoverensstemmelser"),
    "read_only": ("READ-ONLY", "KUN LÆSNING"),
    "dry_run": ("DRY-RUN", "TØRKØRSEL"),
    "live": ("LIVE", "LIVE"),
    "on": ("on", "til"),
    "off": ("off", "fra"),
    "vtiger_sync": ("vTiger sync", "vTiger sync"),
    "economic_sync": ("e-conomic sync", "e-conomic sync"),
    "economic": ("e-conomic", "e-conomic"),
    "timetracking": ("time export", "tidseksport"),
    "demo": ("DEMO", "DEMO"),
    "checked_age": ("checked {age}", "tjekket {age}"),
    "never": ("never", "aldrig"),
    "help_title": ("Keys", "Taster"),
    # The diff's column headings: short enough for their columns at 80 columns.
    "diff_field": ("Field", "Felt"),
    "diff_why": ("Choice · why", "Valg · hvorfor"),
    # The diff's column headings: short enough for their columns at 80 columns.
    "diff_field": ("Field", "Felt"),
    "diff_why": ("Choice · why", "Valg · hvorfor"),
    # What a write came to (the diff, the audit log, notifications).
    "outcome_written": ("written", "skrevet"),
    "outcome_dry_run": ("DRY-RUN: not sent", "TØRKØRSEL: ikke sendt"),
    "outcome_blocked": ("BLOCKED", "BLOKERET"),
    "outcome_disabled": ("disabled", "slået fra"),
    "outcome_failed": ("failed", "fejlede"),
    "outcome_changed": ("changed since you looked", "ændret siden du kiggede"),
    "outcome_unknown": ("UNKNOWN whether written", "UKENDT om skrevet"),
    "outcome_confirmed": ("{words} (confirmed by re-read)", "{words} (bekræftet ved genlæsning)"),
    # What a write would do, next to each system in the review before writing.
    "write_live": ("LIVE", "LIVE"),
    "write_read_only": ("READ-ONLY: blocked", "KUN LÆSNING: blokeret"),
    "write_dry_run": ("DRY-RUN: shown, not sent", "TØRKØRSEL: vist, ikke sendt"),
    "write_disabled": ("disabled ({flag}=false)", "slået fra ({flag}=false)"),
    # A new order from the orders list (g): which customer's approved time.
    "order_pick_title": ("New order: which customer's approved time?", "Ny ordre: hvilken kundes godkendte tid?"),
    "order_pick_filter": ("Type to filter by name", "Skriv for at filtrere på navn"),
    "order_pick_keys": ("↑ ↓: move    Enter: make the order    Esc: cancel",
                        "↑ ↓: flyt    Enter: lav ordren    Esc: annuller"),
    "order_pick_time": ("{entries} approved, {hours} h", "{entries} godkendt, {hours} t"),
    "order_pick_pending": ("{pending} pending: left for later", "{pending} afventer: til senere"),
    "order_pick_no_match": ("No customer with approved time matches; Backspace widens the filter",
                            "Ingen kunde med godkendt tid matcher; Backspace udvider filteret"),
    "order_none_ready": (
        "No customer has approved time that is on no order: approve time entries first (F4)",
        "Ingen kunde har godkendt tid, der ikke er på en ordre: godkend tidsregistreringer først (F4)",
    ),
    "order_refused": ("No order was made: {reason}", "Ingen ordre blev lavet: {reason}"),
    # The time-entry wizard's card and messages.
    "wizard_not_billable": (
        "marked NOT billable in vTiger: a approves 0 h; e types hours to bill",
        "markeret IKKE fakturerbar i vTiger: a godkender 0 t; e taster timer der faktureres",
    ),
    "wizard_hours_typed": ("typed by you: a approves these", "tastet af dig: a godkender disse"),
    "wizard_hours_set": (
        "Entry {id}: {hours} h typed, not saved yet; a approves them, s skips and forgets them",
        "Post {id}: {hours} t tastet, ikke gemt endnu; a godkender dem, s springer over og glemmer dem",
    ),
}


class Labels:
    def __init__(self, language: Language) -> None:
        self.index = 0 if language == "en" else 1

    def has(self, key: str) -> bool:
        return key in _LABELS

    def __call__(self, key: str, **values: object) -> str:
        pair = _LABELS.get(key)
        text = key if pair is None else pair[self.index]
        return text.format(**values) if values else text
