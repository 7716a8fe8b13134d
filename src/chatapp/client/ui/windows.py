"""The windows' own commands, as irssi and weechat users expect them. No prompt_toolkit, no asyncio.

Every room and conversation is a window, numbered in the order it appeared
(:meth:`~chatapp.client.ui.targets.Targets.number`; Alt-1 ... Alt-0 and
``/win N`` go there). Here: ``/windows`` (the list), ``/lastlog TEXT`` (a
search of the window's scroll-back, which first fetches an older page from
the server so that each ``/lastlog`` reaches further back), ``/url`` (the
recent links, each alone on a line so a long one stays copyable), ``/ignore``
and ``/unignore``, ``/highlights``, and the nick list pane's rows.
"""

from __future__ import annotations

import dataclasses

from chatapp.protocol.limits import HISTORY_PAGE_MAX

from . import actions
from .lines import Line, system_lines
from .model import ChatModel
from .sanitize import sanitize
from .targets import HIGHLIGHTS, Kind, Target

LASTLOG_MAX = 100
"""At most this many matching lines are shown (the newest)."""

_SEARCHED = frozenset({"message", "own", "system"})
"""The lines ``/lastlog`` searches (not its own results, markers or day changes)."""


def perform_window(chat: ChatModel, action: actions.WindowAction) -> bool:
    """Carry out a window command; True keeps the text in the input line."""
    if isinstance(action, actions.ListWindows):
        chat.note(windows_text(chat))
    elif isinstance(action, actions.IgnoreUser):
        return _ignore(chat, action)
    elif isinstance(action, actions.Lastlog):
        _lastlog(chat, action.text)
    elif isinstance(action, actions.ListLinks):
        _links(chat)
    elif isinstance(action, actions.ShowHighlights):
        view = chat.targets.view(HIGHLIGHTS)
        if not view.log.lines:
            chat.note("Highlights come here: messages that name you or one of your highlight words, and "
                      "direct messages. /close closes this window.", target=view)
        chat.activate(view)
    chat.log.scroll_to_end()
    return False


def windows_text(chat: ChatModel) -> str:
    lines = ["Windows (Alt-1 ... Alt-9, Alt-0 for 10, or /win N; Alt-A: the next with activity):"]
    for target in chat.targets:
        number = chat.targets.number(target)
        notes = []
        if target is chat.active:
            notes.append("you are here")
        if target.unread:
            for_you = f", {target.mentions} for you" if target.mentions else ""
            notes.append(f"{target.unread} unread{for_you}")
        if target.is_room and not target.member:
            notes.append("left")
        about = f"  ({'; '.join(notes)})" if notes else ""
        lines.append(f"  {number:>2}  {target.label}{about}")
    return "\n".join(lines)


def _ignore(chat: ChatModel, action: actions.IgnoreUser) -> bool:
    name = action.username
    if name is None:
        names = list(chat.ignores)
        if names:
            chat.note(f"Ignored ({len(names)}; /unignore NAME shows them again): {', '.join(names)}")
        else:
            chat.note("Nobody is ignored. /ignore NAME hides someone's messages and direct messages here.")
        return False
    shown = sanitize(name)
    if action.unignore:
        if chat.ignores.remove(name):
            chat.ignores_changed = True
            chat.note(f"{shown} is no longer ignored: their new messages are shown.", level="ok")
        else:
            chat.note(f"{shown} is not ignored (/ignore lists who is).")
        return False
    if chat.is_me(name):
        chat.note("You cannot ignore yourself.", level="error")
        return True
    if not chat.ignores.add(name):
        already = name in chat.ignores
        chat.note(f"{shown} is ignored already." if already else "The ignore list is full.",
                  level="info" if already else "error")
        return False
    chat.ignores_changed = True
    chat.note(f"Ignoring {shown}: their messages and direct messages are not shown in this client (they are "
              f"not told). /unignore {shown} shows them again.", level="ok")
    return False


def _lastlog(chat: ChatModel, text: str) -> None:
    target = chat.active
    target.lastlog = text
    if target.kind is not Kind.VIEW and not target.history_done and chat.outlet.online:
        chat.fetch_older(target, HISTORY_PAGE_MAX, silent=True, scroll=False)
    if target.history_pending:
        searching = system_lines(f"Searching {target.label} for {sanitize(text)!r}, with older messages "
                                 f"from the server\u2026", chat.now(), tz=chat.tz,
                                 time_format=chat.time_format)
        target.log.append([dataclasses.replace(line, kind="lastlog") for line in searching])
        return  # the search runs when the page comes (or is refused)
    show_lastlog(chat, target)


def show_lastlog(chat: ChatModel, target: Target) -> None:
    """The matches of ``target.lastlog`` in ``target``'s lines, shown at its end (case-insensitive)."""
    text = target.lastlog or ""
    target.lastlog = None
    wanted = text.casefold()
    found = [line for line in target.log.lines if line.kind in _SEARCHED and wanted in line.plain.casefold()]
    messages = target.log.message_count
    plural = "s" if messages != 1 else ""
    reach = ("the whole history" if target.history_done
             else f"the {messages} message{plural} here; /lastlog again reaches further back")
    count = f"{len(found)} line{'s' if len(found) != 1 else ''}"
    head = f"Lastlog of {target.label}: {count} with {sanitize(text)!r} ({reach})"
    more = len(found) - LASTLOG_MAX
    if more > 0:
        head += f"; the newest {LASTLOG_MAX} shown"
        found = found[more:]
    lines = [dataclasses.replace(line, kind="lastlog")
             for line in system_lines(head + (":" if found else "."), chat.now(), tz=chat.tz,
                                      time_format=chat.time_format)]
    lines += [dataclasses.replace(line, fragments=(("", "  "), *line.fragments), indent=line.indent + 2,
                                  kind="lastlog") for line in found]
    if found:
        lines.append(Line((("class:system.day", "-- End of lastlog --"),), kind="lastlog"))
    target.log.append(lines)
    if target is chat.active:
        target.log.scroll_to_end()


def _links(chat: ChatModel) -> None:
    links = list(chat.links)
    if not links:
        chat.note("No links seen yet: /url lists the recent links in messages, each on a line of its own.")
        return
    lines = system_lines(f"Recent links ({len(links)}, newest last), each alone on its line to copy:",
                         chat.now(), tz=chat.tz, time_format=chat.time_format)
    for number, link in enumerate(links, 1):
        lines.append(Line((("class:gutter", f"{number:>2}. "),
                           ("class:room", f"{sanitize(link.sender)} in {link.where}")), indent=4, kind="url"))
        lines.append(Line((("class:url", sanitize(link.url)),), indent=0, kind="url"))
    chat.log.append(lines)


def nick_rows(target: Target) -> list[tuple[str, str]]:
    """The nick list pane of a room: ``(style, text)`` rows, owners and operators first (``@``),
    the away marked; empty for a conversation or a room you left."""
    if not target.is_room or not target.member:
        return []
    users = sorted(target.online.values(),
                   key=lambda user: (user.role not in ("owner", "operator"), user.username.casefold()))
    rows = [("class:nicklist.head", f"{len(users)} online")]
    for user in users:
        mark = "@" if user.role in ("owner", "operator") else " "
        name = sanitize(user.username)
        if user.away:
            rows.append(("class:nicklist.away", f"{mark}{name} (away)"))
        else:
            rows.append(("class:nicklist.name", f"{mark}{name}"))
    return rows
