"""``profile``: set one's display name and bio; the answer is one's own ``user_info``."""

from __future__ import annotations

from chatapp.protocol.moderation_frames import SetProfile
from chatapp.server.services import Services
from chatapp.server.services.people import whois
from chatapp.server.services.profiles import update_profile
from chatapp.server.session import Session


async def on_profile(session: Session, frame: SetProfile, services: Services) -> None:
    services.limits.check_status(session)  # a change others see: the budget of away and topic
    await update_profile(
        services.store, services.screening, session, display_name=frame.display_name, bio=frame.bio
    )
    session.send(await whois(services.store, services.hub, session, session.username, frame.ref))
