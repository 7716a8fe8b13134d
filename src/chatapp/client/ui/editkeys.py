"""The keys of the input line that act on the terminal or the whole program, as in any shell.

- Ctrl-C clears what is typed; on an empty line it leaves (so a second Ctrl-C
  leaves), as does Ctrl-D on an empty line.
- Ctrl-Z suspends the client like any terminal program (SIGTSTP to its
  process group, the terminal given back in its normal mode); ``fg`` brings
  the screen back, redrawn.
- Ctrl-L clears the terminal and draws the screen again.
- Ctrl-R searches the input history backwards (prompt_toolkit's incremental
  search, shown in the search bar under the input line; Enter keeps the
  line found, Ctrl-G or Ctrl-C gives up).
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition, is_searching
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent


def edit_keys(buffer: Buffer, leave: Callable[[], None]) -> KeyBindings:
    kb = KeyBindings()
    typed = Condition(lambda: bool(buffer.text))

    @kb.add("c-c", filter=typed & ~is_searching)
    def _clear(event: KeyPressEvent) -> None:
        buffer.reset()  # (not kept in the history: it may have been a password typed in the wrong place)

    @kb.add("c-c", filter=~typed & ~is_searching)
    @kb.add("<sigint>")
    def _leave(event: KeyPressEvent) -> None:
        leave()

    @kb.add("c-d", filter=~typed)
    def _leave_on_eof(event: KeyPressEvent) -> None:
        leave()

    @kb.add("c-l")
    def _redraw(event: KeyPressEvent) -> None:
        event.app.renderer.clear()

    if hasattr(signal, "SIGTSTP"):

        @kb.add("c-z")
        def _suspend(event: KeyPressEvent) -> None:
            event.app.suspend_to_background()

    return kb
