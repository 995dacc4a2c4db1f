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
    """What a write (or an export, an order, an undo) would do, with its safety label. Only `y` confirms:
    Enter, pressed out of habit or typed ahead, must never write — least of all LIVE. n or Esc cancels."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmWrites { align: center middle; }
    ConfirmWrites > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
                               border: thick $warning; background: $surface; padding: 0 1; }
    ConfirmWrites VerticalScroll { height: auto; max-height: 20; }
    ConfirmWrites #live { background: $error; color: $text; text-style: bold; padding: 0 1; }
    """

    def __init__(self, body: list[Text] | RenderableType, *, any_live: bool, question: str = "Write these changes?",
                 heading: Text | None = None, yes: str = "write") -> None:
        super().__init__()
        self.lines = body if isinstance(body, list) else []  # the writes line by line, when given so
        self.body = Text("\n").join(body) if isinstance(body, list) else body
        self.any_live = any_live
        self.question = question
        self.heading = heading
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, "bold"))
            if self.any_live:
                yield Static(Text("LIVE: this changes real data in the remote systems."), id="live")
            if self.heading is not None:
                yield Static(self.heading)
            with VerticalScroll():
                yield Static(self.body)
            yield Static(Text(f"y: {self.yes}    n / Esc: cancel    (Enter does not confirm)", "dim"))

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
