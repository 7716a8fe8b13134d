"""Links in messages: finding them, and the recent ones ``/url`` lists. Pure, no I/O.

A long link wrapped across rows of the pane must stay copyable: :mod:`.wrap`
asks :func:`link_spans` where the links of a line are and continues a link on
the next row without the ``│`` gutter; ``/url`` shows each recent link alone
on a line.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterator

URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'\u2502]+|\bwww\.[^\s<>\"'\u2502]+", re.IGNORECASE)
"""What counts as a link: ``http(s)://``, ``ftp://`` or ``www.``, up to a blank or a quote."""

_TRAILING = ".,;:!?)]}"
"""Characters a sentence puts after a link, not part of it (unless the link opened the bracket)."""

RECENT_URLS = 30
"""How many links ``/url`` remembers."""


def _trim(url: str) -> str:
    while url and url[-1] in _TRAILING:
        closing = url[-1]
        opening = {")": "(", "]": "[", "}": "{"}.get(closing)
        if opening is not None and url.count(opening) >= url.count(closing):
            break
        url = url[:-1]
    return url


def link_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each link in ``text`` (character offsets, end excluded)."""
    for match in URL.finditer(text):
        url = _trim(match.group(0))
        if len(url) > len("www.") and "." in url:
            yield match.start(), match.start() + len(url)


def find_links(text: str) -> list[str]:
    return [text[start:end] for start, end in link_spans(text)]


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    url: str
    where: str
    """The label of the room or conversation (``#rust``, ``@bob``)."""
    sender: str


class RecentLinks:
    """The newest links seen in messages, newest last, each once (seeing it again moves it to the end)."""

    def __init__(self, limit: int = RECENT_URLS) -> None:
        self._links: collections.OrderedDict[str, Link] = collections.OrderedDict()
        self.limit = limit

    def saw(self, text: str, where: str, sender: str) -> None:
        for url in find_links(text):
            self._links.pop(url, None)
            self._links[url] = Link(url, where, sender)
            while len(self._links) > self.limit:
                self._links.popitem(last=False)

    def __iter__(self) -> Iterator[Link]:
        return iter(list(self._links.values()))

    def __len__(self) -> int:
        return len(self._links)
