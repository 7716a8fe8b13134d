"""Signing in and out: register, login, resume, quit; and the frames any state accepts."""

from __future__ import annotations

from chatapp.protocol import ByeReason, Login, Ping, Pong, Quit, Register, Resume
from chatapp.protocol.frame_base import Ref
from chatapp.server import activity
from chatapp.server.services import Services
from chatapp.server.services.signin import Opened
from chatapp.server.session import Goodbye, Peer


async def on_register(peer: Peer, frame: Register, services: Services) -> None:
    user = await services.credentials.register(frame.username, frame.password, peer.address)
    opened = await services.signin.open_session(peer, user, new_account=True, takeover=False)
    await _sign_in(peer, services, opened, frame.ref, "register", takeover=False)


async def on_login(peer: Peer, frame: Login, services: Services) -> None:
    takeover = bool(frame.takeover)
    user = await services.credentials.login(frame.username, frame.password, peer.address)
    opened = await services.signin.open_session(peer, user, new_account=False, takeover=takeover)
    await _sign_in(peer, services, opened, frame.ref, "login", takeover=takeover)


async def on_resume(peer: Peer, frame: Resume, services: Services) -> None:
    opened = await services.signin.resume(peer, frame.token, frame.last_id)
    await _sign_in(peer, services, opened, frame.ref, "resume", takeover=False)


async def _sign_in(
    peer: Peer, services: Services, opened: Opened, ref: Ref, event: str, *, takeover: bool
) -> None:
    """Go online and catch up; live deliveries wait until the client has what it missed."""
    signin = services.signin
    session = await signin.admit(peer, opened, takeover=takeover)
    async with session.holding_live():
        if signin.go_online(session, ref, event):
            await services.replay.after_sign_in(session, opened.replay_after)


async def on_quit(peer: Peer, frame: Quit, services: Services) -> Goodbye:
    session = peer.session
    if session is not None:
        activity.record("logout", user=session.username, addr=peer.endpoint)
        await services.messaging.settle(session)  # the messages sent just before are acknowledged first
    return Goodbye(ByeReason.QUIT, "quit", revoke=True)


async def on_ping(peer: Peer, frame: Ping, services: Services) -> None:
    peer.send(Pong(ref=frame.ref))


async def on_pong(peer: Peer, frame: Pong, services: Services) -> None:
    pass  # any traffic counts as alive; it was noted when the bytes arrived
