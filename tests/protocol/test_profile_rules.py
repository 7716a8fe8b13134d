"""Profile values: sanitised display names and bios, and the key under which two names are one."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.protocol import ProtocolError
from chatapp.protocol.limits import BIO_MAX, DISPLAY_NAME_MAX
from chatapp.protocol.profile_rules import RAW_MAX, clean_bio, clean_display_name, name_key

FAST = settings(max_examples=300, deadline=None, database=None)
DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn"}


def test_display_names_are_made_safe_to_show() -> None:
    assert clean_display_name("  Ａlice\u202e\u200b  the\t\n Great\x07 ") == "Alice the Great"
    assert clean_display_name("\u2067evil\u2069 twin") == "evil twin"  # bidi isolates go
    assert clean_display_name("e\u200d\u0301") == "é"  # composed once the joiner is gone
    assert clean_display_name("") == "" and clean_display_name(" \u200b ") == ""  # cleared


def test_bios_keep_their_lines() -> None:
    bio = clean_bio("  hello  there \r\n\n\n\nsecond\u2028line\x1b[31m\n\n")
    assert bio == "hello there\n\nsecond line[31m"
    assert clean_bio("\n\none\n") == "one"


def test_limits() -> None:
    assert clean_display_name("x" * DISPLAY_NAME_MAX) == "x" * DISPLAY_NAME_MAX
    # Counted after sanitising: invisible padding does not count against the limit.
    assert clean_display_name("x" * DISPLAY_NAME_MAX + "\u200b" * 10) == "x" * DISPLAY_NAME_MAX
    too_long = (("x" * (DISPLAY_NAME_MAX + 1), clean_display_name), ("y" * (BIO_MAX + 1), clean_bio))
    for value, clean in too_long:
        with pytest.raises(ProtocolError) as refused:
            clean(value)
        assert refused.value.code == "text_too_long"
    with pytest.raises(ProtocolError, match="far too long"):
        clean_display_name("\u200b" * (RAW_MAX + 1))


def test_name_key_makes_look_alike_spellings_one_name() -> None:
    assert name_key("BOB") == name_key("bob") == name_key("Ｂｏｂ")
    assert name_key("STRASSE") == name_key("Straße")
    assert name_key("bob") != name_key("b0b")


@FAST
@given(st.text(max_size=120))
def test_a_clean_display_name_is_clean_and_stays_so(value: str) -> None:
    try:
        name = clean_display_name(value)
    except ProtocolError as error:
        assert error.code == "text_too_long"
        return
    assert len(name) <= DISPLAY_NAME_MAX
    assert name == name.strip() and "  " not in name
    assert not any(unicodedata.category(c) in DROPPED or (c.isspace() and c != " ") for c in name)
    assert clean_display_name(name) == name
    assert unicodedata.is_normalized("NFKC", name)


@FAST
@given(st.text(max_size=340))
def test_a_clean_bio_is_clean_and_stays_so(value: str) -> None:
    try:
        bio = clean_bio(value)
    except ProtocolError as error:
        assert error.code == "text_too_long"
        return
    assert len(bio) <= BIO_MAX and "\n\n\n" not in bio and bio == bio.strip("\n")
    for line in bio.split("\n"):
        assert line == line.strip() and "  " not in line
        assert not any(unicodedata.category(c) in DROPPED or (c.isspace() and c != " ") for c in line)
    assert clean_bio(bio) == bio


@FAST
@given(st.text(max_size=40))
def test_name_key_is_stable(name: str) -> None:
    assert name_key(name_key(name)) == name_key(name)
