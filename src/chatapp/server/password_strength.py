"""Password strength with zxcvbn: a score from 0 (guessed at once) to 4, and what to do about it.

zxcvbn estimates how many guesses a password would take against dictionaries
(common passwords, names, English words), keyboard walks, dates, repeats and
sequences, and the user's own inputs (the username). It is pure Python and
CPU-bound, and its cost grows with the length: about 1 ms for a typical
password, 75 ms for 100 repeated characters. So it only ever sees the first
``MEASURED_MAX`` characters (a longer password is at least as strong as its
start), and the server runs it in the password executor, off the event loop
(:meth:`chatapp.server.passwords.PasswordHashing.compute`).

zxcvbn keeps the user inputs of a call in a module-global dictionary, so two
threads measuring at once could see each other's; calls are serialised.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zxcvbn import zxcvbn

MEASURED_MAX = 100
"""Characters of a password zxcvbn sees."""
SCORE_MAX = 4

_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True, slots=True)
class Strength:
    score: int
    """0 (too guessable) to 4 (very unguessable)."""
    warning: str
    suggestions: tuple[str, ...]

    def advice(self) -> str:
        """zxcvbn's warning and suggestions as sentences, or a general hint when it has none."""
        parts = [self.warning, *self.suggestions]
        text = " ".join(part for part in parts if part)
        return text or "Add another word or two. Uncommon words are better."


def measure(password: str, user_inputs: Sequence[str] = ()) -> Strength:
    """How strong ``password`` is (its first ``MEASURED_MAX`` characters); CPU work: call it in an
    executor."""
    with _ONE_AT_A_TIME:
        result: dict[str, Any] = zxcvbn(
            password[:MEASURED_MAX], user_inputs=list(user_inputs), max_length=MEASURED_MAX
        )
    feedback = result.get("feedback") or {}
    return Strength(
        score=int(result["score"]),
        warning=str(feedback.get("warning") or ""),
        suggestions=tuple(str(s) for s in feedback.get("suggestions") or ()),
    )


def too_weak(strength: Strength, minimum: int) -> str | None:
    """The sentence a ``weak_password`` error gives, or None if the password is strong enough."""
    if strength.score >= minimum:
        return None
    return (
        f"this password is too easy to guess (strength {strength.score} of {SCORE_MAX}; "
        f"{minimum} is needed). {strength.advice()}"
    )
