"""The header line that always says, in words, what a write would do right now."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from hubtui.config import Settings
from hubtui.core.safety import write_mode
from hubtui.i18n import Labels

_MODE_STYLE = {"read_only": "bold green", "dry_run": "bold yellow", "live": "bold white on red"}


def safety_text(settings: Settings, labels: Labels, demo: bool) -> Text:
    economic = write_mode(settings.economic_read_only, settings.economic_dry_run)
    export = write_mode(settings.timetracking_economic_read_only, settings.timetracking_economic_dry_run)
    text = Text()
    if demo:
        text.append(f" {labels('demo')} ", style="bold black on cyan")
        text.append(" ")
    text.append(f"{labels('economic')}: ")
    text.append(labels(economic), style=_MODE_STYLE[economic])
    text.append(f" │ {labels('timetracking')}: ")
    text.append(labels(export), style=_MODE_STYLE[export])
    for key, enabled in (("vtiger_sync", settings.vtiger_sync_enabled),
                         ("economic_sync", settings.economic_sync_enabled)):
        text.append(f" │ {labels(key)}: ")
        text.append(labels("on" if enabled else "off"), style="bold" if enabled else "bold red")
    return text


class SafetyBar(Static):
    DEFAULT_CSS = """
    SafetyBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, settings: Settings, labels: Labels, demo: bool) -> None:
        super().__init__(safety_text(settings, labels, demo), id="safety")
