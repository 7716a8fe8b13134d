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
from chatapp.server.ratelimit import TokenBucket
from chatapp.server.replay_budget import ReplayBudget
from chatapp.server.session import Budgets, KeyBudgets, Session
from chatapp.server.throttles import ROOM_CREATION_WINDOW, Counted, Counters

__all__ = ["ROOM_CREATION_WINDOW", "Limits"]

# End-to-end encryption's requests, per connection (docs/protocol.md): a client publishes keys when
# it starts and tops them up now and then; it claims a key and lists devices per new conversation.
PUBLISH_KEYS_PER_MINUTE = 10
CLAIMS_PER_MINUTE = 60
DEVICE_LISTS_PER_MINUTE = 60
KEY_REQUESTS = ("publish", "claim", "devices")


class Limits:
    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = monotonic,
        mutes: AccountSanctions | None = None,
        counters: Counters | None = None,
    ) -> None:
        """``mutes``: the server-wide mutes in force (kept up to date by the administration);
        ``counters``: where room creations are counted (this process alone unless given: the app
        gives the ones shared by every process with ``--redis-url``)."""
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
        self._room_creations = (counters if counters is not None else Counters(config, clock)).room_creations
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

    def check_keys(self, session: Session, request: str) -> None:
        """For an end-to-end encryption request (one of :data:`KEY_REQUESTS`): the connection's rate."""
        keys = session.budgets.keys
        if keys is None:
            now = self._clock()
            keys = session.budgets.keys = KeyBudgets(
                publish=TokenBucket(PUBLISH_KEYS_PER_MINUTE / 60, PUBLISH_KEYS_PER_MINUTE, now),
                claim=TokenBucket(CLAIMS_PER_MINUTE / 60, CLAIMS_PER_MINUTE, now),
                devices=TokenBucket(DEVICE_LISTS_PER_MINUTE / 60, DEVICE_LISTS_PER_MINUTE, now),
            )
        bucket = {"publish": keys.publish, "claim": keys.claim, "devices": keys.devices}[request]
        self._take(bucket, f"too many {request} requests; slow down")

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

    async def reserve_room_creation(self, session: Session) -> Counted:
        """Before a join that would create the room: counted now (so concurrent joins, on any
        process, cannot all pass), cancelled if the room turned out not to be new."""
        counted = await self._room_creations.reserve(str(session.user_id))
        if isinstance(counted, float):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                "you have created many rooms lately; wait a while",
                retry_after=round(counted),
            )
        return counted

    async def room_not_created(self, counted: Counted) -> None:
        await self._room_creations.cancel(counted)

    # -- replays ---------------------------------------------------------------

    def grant_replay(self, session: Session) -> int:
        """How many missed messages one replay may send: ``--replay-max``, or less if the account's
        replay budget is running low. Taken from the budget now; give back what is not sent."""
        return self._replay.take(session.user_id, self._config.replay_max)

    def unused_replay(self, session: Session, unused: int) -> None:
        """Give back what a replay was granted and did not send."""
        self._replay.give_back(session.user_id, unused)
