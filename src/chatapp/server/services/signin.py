"""Signing in and out: sessions opened, resumed and ended, and the duplicate-login policy.

One account is online through one session at a time. When a sign-in finds its
account online already, :func:`decide` says what happens, from the policy
(``--duplicate-login``), who is online and how the sign-in came: admitted,
rejected (``already_logged_in``, saying where from and since when), the other
session replaced (``replace``, or a password login with ``takeover``: a
password beats a token), or the same session handed over to its new link (a
resume before the old link was noticed dead). Nothing else looks at another
session's connection.

Whether the account is online is looked at three times: before the session row
is written, after it (the write awaited the database), and last right before the
session goes online with nothing awaited in between (many resumes of one
account batched into one transaction all pass the first look).
"""

from __future__ import annotations

import enum
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from chatapp.clock import utc_now, wire_timestamp
from chatapp.protocol import AuthOk, ErrorCode, ProtocolError
from chatapp.protocol.frame_base import Ref
from chatapp.server import activity
from chatapp.server.config import Config
from chatapp.server.hub import Hub, Member
from chatapp.server.services.credentials import Credentials, token_digest
from chatapp.server.services.limits import Limits
from chatapp.server.session import Peer, Session, SignedIn
from chatapp.server.store import Store, UserRecord

log = logging.getLogger("chatapp.signin")


class Verdict(enum.Enum):
    ADMIT = "admit"
    """Nobody is online with this account."""
    REJECT = "reject"
    """Another session is online and the policy keeps it."""
    REPLACE = "replace"
    """Another session is online and goes (policy ``replace``, or a login with ``takeover``)."""
    HAND_OVER = "hand_over"
    """The same session is online through an older link: the new link takes it over."""


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    other: Member | None = None
    """The session online already, unless admitted."""


def decide(policy: str, other: Member | None, session_id: int | None, *, takeover: bool) -> Decision:
    """What a sign-in of an account does when ``other`` is the account's session online (if any).

    ``session_id``: the session signing in (None before its row exists);
    ``takeover``: a password login that asked to end the other session.
    """
    if other is None:
        return Decision(Verdict.ADMIT)
    if session_id is not None and other.session_id == session_id:
        return Decision(Verdict.HAND_OVER, other)
    if takeover or policy == "replace":
        return Decision(Verdict.REPLACE, other)
    return Decision(Verdict.REJECT, other)


