"""People: who someone is, and one's own away status."""

from __future__ import annotations

from chatapp.protocol import Away, Whois
from chatapp.protocol.rules import check_away
from chatapp.server.filters import Target
from chatapp.server.services import Services
from chatapp.server.services.people import whois
from chatapp.server.session import Session


async def on_whois(session: Session, frame: Whois, services: Services) -> None:
    session.send(await whois(services.store, services.hub, session, frame.username, frame.ref))


async def on_away(session: Session, frame: Away, services: Services) -> None:
    check_away(frame.text)
    services.limits.check_status(session)
    text = frame.text.strip() if frame.text else None
    if text:
        text = services.screening.check(session.username, Target.AWAY, text)
    services.hub.set_away(session, text or None, frame.ref)
