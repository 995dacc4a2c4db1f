"""What every full screen of hubtui has: the app it belongs to, and the safety line at the top."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

from hubtui.tui.widgets.safety_bar import SafetyBar

if TYPE_CHECKING:
    from hubtui.tui.app import HubApp


class HubScreen(Screen[None]):
    @property
    def hub(self) -> HubApp:
        return self.app  # type: ignore[return-value]

    def safety_bar(self) -> SafetyBar:
        """The header line that says, in words, what a write would do right now."""
        return SafetyBar(self.hub.services.safety, self.hub.labels, self.hub.demo)
