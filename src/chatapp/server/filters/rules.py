"""The filter file: TOML rules read, checked and compiled, or one sentence saying what is wrong.

A file is a list of ``[[rule]]`` tables::

    [[rule]]
    name = "insults"                      # unique; audit events and errors name it
    words = ["idiot", "shut up"]          # whole words (or phrases), case-insensitive
    action = "reject"                     # reject | mask | flag
    message = "please keep it civil"      # reject only: the error's sentence
    applies_to = ["messages", "direct_messages"]   # default: every text

    [[rule]]
    name = "invites"
    pattern = 'discord\\.gg/\\w+'         # an RE2 pattern instead of words
    action = "mask"

Patterns are compiled by RE2 (google-re2): matching takes time linear in the
text whatever the pattern, so no rule can hang the server the way a
backtracking engine's ``(a+)+$`` can. Every input is bounded: the file's
size, the number of rules, words and patterns, each one's length, and the
memory RE2 may give one pattern's program.
"""

from __future__ import annotations

import enum
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2

FILE_MAX = 1024 * 1024
"""Largest filter file, in bytes."""
RULES_MAX = 500
WORDS_MAX = 50_000
"""Words and phrases in all rules together."""
WORD_MAX = 64
"""Longest word or phrase, in characters."""
PATTERNS_MAX = 100
PATTERN_MAX = 1000
"""Longest pattern, in characters."""
PATTERN_MEMORY = 1024 * 1024
"""RE2's memory budget for one pattern's compiled program (``Options.max_mem``): a pattern
that needs more (``\\w{1000}``, say) is refused when the file is read."""
SET_MEMORY = 64 * 1024 * 1024
"""RE2's budget for all patterns matched together in one pass."""
NAME_MAX = 64
MESSAGE_MAX = 300
DEFAULT_MESSAGE = "your text was refused by this server's content rules"
MASK = "***"

WORD = re.compile(r"\w+")
"""A word of a text: a run of Unicode letters, digits and underscores (a fixed pattern)."""


class Target(enum.StrEnum):
    """Which texts a rule applies to."""

    MESSAGES = "messages"
    DIRECT_MESSAGES = "direct_messages"
    TOPICS = "topics"
    AWAY = "away"
    PROFILE = "profile"


class Action(enum.StrEnum):
    REJECT = "reject"
    MASK = "mask"
    FLAG = "flag"


class FilterFileError(Exception):
    """The filter file cannot be used; the message is one sentence that names the line or rule."""


def word_key(word: str) -> str:
    """The form in which words are compared: NFKC, then Unicode case folding (ASCII: lower case)."""
    if word.isascii():
        return word.lower()
    return unicodedata.normalize("NFKC", word).casefold()


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    """Its place in the file, from 1."""
    name: str
    action: Action
    targets: frozenset[Target]
    message: str
    phrases: tuple[tuple[str, ...], ...] = ()
    """Each word or phrase as the keys of its words; empty for a pattern rule."""
    pattern: str | None = None


def pattern_options(max_mem: int) -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False  # like words; (?-i) in a pattern turns it back on
    options.log_errors = False  # errors are reported as sentences, not on stderr
    options.max_mem = max_mem
    return options


def compile_pattern(pattern: str, max_mem: int = PATTERN_MEMORY) -> Any:
    return re2.compile(pattern, pattern_options(max_mem))


def read_rules(path: Path) -> list[Rule]:
    """Read and check the file; :class:`FilterFileError` with one sentence if it cannot be used."""
    where = f"filter file {path}"
    try:
        with path.open("rb") as file:
            raw = file.read(FILE_MAX + 1)
    except OSError as exc:
        raise FilterFileError(f"{where}: cannot be read: {exc.strerror or exc}") from None
    if len(raw) > FILE_MAX:
        raise FilterFileError(f"{where}: is larger than {FILE_MAX // 1024} KiB")
    return parse_rules(raw, where)


