"""The errors the store raises itself; SQLAlchemy's own errors propagate unchanged."""

from __future__ import annotations

from .migrate import SchemaState


class StoreError(Exception):
    """Base of the errors the store raises itself."""


class UsernameTaken(StoreError):
    def __init__(self, username: str) -> None:
        super().__init__(f"the username {username!r} is taken")
        self.username = username


class DisplayNameTaken(StoreError):
    """Another account has this display name, or this username (in the sense of ``name_key``)."""

    def __init__(self, display_name: str | None) -> None:
        super().__init__(f"the display name {display_name!r} is another user's name")
        self.display_name = display_name


class SchemaOutOfDate(StoreError):
    """The database schema does not match this version of chatapp, and we may not migrate it."""

    def __init__(self, message: str, state: SchemaState) -> None:
        super().__init__(message)
        self.state = state


class DeviceConflict(StoreError):
    """A known device id published with identity keys other than those it registered with."""


class TooManyDevices(StoreError):
    """A new device for a user who has the most devices allowed already."""


class TooManyKeys(StoreError):
    """Adding these one-time keys would leave a device more unclaimed keys than allowed."""

    def __init__(self, unclaimed: int, adding: int, most: int) -> None:
        super().__init__(f"the device has {unclaimed} unclaimed one-time keys; {adding} more is over {most}")
        self.unclaimed = unclaimed
        self.adding = adding
        self.most = most


class UploadRefused(StoreError):
    """A new upload would go past a limit: ``kind`` is ``size``, ``quota``, ``budget`` or
    ``uploads``; ``limit`` the limit in force and ``over`` how far the upload would go past it."""

    def __init__(self, kind: str, limit: int, over: int) -> None:
        super().__init__(f"the upload is {over} over the {kind} limit of {limit}")
        self.kind = kind
        self.limit = limit
        self.over = over
