"""The filter file's parser: good files give rules, every bad one one sentence naming its rule or line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.server.filters import Action, ContentFilter, FilterFileError, Target, parse_rules
from chatapp.server.filters.rules import (
    DEFAULT_MESSAGE,
    FILE_MAX,
    PATTERN_MAX,
    RULES_MAX,
    WORD_MAX,
    read_rules,
)

FAST = settings(max_examples=150, deadline=None, database=None)

EXAMPLE = """
# a comment
[[rule]]
name = "insults"
words = ["Idiot", "shut up", "idiot"]
action = "reject"
message = "please keep it civil"
applies_to = ["messages", "direct_messages"]

[[rule]]
name = "invites"
pattern = 'discord\\.gg/\\w+'
action = "mask"

[[rule]]
name = "watch"
words = ["crypto"]
action = "flag"
"""


def sentence(text: str) -> str:
    with pytest.raises(FilterFileError) as caught:
        parse_rules(text.encode(), "filter file f.toml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("filter file f.toml")
    return message


def test_a_good_file_gives_its_rules_in_order() -> None:
    insults, invites, watch = parse_rules(EXAMPLE.encode())
    assert (insults.index, insults.name, insults.action) == (1, "insults", Action.REJECT)
    assert insults.phrases == (("idiot",), ("shut", "up"))  # keys, each once
    assert insults.targets == {Target.MESSAGES, Target.DIRECT_MESSAGES}
    assert insults.message == "please keep it civil"
    assert invites.pattern == r"discord\.gg/\w+" and invites.phrases == ()
    assert invites.targets == set(Target) and invites.message == DEFAULT_MESSAGE
    assert watch.action is Action.FLAG


def test_an_empty_file_has_no_rules() -> None:
    assert parse_rules(b"") == []
    assert parse_rules(b"# nothing yet\n") == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            '[[rule]]\nname = "a"\nwords = ["x"]\naction = "reject"\nwords2 = 1',
            "rule 1 ('a'): unknown key 'words2'",
        ),
        ('[[rule]]\nname = "a"\nwords = ["x"\naction = "mask"', "not valid TOML"),
        ('[[rule]]\nname = "a"\nwords = ["x"]\naction = "drop"', "rule 1 ('a'): action must be one of"),
        ('[[rule]]\nwords = ["x"]\naction = "mask"', "rule 1: needs a name"),
        ('[[rule]]\nname = "a"\naction = "mask"', "needs either words or a pattern"),
        ('[[rule]]\nname = "a"\nwords = ["x"]\npattern = "y"\naction = "mask"', "needs either words"),
        ('[[rule]]\nname = "a"\nwords = []\naction = "mask"', "words must be a non-empty list"),
        ('[[rule]]\nname = "a"\nwords = ["f*ck"]\naction = "mask"', "'f*ck' is not a word or phrase"),
        ('[[rule]]\nname = "a"\npattern = "(a"\naction = "mask"', "not one RE2 can use: missing )"),
        ('[[rule]]\nname = "a"\npattern = "(a+)+\\\\1"\naction = "mask"', "not one RE2 can use"),
        ('[[rule]]\nname = "a"\npattern = "x*"\naction = "mask"', "matches an empty text"),
        ("[[rule]]\nname = 'a'\npattern = '[\\p{L}]{500}'\naction = 'mask'", "pattern too large"),
        ('[[rule]]\nname = "a"\nwords = ["x"]\naction = "mask"\nmessage = "m"', "only a reject rule"),
        ('[[rule]]\nname = "a"\nwords = ["x"]\naction = "mask"\napplies_to = ["dms"]', "applies_to must"),
        ('[[rule]]\nname = "a"\nwords = ["x"]\naction = "mask"\n[[rule]]\nname = "a"\nwords = ["y"]\n'
         'action = "flag"', "rule 2: the name 'a' is used by an earlier rule"),
        ("rules = 1", "unknown key 'rules'"),
        ("rule = 1", "write each as [[rule]]"),
    ],
)
def test_a_bad_file_is_one_sentence_naming_the_rule(text: str, says: str) -> None:
    assert says in sentence(text)


def test_toml_errors_name_the_line() -> None:
    assert "line 3" in sentence('[[rule]]\nname = "a"\nwords = ["x" "y"]\naction = "mask"')


def test_limits() -> None:
    long_word = "w" * (WORD_MAX + 1)
    head = '[[rule]]\nname = "a"\naction = "mask"\n'
    assert "is not a word or phrase" in sentence(f'{head}words = ["{long_word}"]')
    long_pattern = "a" * (PATTERN_MAX + 1)
    assert "1 to 1000 characters" in sentence(f'{head}pattern = "{long_pattern}"')
    rule = '[[rule]]\nname = "r{0}"\nwords = ["w{0}"]\naction = "mask"\n'
    many = "".join(rule.format(i) for i in range(RULES_MAX + 1))
    assert f"at most {RULES_MAX}" in sentence(many)


def test_file_size_and_encoding(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (FILE_MAX + 1))
    with pytest.raises(FilterFileError, match="larger than 1024 KiB"):
        read_rules(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"# fine\n# caf\xe9\n")
    with pytest.raises(FilterFileError, match="line 2 is not UTF-8"):
        read_rules(latin)
    with pytest.raises(FilterFileError, match="cannot be read"):
        read_rules(tmp_path / "missing.toml")


def test_reload_keeps_the_old_rules_when_the_new_file_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "filters.toml"
    path.write_text(EXAMPLE)
    content = ContentFilter(path)
    assert content.reload() == 3
    path.write_text('[[rule]]\nname = "a"\npattern = "(a"\naction = "mask"')
    with pytest.raises(FilterFileError, match="rule 1"):
        content.reload()
    assert content.rule_count == 3
    assert content.screen(Target.MESSAGES, "you idiot").rejected is not None
    path.write_text("")
    assert content.reload() == 0
    assert not content.applies(Target.MESSAGES)


def test_reload_without_a_file_says_so() -> None:
    with pytest.raises(FilterFileError, match="no filter file is configured"):
        ContentFilter().reload()


# Any text thrown at the parser gives rules or a FilterFileError: never another exception.
_TOML_BITS = st.sampled_from(
    [
        "[[rule]]\n", 'name = "n"\n', 'name = "m"\n', 'words = ["a", "b c"]\n', "words = []\n",
        'words = "x"\n',
        "pattern = '(a|b)+'\n", "pattern = '('\n", 'action = "mask"\n', 'action = "reject"\n', "action = 3\n",
        'message = "no"\n', 'applies_to = ["topics"]\n', "applies_to = []\n", "[rule]\n", "x = 1\n", "= \n",
        '"\n', "[[rule.x]]\n",
    ]
)


@FAST
@given(st.lists(_TOML_BITS, max_size=12).map("".join) | st.text(max_size=200))
def test_the_parser_never_fails_other_than_with_a_sentence(text: str) -> None:
    try:
        rules = parse_rules(text.encode("utf-8", "surrogatepass"))
    except FilterFileError as error:
        assert "\n" not in str(error)
    else:
        assert len({rule.name for rule in rules}) == len(rules)
        for rule in rules:
            assert (rule.pattern is None) != (not rule.phrases)