def parse_rules(raw: bytes, where: str = "filter file") -> list[Rule]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FilterFileError(f"{where}: line {line} is not UTF-8") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FilterFileError(f"{where}: not valid TOML: {exc}") from None
    unknown = set(document) - {"rule"}
    if unknown:
        raise FilterFileError(f"{where}: unknown key {sorted(unknown)[0]!r} (rules are [[rule]] tables)")
    tables = document.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise FilterFileError(f"{where}: 'rule' must be an array of tables: write each as [[rule]]")
    if len(tables) > RULES_MAX:
        raise FilterFileError(f"{where}: has {len(tables)} rules; at most {RULES_MAX} are allowed")
    rules: list[Rule] = []
    names: set[str] = set()
    words = patterns = 0
    for index, table in enumerate(tables, start=1):
        rule = _rule(index, table, f"{where}: rule {index}")
        if rule.name in names:
            raise FilterFileError(f"{where}: rule {index}: the name {rule.name!r} is used by an earlier rule")
        names.add(rule.name)
        words += len(rule.phrases)
        patterns += rule.pattern is not None
        if words > WORDS_MAX:
            raise FilterFileError(f"{where}: rule {index}: the rules hold more than {WORDS_MAX} words")
        if patterns > PATTERNS_MAX:
            raise FilterFileError(f"{where}: rule {index}: the rules hold more than {PATTERNS_MAX} patterns")
        rules.append(rule)
    return rules


_KEYS = {"name", "words", "pattern", "action", "message", "applies_to"}


def _rule(index: int, table: dict[str, Any], where: str) -> Rule:
    name = table.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX or not name.isprintable():
        raise FilterFileError(f"{where}: needs a name of 1 to {NAME_MAX} printable characters")
    where = f"{where} ({name!r})"
    unknown = set(table) - _KEYS
    if unknown:
        raise FilterFileError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    action = table.get("action")
    if action not in set(Action):
        raise FilterFileError(f"{where}: action must be one of reject, mask, flag")
    message = table.get("message", DEFAULT_MESSAGE)
    if "message" in table and action != Action.REJECT:
        raise FilterFileError(f"{where}: only a reject rule has a message")
    if not isinstance(message, str) or not 1 <= len(message) <= MESSAGE_MAX or not message.isprintable():
        raise FilterFileError(f"{where}: message must be 1 to {MESSAGE_MAX} printable characters")
    targets = _targets(table.get("applies_to"), where)
    has_words, has_pattern = "words" in table, "pattern" in table
    if has_words == has_pattern:
        raise FilterFileError(f"{where}: needs either words or a pattern (one of them)")
    if has_words:
        phrases = _phrases(table["words"], where)
        return Rule(index, name, Action(action), targets, message, phrases=phrases)
    pattern = _pattern(table["pattern"], where)
    return Rule(index, name, Action(action), targets, message, pattern=pattern)


def _targets(value: Any, where: str) -> frozenset[Target]:
    if value is None:
        return frozenset(Target)
    known = ", ".join(Target)
    if not isinstance(value, list) or not value or not all(item in set(Target) for item in value):
        raise FilterFileError(f"{where}: applies_to must be a list of some of {known}")
    return frozenset(Target(item) for item in value)


def _phrases(value: Any, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise FilterFileError(f"{where}: words must be a non-empty list of strings")
    if len(value) > WORDS_MAX:
        raise FilterFileError(f"{where}: has more than {WORDS_MAX} words")
    phrases = []
    for item in value:
        parts = item.split()
        if not parts or len(item) > WORD_MAX or not all(WORD.fullmatch(part) for part in parts):
            raise FilterFileError(
                f"{where}: {item[:WORD_MAX]!r} is not a word or phrase (letters, digits and '_', "
                f"words separated by spaces, at most {WORD_MAX} characters); use a pattern for anything else"
            )
        phrases.append(tuple(word_key(part) for part in parts))
    return tuple(dict.fromkeys(phrases))  # each once, in file order


def _pattern(value: Any, where: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= PATTERN_MAX:
        raise FilterFileError(f"{where}: pattern must be a string of 1 to {PATTERN_MAX} characters")
    try:
        compiled = compile_pattern(value)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        raise FilterFileError(f"{where}: the pattern is not one RE2 can use: {detail}") from None
    if compiled.search("") is not None:
        raise FilterFileError(f"{where}: the pattern matches an empty text; it would match everything")
    return value
