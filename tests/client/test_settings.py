"""The settings file: reading it (never failing), writing it (TOML made here), round trips."""

from __future__ import annotations

import datetime
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.client.options import parse_args
from chatapp.client.settings import KEYS, MAX_HIGHLIGHT_WORDS, THEMES, Settings, from_mapping, load
from chatapp.client.settings_file import render, toml_string
from chatapp.client.settings_store import SettingsStore

_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
_WORD = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=20
).filter(lambda word: not any(char.isspace() for char in word))
_SETTINGS = st.builds(
    Settings,
    timestamp_seconds=st.booleans(),
    timestamp_date=st.booleans(),
    theme=st.sampled_from(THEMES),
    highlight_words=st.lists(_WORD, max_size=MAX_HIGHLIGHT_WORDS).map(tuple),
    bell=st.booleans(),
    mouse=st.booleans(),
    nick_list=st.booleans(),
    host=st.sampled_from(["", "chat.example.org", "127.0.0.1", "::1"]),
    port=st.integers(0, 65535),
    user=st.sampled_from(["", "alice", "bob_2"]),
    history_size=st.integers(0, 100_000),
    logs=st.booleans(),
    logs_dir=_TEXT.filter(lambda text: not text.startswith("~")).map(lambda text: text and str(Path(text))),
    logs_encrypted=st.booleans(),
    logs_max_kib=st.integers(16, 1024 * 1024),
)
_TOML_SCALAR = (
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | _TEXT
    | st.floats(allow_nan=False) | st.dates() | st.datetimes(timezones=st.just(datetime.UTC))
)
_UNKNOWN = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda key: key not in {k.name for k in KEYS}),
    _TOML_SCALAR | st.lists(_TOML_SCALAR, max_size=3) | st.dictionaries(st.text(max_size=5), _TOML_SCALAR,
                                                                        max_size=3),
    max_size=4,
)


@settings(max_examples=200)
@given(_SETTINGS, _UNKNOWN)
def test_every_settings_value_and_unknown_key_round_trips_through_the_file(
    value: Settings, unknown: dict[str, Any]
) -> None:
    value = Settings(**{key.name: value.value(key.name) for key in KEYS}, unknown=unknown)
    data = tomllib.loads(render(value))
    back, problems = from_mapping(data, "file")
    assert back == value
    assert problems == [f"file: unknown setting {name!r} (kept in the file, not used)" for name in unknown]


@given(st.text(max_size=50).filter(lambda text: not any(0xD800 <= ord(c) <= 0xDFFF for c in text)))
def test_any_string_survives_toml_quoting(text: str) -> None:
    assert tomllib.loads(f"x = {toml_string(text)}")["x"] == text


def test_a_missing_file_is_the_defaults_silently(tmp_path: Path) -> None:
    loaded = load(tmp_path / "client.toml")
    assert loaded.settings == Settings() and loaded.problems == () and not loaded.broken


def test_a_file_that_is_not_toml_gives_the_defaults_and_one_line(tmp_path: Path) -> None:
    path = tmp_path / "client.toml"
    path.write_text("theme = light\nbell = \n")
    loaded = load(path)
    assert loaded.settings == Settings() and loaded.broken
    assert len(loaded.problems) == 1
    assert loaded.problems[0].startswith(f"{path}: not valid TOML (")
    assert loaded.problems[0].endswith("; using the default settings")


def test_a_bad_value_gives_that_keys_default_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "client.toml"
    path.write_text('theme = "purple"\nbell = "yes"\nport = 70000\nuser = "a b"\nhighlight_words = ["ok"]\n'
                    'timestamp_seconds = true\nfuture_thing = {a = 1}\n')
    loaded = load(path)
    assert loaded.settings.theme == "dark" and loaded.settings.bell is True and loaded.settings.port == 0
    assert loaded.settings.user == ""
    assert loaded.settings.timestamp_seconds is True and loaded.settings.highlight_words == ("ok",)
    assert loaded.settings.unknown == {"future_thing": {"a": 1}}
    assert loaded.problems == (
        f"{path}: theme must be one of dark, light, mono; using the default: dark",
        f"{path}: bell must be true or false; using the default: on",
        f"{path}: port must be a whole number from 0 to 65535; using the default: 0",
        f"{path}: user must be a username (usernames are 3 to 32 characters of letters, digits, "
        "'_', '.' and '-'); using the default: (not set)",
        f"{path}: unknown setting 'future_thing' (kept in the file, not used)",
    )


def test_saving_keeps_unknown_keys_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "client.toml"
    path.parent.mkdir()
    path.write_text('future_thing = [1, "two"]\n[table]\nx = 2026-12-05T08:00:00Z\n')
    store = SettingsStore(load(path), path)
    assert store.change("theme", "light") == f"saved in {path}"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data == {"theme": "light", "future_thing": [1, "two"],
                    "table": {"x": datetime.datetime(2026, 12, 5, 8, tzinfo=datetime.UTC)}}
    assert [p.name for p in path.parent.iterdir()] == ["client.toml"]  # no temporary file left


def test_saving_over_a_broken_file_moves_it_aside_first(tmp_path: Path) -> None:
    path = tmp_path / "client.toml"
    path.write_text("this is [not toml\n")
    store = SettingsStore(load(path), path)
    where = store.change("bell", False)
    aside = tmp_path / "client.toml.broken"
    assert where == f"saved in {path}; the unreadable file there is now {aside}"
    assert aside.read_text() == "this is [not toml\n"
    assert tomllib.loads(path.read_text()) == {"bell": False}


def test_the_server_and_user_come_from_the_settings_unless_flags_or_environment_say(tmp_path: Path) -> None:
    path = tmp_path / "client.toml"
    path.write_text('host = "chat.example.org"\nport = 7000\nuser = "carol"\n')
    options = parse_args(["--config", str(path)], environ={})
    assert (options.host, options.port, options.user) == ("chat.example.org", 7000, "carol")
    assert options.config == path
    options = parse_args(["--user", "dave"], environ={"CHATAPP_CONFIG": str(path), "CHATAPP_PORT": "7001"})
    assert (options.host, options.port, options.user) == ("chat.example.org", 7001, "dave")
    default = parse_args([], environ={"CHATAPP_CONFIG": str(tmp_path / "none.toml")})
    assert (default.host, default.port, default.user) == ("127.0.0.1", 7777, None)
