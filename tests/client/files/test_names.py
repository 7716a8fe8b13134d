"""The download name sanitiser: hostile names from senders become plain names inside the directory."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.client.files.names import MAX_NAME_BYTES, place, safe_name, with_suffix_number

RESERVED = {"con", "prn", "aux", "nul", "com1", "com9", "lpt1", "lpt9"}

hostile_parts = st.sampled_from(
    ["..", ".", "/", "\\", "\x00", "\x1b[31m", "\u202e", "\u2066", "\u200b", "con", "NUL", "lpt1", "~",
     "etc", "passwd", " ", "\n", "\r", "\ud800", "\u2028", "txt", "exe", ":", "*", "?", "\U000e0041"]
)
names = st.one_of(st.text(max_size=400), st.lists(hostile_parts, max_size=30).map("".join))


def check_safe(result: str) -> None:
    assert result
    assert result not in (".", "..")
    assert not result.startswith((".", " ")) and not result.endswith((".", " "))
    assert len(result.encode("utf-8")) <= MAX_NAME_BYTES
    for char in result:
        assert char not in '/\\<>:"|?*'
        assert unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    assert result.split(".", 1)[0].lower() not in RESERVED


@given(names)
@settings(max_examples=400)
def test_any_name_becomes_a_safe_one(name: str) -> None:
    check_safe(safe_name(name))


@given(names)
def test_the_sanitiser_is_idempotent(name: str) -> None:
    once = safe_name(name)
    assert safe_name(once) == once


@given(names, st.integers(min_value=1, max_value=9999))
def test_a_clash_suffix_keeps_the_name_safe(name: str, number: int) -> None:
    check_safe(with_suffix_number(safe_name(name), number))


@given(names)
def test_the_name_stays_in_the_directory(name: str) -> None:
    base = Path("/srv/downloads")
    target = base / safe_name(name)
    assert target.parent == base
    assert os.path.normpath(target) == str(target)


@pytest.mark.parametrize(
    ("hostile", "saved"),
    [
        ("../../etc/passwd", ".._.._etc_passwd".lstrip(".")),
        ("/abs", "_abs"),
        ("", "file"),
        ("..", "file"),
        ("con", "_con"),
        ("CON.txt", "_CON.txt"),
        ("bad\x1b[2Jname\x07.txt", "bad[2Jname.txt"),
        ("invoice\u202etxt.exe", "invoicetxt.exe"),
        ("  .hidden  ", "hidden"),
        ("caf\u0065\u0301.png", "caf\u00e9.png"),
    ],
)
def test_known_hostile_names(hostile: str, saved: str) -> None:
    assert safe_name(hostile) == saved


def test_a_long_name_keeps_its_extension() -> None:
    result = safe_name("a" * 1000 + ".tar")
    assert result.endswith(".tar")
    assert len(result.encode()) == MAX_NAME_BYTES


def test_place_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"first")
    for content in (b"second", b"third"):
        part = tmp_path / "x.part"
        part.write_bytes(content)
        place(part, tmp_path, "report.pdf")
        assert not part.exists()
    assert (tmp_path / "report.pdf").read_bytes() == b"first"
    assert (tmp_path / "report (1).pdf").read_bytes() == b"second"
    assert (tmp_path / "report (2).pdf").read_bytes() == b"third"
