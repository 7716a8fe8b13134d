"""The permission table, every action for every role, and the rule about targets."""

from __future__ import annotations

import itertools

import pytest

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.policy import (
    ALLOWED,
    AUTHOR_MAY,
    ON_A_USER,
    Action,
    Role,
    check,
    rank,
    roles_of,
)

M, OP, OWN, MOD, ADM, CON = Role.MEMBER, Role.OPERATOR, Role.OWNER, Role.MODERATOR, Role.ADMIN, Role.CONSOLE

# The expected table, written out by hand: who may take each action (besides the console,
# who may take every one). It is the documentation's table; the code's must match it.
EXPECTED: dict[Action, set[Role]] = {
    Action.SET_TOPIC: {OP, OWN, MOD, ADM},
    Action.KICK: {OP, OWN, MOD, ADM},
    Action.BAN: {OP, OWN, MOD, ADM},
    Action.UNBAN: {OP, OWN, MOD, ADM},
    Action.MUTE: {OP, OWN, MOD, ADM},
    Action.UNMUTE: {OP, OWN, MOD, ADM},
    Action.INVITE: {OP, OWN, MOD, ADM},
    Action.UNINVITE: {OP, OWN, MOD, ADM},
    Action.LIST_SANCTIONS: {OP, OWN, MOD, ADM},
    Action.DELETE_MESSAGE: {OP, OWN, MOD, ADM},
    Action.OP: {OWN, ADM},
    Action.DEOP: {OWN, ADM},
    Action.TRANSFER: {OWN, ADM},
    Action.ROOM_MODE: {OWN, ADM},
    Action.DELETE_ROOM: {OWN, MOD, ADM},
    Action.SEE_PRIVATE_ROOMS: {MOD, ADM},
    Action.SUSPEND: {MOD, ADM},
    Action.UNSUSPEND: {MOD, ADM},
    Action.SERVER_MUTE: {MOD, ADM},
    Action.SERVER_UNMUTE: {MOD, ADM},
    Action.DISCONNECT: {MOD, ADM},
    Action.USER_SESSIONS: {MOD, ADM},
    Action.LIST_USERS: {MOD, ADM},
    Action.BAN_ADDRESS: {MOD, ADM},
    Action.UNBAN_ADDRESS: {MOD, ADM},
    Action.LIST_ADDRESS_BANS: {MOD, ADM},
    Action.READ_AUDIT: {ADM},
    Action.PROMOTE: {ADM},
    Action.RESET_PASSWORD: {ADM},
    Action.RELOAD_FILTERS: {ADM},
}


def test_the_table_covers_every_action() -> None:
    assert set(ALLOWED) == set(Action) == set(EXPECTED)


@pytest.mark.parametrize(("action", "role"), list(itertools.product(Action, Role)))
def test_every_action_for_every_role(action: Action, role: Role) -> None:
    may = role in EXPECTED[action] or role is CON
    if may:
        check(action, {role})
    else:
        with pytest.raises(ProtocolError) as refused:
            check(action, {role})
        assert refused.value.code is ErrorCode.FORBIDDEN
        assert "you may not" in refused.value.message


@pytest.mark.parametrize("action", list(Action))
def test_any_of_the_roles_counts(action: Action) -> None:
    """A moderator who owns a room may do there what an owner may, and the reverse."""
    expected = bool(EXPECTED[action] & {MOD, OWN})
    if expected:
        check(action, roles_of("moderator", "owner"))
    else:
        with pytest.raises(ProtocolError):
            check(action, roles_of("moderator", "owner"))


def test_only_removing_a_message_is_open_to_its_author() -> None:
    assert AUTHOR_MAY == {Action.DELETE_MESSAGE}
    check(Action.DELETE_MESSAGE, {M}, author=True)
    for action in set(Action) - AUTHOR_MAY:
        if M not in EXPECTED[action]:
            with pytest.raises(ProtocolError):
                check(action, {M}, author=True)


@pytest.mark.parametrize(
    ("actor", "target", "may"),
    [
        ({OP}, {M}, True),
        ({OP}, {OP}, False),  # operators do not act on each other
        ({OP}, {OWN}, False),  # a room operator trying to act on the owner
        ({OWN}, {OP}, True),
        ({OWN}, {MOD}, False),  # server staff outrank room roles
        ({MOD}, {OWN}, True),
        ({MOD}, {ADM}, False),  # a moderator acting on an admin
        ({MOD}, {MOD}, False),
        ({ADM}, {MOD}, True),
        ({ADM}, {ADM}, False),  # only the console demotes an admin
        ({CON}, {ADM}, True),
        ({M, OWN}, {M, OP}, True),
        ({M, OP}, {MOD, M}, False),
    ],
)
def test_the_actor_must_outrank_the_target(actor: set[Role], target: set[Role], may: bool) -> None:
    for action in ON_A_USER:
        if not any(role in EXPECTED[action] or role is CON for role in actor):
            continue  # refused by the table, tested above
        if may:
            check(action, actor, target=target)
        else:
            with pytest.raises(ProtocolError) as refused:
                check(action, actor, target=target)
            assert refused.value.code is ErrorCode.FORBIDDEN
            assert "equal to or above yours" in refused.value.message


def test_nobody_acts_on_themselves() -> None:
    with pytest.raises(ProtocolError, match="yourself"):
        check(Action.KICK, {ADM}, target={M}, self_target=True)


def test_actions_not_on_a_user_ignore_the_target() -> None:
    check(Action.TRANSFER, {OWN}, target={MOD})  # an owner may hand a room to a moderator
    check(Action.INVITE, {OP}, target={ADM})


def test_stored_roles() -> None:
    assert roles_of("admin", "operator") == {ADM, OP}
    assert roles_of("user") == {M}
    assert roles_of("no such role", "nor this") == {M}  # an unknown stored role grants nothing
    assert rank(roles_of("moderator", "owner")) is MOD
