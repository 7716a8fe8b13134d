"""The scroll-back of one room or conversation: its lines, in id order, and where the pane is scrolled.

Pure model (no prompt_toolkit): :class:`~chatapp.client.ui.pane.ChatLogControl`
shows the active target's log. Scrolling works like a terminal chat client:
the pane follows new lines until the user scrolls up (PageUp); then it stays
put and counts what arrived below, until the user scrolls back down to the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, tzinfo

from chatapp.protocol import Direct, Message

from .lines import Line, day_change_line, unread_marker_line


@dataclasses.dataclass(eq=False, slots=True)
class Entry:
    """What was added to a log in one go: a message (with its id and time) or a note."""

    lines: tuple[Line, ...]
    when: datetime | None = None
    """The message's time: entries with a time get day-change lines between them."""
    id: int | None = None
    """The message id; messages are kept in id order and each id once."""


class ChatLog:
    """The lines of one conversation (a room or a direct conversation), oldest first.

    Messages carry their id: :meth:`add_message` keeps them in id order and
    drops an id it already has, so a replay or a history page that overlaps
    what is shown changes nothing. :meth:`prepend` puts a page of older
    messages at the top without moving what the pane shows. Notes
    (:meth:`append`) go at the end. Day-change lines are worked out between
    entries with a time. Past ``max_lines`` the oldest entries are dropped.
    """

    def __init__(self, *, max_lines: int = 5000, tz: tzinfo | None = None) -> None:
        self.entries: list[Entry] = []
        self.lines: list[Line] = []
        self.max_lines = max_lines
        self.tz = tz
        self.follow = True
        """Keep the newest line in sight (False after scrolling up)."""
        self.anchor = 0
        """While not following: the line at the top of the pane ..."""
        self.anchor_row = 0
        """... and which of its rows (when it is wrapped)."""
        self.unseen = 0
        """Lines added below while not following."""
        self.page_up_pending = False
        """Scroll up one page at the next render (after older messages were put on top)."""
        self._ids: set[int] = set()
        self.sources: dict[int, Message | Direct] = {}
        """The messages shown, by id (to show one again as removed, to find one's own last one)."""
        self._newest: int | None = None
        self._day: date | None = None
        self._marker_armed = False
        self._marker: Entry | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    @property
    def newest_id(self) -> int | None:
        return self._newest

    @property
    def oldest_id(self) -> int | None:
        return min(self._ids) if self._ids else None

    @property
    def message_count(self) -> int:
        return len(self._ids)

    def append(self, lines: Sequence[Line], when: datetime | None = None) -> None:
        """Add lines at the end; ``when`` (a message time) may add a day-change line before them."""
        self._append(Entry(tuple(lines), when))

    def add_message(self, message_id: int, lines: Sequence[Line], when: datetime | None) -> bool:
        """Add a message in id order; False (and nothing changes) when the id is here already."""
        if message_id in self._ids:
            return False
        entry = Entry(tuple(lines), when, message_id)
        if self._newest is None or message_id > self._newest:
            self._append(entry)
            return True
        later = (i for i, e in enumerate(self.entries) if e.id is not None and e.id > message_id)
        index = next(later, len(self.entries))
        self._insert(index, [entry])
        return True

    def prepend(self, messages: Sequence[tuple[int, Sequence[Line], datetime | None]]) -> int:
        """Put older messages (id, lines, time; in id order) at the very top; returns how many were new.

        Ids that are here already are skipped; an id newer than the oldest one
        here is not "older" and goes to its place in id order instead.
        """
        oldest = self.oldest_id
        top: list[Entry] = []
        later: list[tuple[int, Sequence[Line], datetime | None]] = []
        for message_id, lines, when in messages:
            if message_id in self._ids or any(e.id == message_id for e in top):
                continue
            if oldest is not None and message_id > oldest:
                later.append((message_id, lines, when))
            else:
                top.append(Entry(tuple(lines), when, message_id))
        top.sort(key=lambda e: e.id or 0)
        if top:
            self._insert(0, top)
        added = len(top)
        for message_id, lines, when in later:
            added += self.add_message(message_id, lines, when)
        return added

    def arm_marker(self) -> None:
        """The user looks away (another window, a lost link): remove the "unread from here" line, and
        put it before the next new message (:meth:`mark_unread`)."""
        self._marker_armed = True
        if self._marker is not None and self._marker in self.entries:
            index = self.entries.index(self._marker)
            del self.entries[index]
            self._rebuild()
            if not self.follow and self.anchor > self._line_start(index):
                self.anchor -= 1
        self._marker = None

    def disarm_marker(self) -> None:
        """The user is looking: what comes now is not unread (a marker already placed stays)."""
        self._marker_armed = False

    def mark_unread(self, message_id: int) -> None:
        """A new message is about to be added: when armed, the "unread from here" line goes first."""
        if not self._marker_armed or message_id in self._ids:
            return
        if self._newest is not None and message_id < self._newest:
            return  # a late message goes to its place further up; the marker waits for a new one
        self._marker_armed = False
        self._marker = Entry((unread_marker_line(),))
        self._append(self._marker)

    @property
    def has_marker(self) -> bool:
        return self._marker is not None and self._marker in self.entries

    def remember(self, message: Message | Direct) -> None:
        """Keep the message an id shows (after :meth:`add_message` or :meth:`prepend` took its lines)."""
        if message.id in self._ids:
            self.sources[message.id] = message

    def replace_message(self, message_id: int, lines: Sequence[Line]) -> bool:
        """Show the message ``message_id`` with other lines (it was removed); False if it is not here."""
        entry = next((e for e in self.entries if e.id == message_id), None)
        if entry is None:
            return False
        entry.lines = tuple(lines)
        self._rebuild()
        return True

    def note_at_top(self, lines: Sequence[Line]) -> None:
        """A note above everything (such as "beginning of history")."""
        self._insert(0, [Entry(tuple(lines))])

    def _append(self, entry: Entry) -> None:
        added: list[Line] = []
        if entry.when is not None:
            day = entry.when.astimezone(self.tz).date()
            if self._day is not None and day != self._day:
                added.append(day_change_line(entry.when, self.tz))
            self._day = day
        added.extend(entry.lines)
        self.entries.append(entry)
        if entry.id is not None:
            self._ids.add(entry.id)
            self._newest = entry.id if self._newest is None else max(self._newest, entry.id)
        self.lines.extend(added)
        if not self.follow:
            self.unseen += len(added)
        if len(self.lines) > self.max_lines:
            self._trim()

    def _insert(self, index: int, entries: list[Entry]) -> None:
        """Insert entries before ``entries[index]``, keeping the pane on the same line."""
        old_start = self._line_start(index)
        old_total = len(self.lines)
        self.entries[index:index] = entries
        for entry in entries:
            if entry.id is not None:
                self._ids.add(entry.id)
                self._newest = entry.id if self._newest is None else max(self._newest, entry.id)
        self._rebuild()
        if not self.follow and self.anchor >= old_start:
            self.anchor += len(self.lines) - old_total

    def _line_start(self, index: int) -> int:
        """The first line (a day-change line included) of ``entries[index]``."""
        if index >= len(self.entries):
            return len(self.lines)
        count = 0
        day: date | None = None
        for entry in self.entries[:index]:
            if entry.when is not None:
                entry_day = entry.when.astimezone(self.tz).date()
                if day is not None and entry_day != day:
                    count += 1
                day = entry_day
            count += len(entry.lines)
        return count

    def _rebuild(self) -> None:
        lines: list[Line] = []
        day: date | None = None
        for entry in self.entries:
            if entry.when is not None:
                entry_day = entry.when.astimezone(self.tz).date()
                if day is not None and entry_day != day:
                    lines.append(day_change_line(entry.when, self.tz))
                day = entry_day
            lines.extend(entry.lines)
        self.lines = lines
        self._day = day

    def _trim(self) -> None:
        """Drop the oldest entries, down to nine tenths of the limit (so this is not done every line)."""
        target = self.max_lines - self.max_lines // 10
        total = len(self.lines)
        drop = 0
        while drop < len(self.entries) - 1 and total > target:
            total -= len(self.entries[drop].lines)
            drop += 1
        if drop == 0:
            return
        for entry in self.entries[:drop]:
            if entry.id is not None:
                self._ids.discard(entry.id)
                self.sources.pop(entry.id, None)
        before = len(self.lines)
        del self.entries[:drop]
        self._newest = max(self._ids) if self._ids else None
        self._rebuild()
        removed = before - len(self.lines)
        if self.anchor < removed:
            self.anchor, self.anchor_row = 0, 0
        else:
            self.anchor -= removed

    def clear(self) -> None:
        self._marker = None
        self.entries.clear()
        self.lines = []
        self._ids.clear()
        self.sources.clear()
        self._newest = None
        self._day = None
        self.scroll_to_end()

    def scroll_to(self, index: int, row: int = 0) -> None:
        """Show line ``index`` (its ``row``-th row) at the top of the pane and stop following."""
        self.follow = False
        self.anchor = max(0, min(index, len(self.lines) - 1))
        self.anchor_row = max(0, row)

    def scroll_to_end(self) -> None:
        self.follow = True
        self.anchor = self.anchor_row = 0
        self.unseen = 0
