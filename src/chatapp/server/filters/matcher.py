"""Matching a text against compiled rules: which rules hit, and the text with masks applied.

Words are found by splitting the text into words (``\\w+``, Unicode-aware) and
looking each one's key up in a dictionary: the cost is one look-up per word of
the text, however many words the rules hold (for an ASCII text that hits
nothing, one set operation in C). A phrase matches words separated
by white space only. All the patterns that apply to a kind of text run
together in one RE2 pass (``re2.Set``); only the mask rules that hit are run
again to find where.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

from .rules import MASK, SET_MEMORY, WORD, Action, FilterFileError, Rule, Target, compile_pattern, word_key
from .rules import pattern_options as _options


@dataclass(frozen=True, slots=True)
class Screened:
    """What the rules make of a text."""

    text: str
    """The text to use: masked where a mask rule hit (the original otherwise)."""
    rejected: Rule | None = None
    """The first reject rule (in file order) that hit: the text must go nowhere."""
    flagged: tuple[str, ...] = ()
    """The names of the flag rules that hit (not set when rejected)."""


class TargetRules:
    """The rules of one kind of text, ready to match."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.words: dict[str, list[tuple[tuple[str, ...], Rule]]] = {}
        self.patterns: list[tuple[Rule, Any]] = []
        pattern_set = None
        for rule in rules:
            for phrase in rule.phrases:
                self.words.setdefault(phrase[0], []).append((phrase, rule))
            if rule.pattern is not None:
                if pattern_set is None:
                    pattern_set = re2.Set.SearchSet(_options(SET_MEMORY))
                pattern_set.Add(rule.pattern)
                self.patterns.append((rule, compile_pattern(rule.pattern)))
        if pattern_set is not None:
            try:
                pattern_set.Compile()
            except re2.error:
                raise FilterFileError(
                    "the patterns together need more memory than RE2 is allowed; use fewer"
                ) from None
        self.pattern_set = pattern_set

    def screen(self, text: str) -> Screened:
        # Keyed by the rule's place in the file (hashing a rule would hash all its words).
        hits: dict[int, tuple[Rule, list[tuple[int, int]]]] = {}
        if self.words:
            self._match_words(text, hits)
        if self.pattern_set is not None:
            for index in self.pattern_set.Match(text) or ():
                # A hit is a non-empty match: a pattern such as \b matches nothing at all.
                rule, compiled = self.patterns[index]
                spans = [m.span() for m in compiled.finditer(text) if m.end() > m.start()]
                if spans:
                    _hit(hits, rule).extend(spans)
        if not hits:
            return Screened(text)
        ordered = [hits[index] for index in sorted(hits)]
        for rule, _ in ordered:
            if rule.action is Action.REJECT:
                return Screened(text, rejected=rule)
        flagged = tuple(rule.name for rule, _ in ordered if rule.action is Action.FLAG)
        spans = [span for rule, found in ordered if rule.action is Action.MASK for span in found]
        return Screened(mask(text, spans) if spans else text, flagged=flagged)

    def _match_words(self, text: str, hits: dict[int, tuple[Rule, list[tuple[int, int]]]]) -> None:
        # The common case first, in C: an ASCII text none of whose words starts an entry (an ASCII
        # word's key is its lower case). Only a text that may hit is split with positions.
        if text.isascii() and self.words.keys().isdisjoint(WORD.findall(text.lower())):
            return
        found = [(m.start(), m.end(), word_key(m.group())) for m in WORD.finditer(text)]
        words = self.words
        for i, (start, end, key) in enumerate(found):
            candidates = words.get(key)
            if candidates is None:
                continue
            for phrase, rule in candidates:
                last = i + len(phrase) - 1
                if last == i:
                    _hit(hits, rule).append((start, end))
                elif last < len(found) and _phrase_at(text, found, i, phrase):
                    _hit(hits, rule).append((start, found[last][1]))


def _hit(hits: dict[int, tuple[Rule, list[tuple[int, int]]]], rule: Rule) -> list[tuple[int, int]]:
    """The spans found of ``rule``, to add to."""
    entry = hits.get(rule.index)
    if entry is None:
        entry = hits[rule.index] = (rule, [])
    return entry[1]


def _phrase_at(text: str, found: list[tuple[int, int, str]], first: int, phrase: tuple[str, ...]) -> bool:
    for offset in range(1, len(phrase)):
        previous, word = found[first + offset - 1], found[first + offset]
        if word[2] != phrase[offset] or not text[previous[1] : word[0]].isspace():
            return False
    return True


def mask(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span (overlapping ones merged) replaced by ``***``."""
    parts = []
    position = 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        if start > position:
            parts.append(text[position:start])
            parts.append(MASK)
        elif not parts or parts[-1] != MASK:
            parts.append(MASK)  # overlaps the previous span, or starts the text
        position = end
    parts.append(text[position:])
    return "".join(parts)


def compile_targets(rules: list[Rule]) -> dict[Target, TargetRules]:
    """The rules of each kind of text; a kind without any is left out (it costs nothing)."""
    return {
        target: TargetRules(rule for rule in rules if target in rule.targets)
        for target in Target
        if any(target in rule.targets for rule in rules)
    }
