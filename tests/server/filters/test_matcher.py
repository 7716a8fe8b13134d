"""The matcher: words and phrases, patterns, masks, and decisions agreeing with a naive reference."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.server.filters import Action, ContentFilter, Rule, Target
from chatapp.server.filters.matcher import mask

FAST = settings(max_examples=300, deadline=None, database=None)


def rule(
    index: int, action: Action, *words: str, pattern: str | None = None, targets: set[Target] | None = None
) -> Rule:
    return Rule(
        index=index,
        name=f"r{index}",
        action=action,
        targets=frozenset(targets or Target),
        message=f"refused by r{index}",
        phrases=tuple(tuple(part.casefold() for part in word.split()) for word in words),
        pattern=pattern,
    )


def screen(
    rules: list[Rule], text: str, target: Target = Target.MESSAGES
) -> tuple[str, str | None, tuple[str, ...]]:
    verdict = ContentFilter(rules=rules).screen(target, text)
    return verdict.text, verdict.rejected.name if verdict.rejected else None, verdict.flagged


def test_words_are_whole_words_any_case() -> None:
    rules = [rule(1, Action.MASK, "cat", "Straße")]
    assert screen(rules, "Cat, CAT! cat's concatenate") == ("***, ***! ***'s concatenate", None, ())
    # Unicode case folding: ß folds to ss, so STRASSE and straße are one word.
    assert screen(rules, "STRASSE straße Strasse") == ("*** *** ***", None, ())
    # NFKC: full-width letters are the same word.
    assert screen(rules, "ｃａｔ") == ("***", None, ())
    assert screen(rules, "katze") == ("katze", None, ())


def test_phrases_match_words_separated_by_white_space_only() -> None:
    rules = [rule(1, Action.MASK, "shut up")]
    assert screen(rules, "oh SHUT \t up now") == ("oh *** now", None, ())
    assert screen(rules, "shut, up") == ("shut, up", None, ())
    assert screen(rules, "shut") == ("shut", None, ())


def test_reject_wins_and_the_first_reject_rule_in_the_file_speaks() -> None:
    rules = [rule(1, Action.FLAG, "spam"), rule(2, Action.MASK, "eggs"), rule(3, Action.REJECT, "ham"),
             rule(4, Action.REJECT, "bacon", "spam and ham")]
    assert screen(rules, "spam and ham") == ("spam and ham", "r3", ())
    assert screen(rules, "spam and eggs") == ("spam and ***", None, ("r1",))


def test_patterns_mask_every_match_and_ignore_case() -> None:
    rules = [rule(1, Action.MASK, pattern=r"discord\.gg/\w+"), rule(2, Action.FLAG, pattern=r"\d{3}-\d{4}")]
    assert screen(rules, "join DISCORD.gg/abc or discord.gg/xyz") == ("join *** or ***", None, ())
    assert screen(rules, "call 555-1234") == ("call 555-1234", None, ("r2",))
    # (?-i) turns case back on inside a pattern.
    assert screen([rule(1, Action.REJECT, pattern=r"(?-i)ABC")], "abc") == ("abc", None, ())
    assert screen([rule(1, Action.REJECT, pattern=r"(?-i)ABC")], "xABC")[1] == "r1"


def test_only_a_non_empty_match_is_a_hit() -> None:
    rules = [rule(1, Action.REJECT, pattern=r"\b"), rule(2, Action.FLAG, pattern=r"(?:spam)?\b")]
    assert screen(rules, "a perfectly fine text") == ("a perfectly fine text", None, ())
    assert screen(rules, "spam") == ("spam", None, ("r2",))


def test_a_pattern_cannot_hang_the_matcher() -> None:
    # Catastrophic for a backtracking engine (2**n steps); RE2 is linear.
    rules = [rule(1, Action.REJECT, pattern=r"(a+)+$b|(x+x+)+y")]
    content = ContentFilter(rules=rules)
    assert content.screen(Target.MESSAGES, "a" * 4000 + "!").rejected is None
    assert content.screen(Target.MESSAGES, "x" * 4000).rejected is None


def test_rules_apply_only_to_their_kinds_of_text() -> None:
    rules = [rule(1, Action.REJECT, "secret", targets={Target.TOPICS, Target.PROFILE})]
    content = ContentFilter(rules=rules)
    assert content.applies(Target.TOPICS) and not content.applies(Target.MESSAGES)
    assert content.screen(Target.MESSAGES, "secret").rejected is None
    assert content.screen(Target.TOPICS, "secret").rejected is not None


def test_overlapping_and_adjacent_masks_merge() -> None:
    assert mask("abcdef", [(1, 3), (2, 4)]) == "a***ef"
    assert mask("abcdef", [(0, 2), (2, 3)]) == "***def"
    assert mask("abcdef", [(4, 6), (0, 1)]) == "***bcd***"
    assert mask("abc", []) == "abc"


# -- against a naive reference -------------------------------------------------------------------

VOCABULARY = ["cat", "dog", "Straße", "strasse", "ＣＡＴ", "idiot", "x_1", "café", "CAFÉ", "é"]
words = st.sampled_from(VOCABULARY)
phrases = st.lists(words, min_size=1, max_size=3).map(" ".join)
separators = st.sampled_from([" ", "  ", ", ", "\t", "-", "'", "", "!", " *** "])
texts = st.lists(st.tuples(words | st.text(max_size=4), separators), max_size=12).map(
    lambda parts: "".join(word + sep for word, sep in parts)
)


def key(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold()


def naive_hits(phrase: str, text: str) -> bool:
    """Whether the phrase's words occur in the text consecutively, apart only by white space."""
    wanted = [key(part) for part in phrase.split()]
    found = list(re.finditer(r"\w+", text))
    for i in range(len(found) - len(wanted) + 1):
        window = found[i : i + len(wanted)]
        if [key(m.group()) for m in window] == wanted and all(
            text[a.end() : b.start()].isspace() for a, b in zip(window, window[1:], strict=False)
        ):
            return True
    return False


