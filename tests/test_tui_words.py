"""The words on an outcome and a safety mode, in both languages, from the one safety mode of each write."""

from __future__ import annotations

import pytest

from hubtui.config import Settings
from hubtui.i18n import Labels
from hubtui.services.consistency import CONFIRMED
from hubtui.services.safety import SafetyModes
from hubtui.tui.words import outcome_words, write_words

EN, DA = Labels("en"), Labels("da")


def test_write_words_name_the_mode_and_the_flag(settings: Settings) -> None:
    def words(system: str, labels: Labels = EN, **flags: bool) -> str:
        return write_words(labels, SafetyModes.of(settings.model_copy(update=flags)).of_system(system))

    assert words("economic") == "READ-ONLY: blocked"  # the default
    assert words("economic", economic_read_only=False) == "DRY-RUN: shown, not sent"
    assert words("economic", economic_read_only=False, economic_dry_run=False) == "LIVE"
    assert words("economic", economic_sync_enabled=False) == "disabled (ECONOMIC_SYNC_ENABLED=false)"
    assert words("vtiger") == "LIVE"
    assert words("vtiger", vtiger_sync_enabled=False) == "disabled (VTIGER_SYNC_ENABLED=false)"
    assert words("hub") == "LIVE"
    assert words("economic", DA) == "KUN LÆSNING: blokeret"
    assert words("vtiger", DA, vtiger_sync_enabled=False) == "slået fra (VTIGER_SYNC_ENABLED=false)"


def test_the_modes_come_from_the_connectors_write_gates(settings: Settings) -> None:
    modes = SafetyModes.of(settings.model_copy(update={"timetracking_economic_read_only": False}))
    assert (modes.economic.mode, modes.economic.flag) == ("read_only", "ECONOMIC_READ_ONLY")
    assert (modes.order_export.mode, modes.order_export.flag) == ("dry_run", "TIMETRACKING_ECONOMIC_DRY_RUN")
    assert modes.vtiger.live and not modes.order_export.live


@pytest.mark.parametrize(("outcome", "message", "english", "danish"), [
    ("written", None, "written", "skrevet"),
    ("written", f"{CONFIRMED}; the answer was lost", "written (confirmed by re-read)",
     "skrevet (bekræftet ved genlæsning)"),
    ("unknown", None, "UNKNOWN whether written", "UKENDT om skrevet"),
    ("dry_run", None, "DRY-RUN: not sent", "TØRKØRSEL: ikke sendt"),
    ("blocked", None, "BLOCKED", "BLOKERET"),
    ("changed", None, "changed since you looked", "ændret siden du kiggede"),
    ("started", None, "started", "started"),  # an event's own outcome word, shown as it is
    (None, None, "—", "—"),
])
def test_outcome_words_in_both_languages(outcome: str | None, message: str | None, english: str,
                                         danish: str) -> None:
    assert outcome_words(EN, outcome, message) == english
    assert outcome_words(DA, outcome, message) == danish
