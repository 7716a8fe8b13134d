"""Profiles: a user sets their own display name and bio; a display name cannot pose as another user.

The values are sanitised by the protocol's rules (:mod:`chatapp.protocol.profile_rules`),
then screened by the content filter (kind ``profile``: a ``reject`` refuses the
whole change, a ``mask`` stores the masked text), then stored. A display name
whose key (NFKC, case-folded) is another account's username or display name
is refused with ``forbidden``: that tells the asker no more than ``whois``
would (that the name is someone's).
"""

from __future__ import annotations

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.profile_rules import clean_bio, clean_display_name
from chatapp.server.filters import Target
from chatapp.server.services.screening import Screening
from chatapp.server.session import Session
from chatapp.server.store import DisplayNameTaken, ProfileRecord, Store


async def update_profile(
    store: Store, screening: Screening, session: Session, *, display_name: str | None, bio: str | None
) -> ProfileRecord:
    """Set what is given (None: unchanged, "": cleared) and return the profile as stored."""
    name = clean_display_name(display_name) if display_name is not None else None
    about = clean_bio(bio) if bio is not None else None
    # Both are screened before either is stored: a refused bio leaves the name as it was too.
    if name:
        name = screening.check(session.username, Target.PROFILE, name)
    if about:
        about = screening.check(session.username, Target.PROFILE, about)
    try:
        return await store.set_profile(session.user_id, display_name=name, bio=about)
    except DisplayNameTaken:
        raise ProtocolError(
            ErrorCode.FORBIDDEN, f"the display name {name!r} is another user's name; choose another"
        ) from None