rule_specs = st.lists(
    st.tuples(st.sampled_from(list(Action)), st.lists(phrases, min_size=1, max_size=3)),
    min_size=1,
    max_size=4,
)


def build(specs: list[tuple[Action, list[str]]]) -> list[Rule]:
    return [
        Rule(i, f"r{i}", action, frozenset(Target), "no", tuple(tuple(map(key, w.split())) for w in entries))
        for i, (action, entries) in enumerate(specs, start=1)
    ]


@FAST
@given(rule_specs, texts)
def test_decisions_agree_with_the_naive_reference(specs: list[tuple[Action, list[str]]], text: str) -> None:
    rules = build(specs)
    verdict = ContentFilter(rules=rules).screen(Target.MESSAGES, text)
    hit = [any(naive_hits(entry, text) for entry in entries) for _, entries in specs]
    rejecting = [r for r, h in zip(rules, hit, strict=True) if h and r.action is Action.REJECT]
    if rejecting:
        assert verdict.rejected == rejecting[0]
        return
    assert verdict.rejected is None
    flagging = [r.name for r, h in zip(rules, hit, strict=True) if h and r.action is Action.FLAG]
    assert verdict.flagged == tuple(flagging)
    masked = any(h and r.action is Action.MASK for r, h in zip(rules, hit, strict=True))
    assert (verdict.text != text) == masked


@FAST
@given(rule_specs, texts)
def test_a_mask_never_leaves_a_matched_word(specs: list[tuple[Action, list[str]]], text: str) -> None:
    specs = [(Action.MASK, entries) for _, entries in specs]
    verdict = ContentFilter(rules=build(specs)).screen(Target.MESSAGES, text)
    for _, entries in specs:
        for entry in entries:
            assert not naive_hits(entry, verdict.text), (entry, verdict.text)
    # Masking again changes nothing, and what was not masked is kept as it was.
    assert ContentFilter(rules=build(specs)).screen(Target.MESSAGES, verdict.text).text == verdict.text
    # What is not masked is the text's own, in order.
    position = 0
    for piece in verdict.text.split("***"):
        found = text.find(piece, position)
        assert found >= position, (piece, text)
        position = found + len(piece)
