"""Server moderation and administration over the protocol: ``admin``, ``user_sessions``, ``users``,
``address_bans``, ``audit``. Each asks the administration service, which decides (through the
permission table), acts and audits; the handler only answers."""

from __future__ import annotations

from chatapp.protocol.moderation_frames import Admin, ListAddressBans, ListUsers, ReadAudit, UserSessions
from chatapp.server.services import Services
from chatapp.server.services.administration import Actor
from chatapp.server.session import Session


async def on_admin(session: Session, frame: Admin, services: Services) -> None:
    done = await services.administration.perform(Actor.of(session), frame)
    session.send(done)


async def on_user_sessions(session: Session, frame: UserSessions, services: Services) -> None:
    answer = await services.administration.user_sessions(Actor.of(session), frame.user, ref=frame.ref)
    session.send(answer)


async def on_users(session: Session, frame: ListUsers, services: Services) -> None:
    answer = await services.administration.users(
        Actor.of(session), query=frame.query, after=frame.after, limit=frame.limit, ref=frame.ref
    )
    session.send(answer)


async def on_address_bans(session: Session, frame: ListAddressBans, services: Services) -> None:
    session.send(await services.administration.address_bans(Actor.of(session), ref=frame.ref))


async def on_audit(session: Session, frame: ReadAudit, services: Services) -> None:
    answer = await services.administration.audit(
        Actor.of(session), before=frame.before, limit=frame.limit, ref=frame.ref
    )
    session.send(answer)
