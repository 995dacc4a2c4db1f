"""Small modal dialogs that answer one question and dismiss with the answer."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from hubtui.tui.text import printable


class ConfirmWrites(ModalScreen[bool]):
    """The exact writes per system with their safety labels; y writes, n or Esc cancels."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes, write", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmWrites { align: center middle; }
    ConfirmWrites > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
                               border: thick $warning; background: $surface; padding: 0 1; }
    ConfirmWrites VerticalScroll { height: auto; max-height: 20; }
    ConfirmWrites #live { background: $error; color: $text; text-style: bold; padding: 0 1; }
    """

    def __init__(self, lines: list[Text], *, any_live: bool, question: str = "Write these changes?") -> None:
        super().__init__()
        self.lines = lines
        self.any_live = any_live
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, "bold"))
            if self.any_live:
                yield Static(Text("LIVE: this changes real data in the remote systems."), id="live")
            with VerticalScroll():
                yield Static(Text("\n").join(self.lines))
            yield Static(Text("y / Enter: write    n / Esc: cancel", "dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)



class ConfirmUndo(ModalScreen[bool]):
    """An undo's values, now next to restored, under the system's safety label. Only `y` confirms: Enter,
    pressed out of habit, must not write a LIVE undo."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes, undo", id="confirm_undo.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm_undo.no"),
    ]
    DEFAULT_CSS = """
    ConfirmUndo { align: center middle; }
    ConfirmUndo > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
                             border: thick $warning; background: $surface; padding: 0 1; }
    ConfirmUndo VerticalScroll { height: auto; max-height: 20; }
    ConfirmUndo #live { background: $error; color: $text; text-style: bold; padding: 0 1; }
    """

    def __init__(self, question: str, heading: Text, body: RenderableType, *, live: bool) -> None:
        super().__init__()
        self.question = question
        self.heading = heading
        self.body = body
        self.live = live

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, "bold"))
            if self.live:
                yield Static(Text("LIVE: this changes real data."), id="live")
            yield Static(self.heading)
            with VerticalScroll():
                yield Static(self.body)
            yield Static(Text("y: undo    n / Esc: cancel    (Enter does not confirm)", "dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

class Ask(ModalScreen[str | None]):
    """Ask for one line of text; `check` cleans it or raises ValueError with a message shown in place, so a
    bad value never leaves the dialog."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]
    DEFAULT_CSS = """
    Ask { align: center middle; }
    Ask > Vertical { width: 70; height: auto; border: thick $accent; background: $surface; padding: 0 1; }
    Ask #error { color: $error; height: auto; }
    """

    def __init__(self, question: str, start: str, check: Callable[[str], str]) -> None:
        super().__init__()
        self.question = question
        self.start = start
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, "bold"))
            yield Input(value=self.start, id="value")
            yield Static(id="error")
            yield Static(Text("Enter: OK    Esc: cancel", "dim"))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            cleaned = self.check(event.value)
        except ValueError as error:
            self.query_one("#error", Static).update(Text(printable(str(error))))
            return
        self.dismiss(cleaned)

    def action_cancel(self) -> None:
        self.dismiss(None)
