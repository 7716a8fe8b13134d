"""What a signed-in user may do, and how often: every rate limit and rule, checked in one place.

Handlers and services ask here before they act; a moderator's rules (mutes,
bans, roles) extend this module rather than spread through the handlers. Login
and registration throttles are the sign-in's own (:mod:`.credentials`), as they
apply before anyone is signed in.

Pure bookkeeping over a clock that is passed in, so tests drive it with made-up times.
"""

from __future__ import annotations

from collections.abc import Callable

from chatapp.clock import monotonic, utc_now
from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.account_sanctions import AccountSanctions, described, until_of
from chatapp.server.config import Config
from chatapp.server.flood import FloodGuard
from chatapp.server.ratelimit import TokenBucket, WindowCounter
from chatapp.server.replay_budget import ReplayBudget
from chatapp.server.session import Budgets, Session
from chatapp.server.store import RoomRecord

ROOM_CREATION_WINDOW = 3600.0


class Limits:
    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = monotonic,
        mutes: AccountSanctions | None = None,
    ) -> None:
        """``mutes``: the server-wide mutes in force (kept up to date by the administration)."""
        self._config = config
        self._clock = clock
        self._mutes = mutes if mutes is not None else AccountSanctions()
        self._flood = FloodGuard(
            repeat_limit=config.repeat_limit,
            repeat_window=config.repeat_window,
            rate=config.resolved_account_send_rate,
            burst=config.resolved_account_send_burst,
            clock=clock,
        )
        self._room_creations = WindowCounter(config.room_creations_per_hour, ROOM_CREATION_WINDOW)
        self._replay = ReplayBudget(config.replay_budget, clock)

    def budgets(self) -> Budgets:
        """A new session's own budgets, full."""
        config, now = self._config, self._clock()
        return Budgets(
            send=TokenBucket(config.send_rate, config.send_burst, now),
            status=TokenBucket(config.status_rate, config.status_burst, now),
        )

    # -- per session -----------------------------------------------------------

    def check_send(self, session: Session) -> None:
        """For a message to a room or a person: the account is not muted server-wide (in memory),
        and the connection's rate."""
        if self._mutes:
            mute = self._mutes.get(session.user_id, utc_now())
            if mute is not None:
                sentence = f"you are {described(mute, 'muted on this server')}"
                raise ProtocolError(ErrorCode.MUTED, sentence, until=until_of(mute))
        self._take(session.budgets.send, "you are sending too fast; slow down")

    def check_flood(self, session: Session, text: str) -> None:
        """For a message's text, over every connection of the account: the same text again and again,
        and the account's own rate (:mod:`chatapp.server.flood`)."""
        self._flood.check(session.user_id, text)

    def check_status(self, session: Session) -> None:
        """For a join, leave, away/back or topic: each is announced to whole rooms."""
        self._take(session.budgets.status, "you are joining, leaving or changing status too fast; slow down")

    def _take(self, bucket: TokenBucket, message: str) -> None:
        wait = bucket.take(self._clock())
        if wait:
            raise ProtocolError(ErrorCode.RATE_LIMITED, message, retry_after=round(wait, 3))

    # -- rooms -----------------------------------------------------------------

    def check_room_count(self, session: Session) -> None:
        """Before joining one more room."""
        count = len(session.room_ids)
        if count >= self._config.max_rooms_per_user:
            raise ProtocolError(
                ErrorCode.TOO_MANY_ROOMS, f"you are in {count} rooms, the most allowed; leave one first"
            )

    def check_room_creation(self, session: Session) -> None:
        """Before a join that would create the room."""
        wait = self._room_creations.retry_after(str(session.user_id), self._clock())
        if wait:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                "you have created many rooms lately; wait a while",
                retry_after=round(wait),
            )

    def room_created(self, session: Session) -> None:
        self._room_creations.add(str(session.user_id), self._clock())

    def check_topic(self, session: Session, room: RoomRecord) -> None:
        """Who may set a room's topic: its owner."""
        if room.owner_id != session.user_id:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"only the owner of {room.name!r} can set its topic")

    # -- replays ---------------------------------------------------------------

    def grant_replay(self, session: Session) -> int:
        """How many missed messages one replay may send: ``--replay-max``, or less if the account's
        replay budget is running low. Taken from the budget now; give back what is not sent."""
        return self._replay.take(session.user_id, self._config.replay_max)

    def unused_replay(self, session: Session, unused: int) -> None:
        """Give back what a replay was granted and did not send."""
        self._replay.give_back(session.user_id, unused)
