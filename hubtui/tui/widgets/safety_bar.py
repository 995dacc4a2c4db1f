"""The header line that always says, in words, what a write would do right now."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from hubtui.i18n import Labels
from hubtui.services.safety import SafetyModes, WriteSafety

_MODE_STYLE = {"read_only": "bold green", "dry_run": "bold yellow", "live": "bold white on red",
               "disabled": "bold red"}


def _mode(labels: Labels, safety: WriteSafety) -> str:
    return labels("off") if safety.mode == "disabled" else labels(safety.mode)


def safety_text(safety: SafetyModes, labels: Labels, demo: bool) -> Text:
    text = Text()
    if demo:
        text.append(f" {labels('demo')} ", style="bold black on cyan")
        text.append(" ")
    text.append(f"{labels('economic')}: ")
    text.append(_mode(labels, safety.economic), style=_MODE_STYLE[safety.economic.mode])
    text.append(f" │ {labels('timetracking')}: ")
    text.append(_mode(labels, safety.order_export), style=_MODE_STYLE[safety.order_export.mode])
    for key, kind in (("vtiger_sync", safety.vtiger), ("economic_sync", safety.economic)):
        enabled = kind.mode != "disabled"
        text.append(f" │ {labels(key)}: ")
        text.append(labels("on" if enabled else "off"), style="bold" if enabled else "bold red")
    return text


class SafetyBar(Static):
    DEFAULT_CSS = """
    SafetyBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, safety: SafetyModes, labels: Labels, demo: bool) -> None:
        super().__init__(safety_text(safety, labels, demo), id="safety")
