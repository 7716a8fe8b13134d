"""The certificate fingerprint's one written form, and reading one a person typed or pasted."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from chatapp.fingerprint import certificate_fingerprint, parse_fingerprint


def test_the_form_is_sha256_then_upper_case_hex_pairs_joined_by_colons() -> None:
    fingerprint = certificate_fingerprint(b"not really a certificate")
    digest = hashlib.sha256(b"not really a certificate").hexdigest().upper()
    assert fingerprint == "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, 64, 2))


@given(st.binary(max_size=64))
def test_every_way_of_writing_a_fingerprint_reads_back_to_the_canonical_one(der: bytes) -> None:
    canonical = certificate_fingerprint(der)
    bare = canonical.removeprefix("SHA256:")
    written_ways = (canonical, canonical.lower(), bare, bare.lower(), bare.replace(":", ""))
    written_ways += (f"  {canonical}\n",)
    for written in written_ways:
        assert parse_fingerprint(written) == canonical


@given(st.text(max_size=200))
def test_anything_else_is_not_a_fingerprint(text: str) -> None:
    parsed = parse_fingerprint(text)
    assert parsed is None or parsed == certificate_fingerprint_of_digits(parsed)


def certificate_fingerprint_of_digits(parsed: str) -> str:
    """A parsed fingerprint is always canonical: 32 upper-case hex pairs after the prefix."""
    pairs = parsed.removeprefix("SHA256:").split(":")
    assert len(pairs) == 32 and all(len(p) == 2 and p == p.upper() for p in pairs)
    int("".join(pairs), 16)
    return parsed


def test_near_misses_are_refused() -> None:
    good = certificate_fingerprint(b"x").removeprefix("SHA256:")
    near_misses = ("", "SHA256:", good[:-3], good + ":00", good.replace(":", "-"), "MD5:" + good)
    near_misses += ("G" + good[1:],)
    for bad in near_misses:
        assert parse_fingerprint(bad) is None
    assert parse_fingerprint("x" * 10_000) is None
