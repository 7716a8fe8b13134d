"""zxcvbn's measure and the sentence of a weak password."""

from __future__ import annotations

from chatapp.server.password_strength import MEASURED_MAX, Strength, measure, too_weak


def test_scores_and_advice() -> None:
    weak = measure("password")
    assert weak.score == 0
    assert weak.warning == "This is a top-10 common password."
    strong = measure("correct horse battery")
    assert strong.score == 4 and too_weak(strong, 3) is None
    reason = too_weak(weak, 3)
    assert reason is not None
    assert reason.startswith("this password is too easy to guess (strength 0 of 4; 3 is needed).")
    assert "top-10 common password" in reason and "Add another word or two" in reason


def test_the_username_counts_against_the_password() -> None:
    assert measure("wolfgangamadeus7", ("wolfgangamadeus7",)).score < measure("wolfgangamadeus7").score


def test_only_the_first_hundred_characters_are_measured() -> None:
    # 100 repeated letters score low; what follows them is not seen, however strong.
    assert measure("a" * MEASURED_MAX + "Qv7#tR!x9@LmZ$2pWk").score == measure("a" * MEASURED_MAX).score
    assert measure("b" * 5000).score <= 1  # a long password is measured, not refused by zxcvbn


def test_a_strength_without_feedback_still_says_what_to_do() -> None:
    reason = too_weak(Strength(score=2, warning="", suggestions=()), 4)
    assert reason is not None and reason.endswith("Add another word or two. Uncommon words are better.")
    assert too_weak(Strength(score=0, warning="", suggestions=()), 0) is None
