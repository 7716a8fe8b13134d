"""The errors the network session raises on purpose: one base, one class per thing that can go wrong."""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the session raises on purpose."""


class ConnectError(ClientError):
    """The server could not be reached, or the connection ended before an answer.

    ``detail`` says why in a few words (``"connection refused"``); ``bye`` is the
    server's reason when it closed the connection with a ``bye`` frame.
    """

    def __init__(self, detail: str, *, bye: str | None = None, bye_message: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.bye = bye
        self.bye_message = bye_message


class AuthError(ClientError):
    """The server refused to sign in: ``code`` is an :class:`~chatapp.protocol.ErrorCode` value."""

    def __init__(
        self, code: str, message: str, retry_after: float | None = None, until: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.until = until
        """With ``suspended``: when the suspension ends (absent: until lifted)."""


class SendRefused(ClientError):
    """A message or request was not accepted for sending (signed out, not connected, outbox full)."""
