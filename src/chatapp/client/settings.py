"""The client's settings file (TOML): what each key means, reading it, and :class:`Settings`.

The file is flat, one ``key = value`` per setting (``docs/client.md`` lists
them); it lives in the client's config directory (``--config`` or
``CHATAPP_CONFIG`` name another). Reading never fails: a file that is not TOML
gives the defaults, a bad value gives that key's default, each with one line
saying why; keys this client does not know are reported and kept (a newer
client may know them), and written back by :mod:`.settings_file`.
``/set`` changes one key with :meth:`Settings.with_value`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import platformdirs

from chatapp.protocol import ProtocolError
from chatapp.protocol.rules import check_username

THEMES = ("dark", "light", "mono")
MAX_HIGHLIGHT_WORDS = 50
MAX_WORD = 64
MAX_TEXT = 1024
MAX_FILE = 64 * 1024
"""A settings file larger than this is not read (it is not one a person wrote)."""


def default_path() -> Path:
    return platformdirs.user_config_path("chatapp", appauthor=False) / "client.toml"


class BadValue(ValueError):
    """A value that does not fit its key; the message says what would."""


@dataclasses.dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: str
    """``bool``, ``int``, ``choice`` (one of :attr:`choices`), ``words`` (a list of words), ``host``,
    ``user`` (a username or empty) or ``path`` (empty: the default place)."""
    summary: str
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 0
    live: bool = True
    """False: takes effect at the next start (the server to connect to, the user)."""

    def check(self, value: object) -> object:
        """The value read from the file, checked; raises :class:`BadValue`."""
        kind = self.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise BadValue("true or false")
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
                raise BadValue(f"a whole number from {self.low} to {self.high}")
            return value
        if kind == "words":
            if not isinstance(value, list) or len(value) > MAX_HIGHLIGHT_WORDS:
                raise BadValue(f"a list of at most {MAX_HIGHLIGHT_WORDS} words, like [\"deploy\", \"lunch\"]")
            return tuple(_word(item) for item in value)
        if not isinstance(value, str):
            raise BadValue("a string in quotes")
        text = _text(value)
        if kind == "choice" and text not in self.choices:
            raise BadValue("one of " + ", ".join(self.choices))
        if kind == "host" and (not text or any(c.isspace() for c in text)):
            raise BadValue("a host name or address")
        if kind == "user" and text:
            try:
                check_username(text)
            except ProtocolError as exc:
                raise BadValue(f"a username ({exc.message})") from None
        if kind == "path" and text:
            return str(Path(text).expanduser())
        return text

    def parse(self, typed: str) -> object:
        """The value as typed after ``/set KEY``; raises :class:`BadValue`."""
        typed = typed.strip()
        if self.kind == "bool":
            lowered = typed.lower()
            if lowered in ("on", "true", "yes", "1"):
                return True
            if lowered in ("off", "false", "no", "0"):
                return False
            raise BadValue("on or off")
        if self.kind == "int":
            if not typed.isdigit() or len(typed) > 9:
                raise BadValue(f"a whole number from {self.low} to {self.high}")
            return self.check(int(typed))
        if self.kind == "words":
            words = [word for word in typed.replace(",", " ").split() if word]
            return self.check(words)
        return self.check(typed)

    def show(self, value: object) -> str:
        """The value as ``/set`` shows it (and takes it back)."""
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, tuple):
            return " ".join(value) if value else "(none)"
        if value == "" and self.kind in ("host", "user", "path"):
            return "(not set)"
        return str(value)


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        raise BadValue(f"at most {MAX_TEXT} characters")
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise BadValue("text without control characters")
    return value


def _word(item: object) -> str:
    if not isinstance(item, str) or not 0 < len(item) <= MAX_WORD or any(c.isspace() for c in item):
        raise BadValue(f"a list of words (each 1 to {MAX_WORD} characters, no spaces)")
    return _text(item)


KEYS: tuple[Key, ...] = (
    Key("timestamp_seconds", "bool", "show seconds in message times (12:30:05)"),
    Key("timestamp_date", "bool", "show the date in message times (2026-12-05 12:30)"),
    Key("theme", "choice", "colours: dark (for dark terminals), light, or mono (no colours)", THEMES),
    Key("highlight_words", "words", "words that count as a mention of you (besides your name)"),
    Key("bell", "bool", "ring the terminal bell on a mention or a direct message"),
    Key("mouse", "bool", "mouse support (the wheel scrolls); off lets the terminal select text as usual"),
    Key("nick_list", "bool", "show the list of people beside a room"),
    Key("host", "host", "the server to connect to when --host is not given", live=False),
    Key("port", "int", "the server's port when --port is not given (0: 7777)", low=0, high=65535, live=False),
    Key("user", "user", "the username to sign in as when --user is not given", live=False),
    Key("history_size", "int", "how many typed lines are kept per server (0: none)", low=0, high=100_000),
    Key("logs", "bool", "write chat logs: plain text files per room and conversation"),
    Key("logs_dir", "path", "where chat logs go (empty: the user state directory's logs/)"),
    Key("logs_encrypted", "bool", "also log end-to-end encrypted conversations (in clear, on this disk)"),
    Key("logs_max_kib", "int", "a log file is rotated (name.1.log) when it passes this size", low=16,
        high=1024 * 1024),
)
BY_NAME: dict[str, Key] = {key.name: key for key in KEYS}


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, typed, with its default. Immutable: ``/set`` makes a new one."""

    timestamp_seconds: bool = False
    timestamp_date: bool = False
    theme: str = "dark"
    highlight_words: tuple[str, ...] = ()
    bell: bool = True
    mouse: bool = True
    nick_list: bool = False
    host: str = ""
    port: int = 0
    user: str = ""
    history_size: int = 1000
    logs: bool = False
    logs_dir: str = ""
    logs_encrypted: bool = False
    logs_max_kib: int = 1024
    unknown: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Keys of the file this client does not know, kept as read so that saving does not lose them."""

    def value(self, name: str) -> object:
        return getattr(self, name)

    def with_value(self, name: str, value: object) -> Settings:
        changes: dict[str, Any] = {name: value}
        return dataclasses.replace(self, **changes)

    def time_format(self) -> str:
        """The ``strftime`` format of message times."""
        clock = "%H:%M:%S" if self.timestamp_seconds else "%H:%M"
        return f"%Y-%m-%d {clock}" if self.timestamp_date else clock

    def logs_path(self) -> Path:
        if self.logs_dir:
            return Path(self.logs_dir)
        return platformdirs.user_state_path("chatapp", appauthor=False) / "logs"


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    settings: Settings
    problems: tuple[str, ...] = ()
    """One line each: what was wrong in the file and what is used instead."""
    broken: bool = False
    """The file exists but could not be read as TOML: saving must not silently replace it."""


def from_mapping(data: Mapping[str, Any], where: str) -> tuple[Settings, list[str]]:
    values: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in data.items():
        key = BY_NAME.get(name)
        if key is None:
            unknown[name] = raw
            problems.append(f"{where}: unknown setting {name!r} (kept in the file, not used)")
            continue
        try:
            values[name] = key.check(raw)
        except BadValue as exc:
            default = key.show(getattr(Settings(), name))
            problems.append(f"{where}: {name} must be {exc}; using the default: {default}")
    return Settings(**values, unknown=unknown), problems


def load(path: Path, reader: Callable[[Path], bytes] = Path.read_bytes) -> Loaded:
    """Read the settings file at ``path``; a missing file is the defaults, silently."""
    try:
        if path.stat().st_size > MAX_FILE:
            return Loaded(Settings(), (f"{path}: larger than {MAX_FILE // 1024} KiB, not read; using the "
                                       "default settings",), broken=True)
        raw = reader(path)
    except FileNotFoundError:
        return Loaded(Settings())
    except OSError as exc:
        return Loaded(Settings(), (f"{path}: cannot be read ({exc.strerror}); using the default settings",),
                      broken=True)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Loaded(Settings(), (f"{path}: not UTF-8 text; using the default settings",), broken=True)
    except tomllib.TOMLDecodeError as exc:
        return Loaded(Settings(), (f"{path}: not valid TOML ({exc}); using the default settings",),
                      broken=True)
    settings, problems = from_mapping(data, str(path))
    return Loaded(settings, tuple(problems))
