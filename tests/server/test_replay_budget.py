"""The per-account replay budget: a token bucket of replayed messages, refilled over an hour."""

from __future__ import annotations

import pytest

from chatapp.server.replay_budget import REFILL_SECONDS, ReplayBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_replays_take_from_the_accounts_bucket_and_give_back_what_they_did_not_send() -> None:
    clock = Clock()
    budget = ReplayBudget(10, clock)
    assert budget.take(1, 6) == 6
    assert budget.take(1, 10) == 4  # what is left
    assert budget.take(1, 10) == 0
    assert budget.take(2, 10) == 10  # another account has its own
    budget.give_back(1, 3)
    assert budget.take(1, 10) == 3
    clock.now += REFILL_SECONDS / 10  # a tenth of the hour: a tenth of the budget
    assert budget.take(1, 10) == 1
    clock.now += 10 * REFILL_SECONDS
    assert budget.take(1, 100) == 10  # never more than the budget, however long the pause


def test_giving_back_never_exceeds_the_budget() -> None:
    budget = ReplayBudget(5, Clock())
    budget.give_back(1, 100)
    assert budget.take(1, 100) == 5


def test_a_budget_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        ReplayBudget(0)
