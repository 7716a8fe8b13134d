"""The server's services: what handlers call to get things done, whatever the transport.

- :mod:`.messaging` — messages to rooms and people: submit, commit, publish.
- :mod:`.signin` — sessions opened, resumed, ended; the duplicate-login policy.
- :mod:`.credentials` — accounts, passwords and resume tokens, with their throttles.
- :mod:`.limits` — every rate limit and rule on what a signed-in user may do.
- :mod:`.replay` — catching a client up: missed messages, a room's recent context.
- :mod:`.people` — finding users; whois.
- :mod:`.frames` — stored messages as frames; lists fitted in one frame.
- :mod:`.message_log` — where messages get their id: the durable log, or memory.
- :mod:`.audit` — the audit trail of moderation and administration.
- :mod:`.room_moderation` — moderating a room: kick, ban, mute, roles, invitations, privacy, deletion.
- :mod:`.room_sanctions` — each room's bans and mutes in memory, checked on every send.
- :mod:`.room_access` — who may see and enter a room; a user's roles in one.
- :mod:`.message_removal` — removing a message, leaving a tombstone.
- :mod:`.administration` — server moderation and the staff's lists (the ``admin`` frames).
- :mod:`.screening` — what users write checked against the content filter.
- :mod:`.devices` — devices and their public keys for end-to-end encryption; the sending device's check.
- :mod:`.file_sharing` — uploads, the file a message posts, the sweeper of what is no longer wanted.
- :mod:`.file_downloads` — who may read a file; downloads in chunks (in turn, overlapped) or by link.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatapp.server.account_sanctions import AccountSanctions
from chatapp.server.address_bans import AddressBans
from chatapp.server.config import Config
from chatapp.server.control_events import ALONE, Others
from chatapp.server.filters import ContentFilter
from chatapp.server.hub import Hub
from chatapp.server.services.administration import Administration
from chatapp.server.services.audit import AuditTrail
from chatapp.server.services.credentials import Credentials
from chatapp.server.services.devices import Devices
from chatapp.server.services.file_downloads import FileDownloads
from chatapp.server.services.file_sharing import FileSharing
from chatapp.server.services.limits import Limits
from chatapp.server.services.message_removal import MessageRemoval
from chatapp.server.services.messaging import Messaging
from chatapp.server.services.replay import Replay
from chatapp.server.services.room_moderation import RoomModeration
from chatapp.server.services.room_sanctions import RoomSanctions
from chatapp.server.services.screening import Screening
from chatapp.server.services.signin import SignIn
from chatapp.server.store import Store
from chatapp.server.transport.delivery import Delivery


@dataclass(frozen=True, slots=True)
class Services:
    """What every handler shares, built once by the app."""

    config: Config
    store: Store
    hub: Hub
    delivery: Delivery
    limits: Limits
    credentials: Credentials
    signin: SignIn
    messaging: Messaging
    replay: Replay
    audit: AuditTrail
    sanctions: RoomSanctions
    rooms: RoomModeration
    removal: MessageRemoval
    administration: Administration
    address_bans: AddressBans
    """Checked by the listener for every new connection."""
    suspensions: AccountSanctions
    """Checked at every sign-in (also kept by ``credentials``)."""
    mutes: AccountSanctions
    """Server-wide mutes, checked at every send (also kept by ``limits``)."""
    filters: ContentFilter
    """The content rules in force (``filters.reload()`` reads the file again)."""
    screening: Screening
    devices: Devices
    """Devices and keys (end-to-end encryption); also checks each encrypted message's sending device."""
    files: FileSharing
    """Shared files: uploads and the sweeper; also claims the file a message posts."""
    downloads: FileDownloads
    """Shared files' downloads, by frame and by link."""
    others: Others = ALONE
    """The other server processes (``--redis-url``), told of what a moderator changed here."""
