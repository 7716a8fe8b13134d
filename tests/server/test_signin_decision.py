"""The duplicate-login policy as a table: who is online, how the sign-in came, what happens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from chatapp.protocol import ErrorCode
from chatapp.server.services.signin import Verdict, already_signed_in, decide


@dataclass
class Online:
    """The account's session online now, as the hub hands it out."""

    session_id: int = 7
    user_id: int = 1
    username: str = "alice"
    endpoint: str = "192.0.2.1:4000"
    online_since: datetime = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)

    def deliver(self, data: bytes, message_id: int, parts: object, /) -> None:
        pass

    def displaced(self, *, same_session: bool) -> None:
        pass

    def closes_in(self) -> float | None:
        return self.silence_left

    silence_left: float | None = 41.2


SAME, OTHER, NEW = 7, 8, None
"""The session signing in: the one online, another one (a resume), or one not written yet (a login)."""


@pytest.mark.parametrize(
    ("policy", "session_id", "takeover", "verdict"),
    [
        ("reject", NEW, False, Verdict.REJECT),
        ("reject", NEW, True, Verdict.REPLACE),  # a password beats a token
        ("reject", OTHER, False, Verdict.REJECT),  # a resume never displaces another session
        ("reject", SAME, False, Verdict.HAND_OVER),  # the same session back before its old link died
        ("reject", SAME, True, Verdict.HAND_OVER),
        ("replace", NEW, False, Verdict.REPLACE),
        ("replace", OTHER, False, Verdict.REPLACE),
        ("replace", SAME, False, Verdict.HAND_OVER),
    ],
)
def test_a_sign_in_of_an_account_online_elsewhere(
    policy: str, session_id: int | None, takeover: bool, verdict: Verdict
) -> None:
    other = Online()
    decision = decide(policy, other, session_id, takeover=takeover)
    assert decision.verdict is verdict and decision.other is other


@pytest.mark.parametrize("policy", ["reject", "replace"])
@pytest.mark.parametrize("session_id", [NEW, OTHER])
def test_nobody_online_is_always_admitted(policy: str, session_id: int | None) -> None:
    decision = decide(policy, None, session_id, takeover=False)
    assert decision.verdict is Verdict.ADMIT and decision.other is None


def test_the_refusal_says_where_from_and_since_when() -> None:
    error = already_signed_in(Online())
    assert error.code is ErrorCode.ALREADY_LOGGED_IN
    assert "from 192.0.2.1:4000 since 2024-05-01T12:00:00.250Z" in error.message
    assert "takeover" in error.message
    assert error.retry_after == 42 and "if it is frozen, it ends within 42 s" in error.message
    console = already_signed_in(Online(silence_left=None))  # a session never closed for silence
    assert console.retry_after is None and "frozen" not in console.message
