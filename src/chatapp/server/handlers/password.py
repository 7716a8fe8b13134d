"""``passwd``: a signed-in user changes their password, and every other session of theirs ends.

An account is online on one connection at a time (``services/signin.py``), and
that is the one asking: its other sessions are ones a token could resume. Their
tokens are revoked, so whoever holds one (a stolen token, a forgotten device)
must log in with the new password.
"""

from __future__ import annotations

from chatapp.clock import utc_now
from chatapp.protocol.moderation_frames import ChangePassword, PasswordChanged
from chatapp.server.services import Services
from chatapp.server.session import Session

END_REASON = "password_changed"


async def on_passwd(session: Session, frame: ChangePassword, services: Services) -> None:
    address = session.peer.address
    await services.credentials.change_password(session.username, frame.old, frame.new, address)
    ended = await services.store.revoke_sessions(
        session.user_id, END_REASON, utc_now(), keep=session.session_id
    )
    await services.audit.record(session.username, "passwd", target=session.username, address=address)
    session.send(PasswordChanged(sessions_ended=ended, ref=frame.ref))