def already_signed_in(other: Member) -> ProtocolError:
    """The refusal: where the account is signed in and since when, and (``retry_after``) how long that
    session lasts at most if its client is frozen (only someone who gave the account's password or a
    token of it gets this far)."""
    left = other.closes_in()
    frozen = f"; if it is frozen, it ends within {math.ceil(left)} s" if left is not None else ""
    return ProtocolError(
        ErrorCode.ALREADY_LOGGED_IN,
        f"this account is already signed in elsewhere from {other.endpoint} "
        f"since {wire_timestamp(other.online_since)}{frozen}; quit there, "
        "or log in with takeover to end that session",
        retry_after=math.ceil(left) if left is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Opened:
    """A sign-in whose session row is written: who, the user's rooms (name to id), and where
    the replay starts (None: a new account, which gets recent context instead)."""

    signed: SignedIn
    rooms: dict[str, int]
    replay_after: int | None


class SignIn:
    def __init__(
        self, config: Config, store: Store, hub: Hub, credentials: Credentials, limits: Limits
    ) -> None:
        self._config = config
        self._store = store
        self._hub = hub
        self._credentials = credentials
        self._limits = limits

    def _look(self, user_id: int, session_id: int | None, *, takeover: bool) -> Decision:
        """Decide, and refuse on ``reject``."""
        decision = decide(
            self._config.duplicate_login, self._hub.online(user_id), session_id, takeover=takeover
        )
        if decision.verdict is Verdict.REJECT:
            assert decision.other is not None
            raise already_signed_in(decision.other)
        if decision.verdict is Verdict.ADMIT and self._config.duplicate_login == "reject" and not takeover:
            # Online through another process (--redis-url): the same refusal, from what is shared.
            remote = self._hub.elsewhere(user_id)
            if remote is not None and remote != session_id:
                raise ProtocolError(
                    ErrorCode.ALREADY_LOGGED_IN,
                    "this account is already signed in elsewhere; quit there, "
                    "or log in with takeover to end that session",
                )
        return decision

    async def open_session(
        self, peer: Peer, user: UserRecord, *, new_account: bool, takeover: bool
    ) -> Opened:
        """A new session for ``user``, whose credentials were checked."""
        self._look(user.id, None, takeover=takeover)
        token = secrets.token_urlsafe(32)
        now = utc_now()
        expires = now + timedelta(seconds=self._config.session_ttl)
        opened = await self._store.sign_in(user.id, token_digest(token), peer.endpoint, now, expires)
        signed = SignedIn(user.id, user.username, user.role, opened.session.id, token)
        try:
            # Another sign-in of this account may have come online while we awaited the database.
            decision = self._look(user.id, signed.session_id, takeover=takeover)
        except ProtocolError:
            await self.end_session(signed.session_id, "rejected", revoke=True)
            raise
        if decision.verdict is Verdict.REPLACE:
            assert decision.other is not None
            # Revoke the old session's token before we go online, so that its client cannot
            # resume in the meantime and bounce this one out.
            await self.end_session(decision.other.session_id, "replaced", revoke=True)
            if takeover:
                activity.record(
                    "takeover", user=user.username, addr=peer.endpoint, replaced=decision.other.session_id
                )
        # A login replays from the highest id the user was handed before (stored when their last
        # session ended, or still in the hub's memory if that end is not written yet).
        replay_after = None if new_account else max(opened.seen_message_id, self._hub.seen(user.id))
        return Opened(signed, {room.name: room.id for room in opened.rooms}, replay_after)

    async def resume(self, peer: Peer, token: str, last_id: int | None) -> Opened:
        """Re-open the session a resume token belongs to; the replay starts after ``last_id``
        (None: after what the session's user was last handed)."""
        signed = await self._credentials.check_token(token, peer.address)
        self._look(signed.user_id, signed.session_id, takeover=False)
        rooms = await self._store.reopen_session_with_rooms(signed.session_id, peer.endpoint, utc_now())
        if rooms is None:
            # Its token was revoked (a quit, a takeover, ended by its user) after the check above.
            raise ProtocolError(ErrorCode.INVALID_TOKEN, "that session has expired or ended; log in again")
        after = last_id
        if after is None:
            after = max(await self._store.seen_message_id(signed.user_id), self._hub.seen(signed.user_id))
        return Opened(signed, {room.name: room.id for room in rooms}, after)

    async def admit(self, peer: Peer, opened: Opened, *, takeover: bool) -> Session:
        """The last look before going online: the session, not online yet, or the refusal.

        Nothing may be awaited between this and :meth:`go_online`.
        """
        signed = opened.signed
        try:
            # Suspended while the sign-in awaited the database: refused like any suspended sign-in.
            self._credentials.check_not_suspended(signed.user_id, peer.address)
            self._look(signed.user_id, signed.session_id, takeover=takeover)
        except ProtocolError:
            # A new session dies with its token; a resumed one goes back to waiting for its client.
            await self.end_session(signed.session_id, "rejected", revoke=signed.token is not None)
            raise
        return Session(
            peer, signed, opened.rooms, self._limits.budgets(), utc_now(), self._config.send_queue_limit
        )

    def go_online(self, session: Session, ref: Ref, event: str) -> bool:
        """Answer ``auth_ok`` and put the session online, displacing the account's other session,
        if any. False if the client left meanwhile (its session is ended when its link closes)."""
        peer = session.peer
        peer.session = session
        if peer.closing:
            return False
        peer.signed_in(AuthOk(username=session.username, token=session.identity.token or "", ref=ref))
        previous = self._hub.attach(session, session.room_ids)
        if previous is not None and previous is not session:
            previous.displaced(same_session=previous.session_id == session.session_id)
        # Online through another process too (a replace, a takeover, a resume there): that one closes.
        self._hub.displace_elsewhere(session.user_id, session.session_id)
        activity.record(event, user=session.username, addr=peer.endpoint, session=session.session_id)
        return True

    async def sign_out(self, session: Session, reason: str, *, revoke: bool) -> None:
        """The session's link closed: take it offline and end its row with its seen cursor."""
        if session.handed_over:
            return  # the session lives on through its new link
        hub = self._hub
        user_id = session.user_id
        delivered = max(session.delivered_id, hub.last_delivered(user_id))
        hub.note_seen(user_id, delivered)
        hub.detach(session)
        try:
            # One write for both: the store batches many sessions' ends into one transaction, so
            # thousands leaving at once (or a shutdown) cost a few commits.
            await self.end_session(session.session_id, reason, revoke=revoke, seen_message_id=delivered)
            hub.forget_seen(user_id, delivered)
        except Exception:
            log.exception("could not end session %s", session.session_id)

    async def end_session(
        self, session_id: int, reason: str, *, revoke: bool, seen_message_id: int = 0
    ) -> None:
        """End a session's row; with ``seen_message_id``, record what its user was handed."""
        await self._store.end_session(
            session_id, reason, utc_now(), revoke=revoke, seen_message_id=seen_message_id
        )
