"""Opening a TLS connection and deciding whether to trust it: CA verification, else a pin.

First the certificate is verified as a browser would: against the system's
CAs (or ``--ca-file``), host name checked, TLS 1.2 at least. When that fails
*because the certificate does not verify* (self-signed, unknown CA, wrong
name), the client trusts on first use, like SSH: it connects again without
chain verification, takes the certificate the server presented
(``getpeercert(binary_form=True)``) and compares its SHA-256 fingerprint with
the known-servers file (:mod:`.known_servers`):

- the same fingerprint: trusted by pin;
- a different one: refused loudly, naming the file and the line to remove;
- none yet: the full-screen client asks once (``ask``); line mode takes only
  ``--accept-fingerprint``; what is accepted is remembered.

Why the unverified handshake is safe here: TLS still proves that the server
holds the private key of the certificate it presented (its signature over the
handshake is checked whatever the verify mode), so a matching fingerprint
authenticates the server as well as a CA would for that one certificate. And
nothing is written on the connection before the fingerprint was compared: the
caller starts reading frames, and the user types a password, only after
:func:`open_tls` returned. The unverified context is never used otherwise.

A decision outlives the connection (:class:`Trust`): reconnects demand the
same, a verifying certificate if the first one verified, the same pin if it
was pinned, and never ask again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from chatapp.fingerprint import certificate_fingerprint

from .errors import ConnectError
from .known_servers import KnownServers
from .link import MAX_LINE, os_reason

log = logging.getLogger("chatapp.client.session")

AskTrust = Callable[[str, str, str], Awaitable[bool]]
"""``ask(address, fingerprint, why_it_does_not_verify)``: True to trust and remember it."""


class TrustError(ConnectError):
    """The server's certificate is not trusted: the session must not go on (nor retry)."""


@dataclasses.dataclass(frozen=True, slots=True)
class TlsSettings:
    ca_file: Path | None = None
    """Verify against this PEM bundle instead of the system's CAs."""
    known_servers: KnownServers = dataclasses.field(default_factory=KnownServers)
    accept_fingerprint: str | None = None
    """Trust (and remember) a certificate with this fingerprint without asking (canonical form)."""
    ask: AskTrust | None = None
    """How to ask about an unknown certificate; None (line mode) refuses instead."""


@dataclasses.dataclass(frozen=True, slots=True)
class Trust:
    """Why a TLS link was trusted: ``pinned`` by the known-servers file, or verified by a CA."""

    pinned: bool
    fingerprint: str


def verified_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def pinning_context() -> ssl.SSLContext:
    """No chain verification: only for reading a certificate to compare with a pin (see above)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def open_tls(
    host: str, port: int, address: str, settings: TlsSettings, previous: Trust | None, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Trust]:
    """A TLS connection to ``host``:``port`` whose certificate is trusted. Raises :class:`ConnectError`.

    ``previous`` is the decision of the session's first connection (None on the first).
    """
    why = ""
    if previous is None or not previous.pinned:
        try:
            reader, writer = await _open(host, port, verified_context(settings.ca_file), host, timeout)
            return reader, writer, Trust(pinned=False, fingerprint=_peer_fingerprint(writer))
        except ssl.SSLCertVerificationError as exc:
            why = exc.verify_message or "it does not verify"
            if previous is not None:
                raise TrustError(
                    f"the server's certificate no longer verifies ({why}); it did when this session began"
                ) from None
    reader, writer = await _open(host, port, pinning_context(), host, timeout)
    seen = _peer_fingerprint(writer)
    try:
        await _check_pin(address, seen, why, settings, previous)
    except BaseException:
        writer.transport.abort()
        raise
    return reader, writer, Trust(pinned=True, fingerprint=seen)


async def _open(
    host: str, port: int, context: ssl.SSLContext, server_hostname: str, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=context, server_hostname=server_hostname, limit=MAX_LINE,
                ssl_handshake_timeout=timeout, ssl_shutdown_timeout=timeout,
            ),
            timeout,
        )
    except ssl.SSLCertVerificationError:
        raise
    except (ssl.SSLEOFError, ConnectionResetError, asyncio.IncompleteReadError) as exc:
        # A TLS server refusing at accept time (a limit, an address ban, shutdown) closes without a
        # handshake: not a sign of a plain port, which would have sent its welcome instead.
        log.info("TLS handshake with %s:%d cut: %s", host, port, exc)
        raise ConnectError(
            "the server closed the connection during the TLS handshake (it may be refusing this "
            "address, full, or shutting down)"
        ) from None
    except ssl.SSLError as exc:
        log.info("TLS handshake with %s:%d failed: %s", host, port, exc)
        raise ConnectError(
            "the TLS handshake failed (is this a plain port? --no-tls connects without TLS)"
        ) from None
    except TimeoutError:
        raise ConnectError(
            "no TLS handshake in time (is this a plain port? --no-tls connects without TLS)"
        ) from None
    except OSError as exc:
        raise ConnectError(os_reason(exc)) from None


def _peer_fingerprint(writer: asyncio.StreamWriter) -> str:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        writer.transport.abort()
        raise ConnectError("the server presented no certificate")
    return certificate_fingerprint(der)


async def _check_pin(
    address: str, seen: str, why: str, settings: TlsSettings, previous: Trust | None
) -> None:
    known = settings.known_servers
    if previous is not None:
        if seen != previous.fingerprint:
            raise TrustError(
                f"the server's certificate CHANGED during this session: it is now {seen}, "
                f"it was {previous.fingerprint}; not reconnecting"
            )
        return
    try:
        entry = await asyncio.to_thread(known.lookup, address)  # a file: off the event loop
    except OSError as exc:
        raise TrustError(f"cannot read the known-servers file {known.path}: {exc.strerror or exc}") from None
    if entry is not None:
        if entry.fingerprint == seen:
            log.info("certificate of %s trusted by pin (%s line %d)", address, known.path, entry.line)
            return
        raise TrustError(
            f"WARNING: the certificate of {address} has CHANGED. It is now {seen}; "
            f"line {entry.line} of {known.path} says {entry.fingerprint}. Someone may be intercepting "
            f"the connection. If the server's certificate was replaced on purpose (ask its operator: "
            f"chatapp-admin fingerprint), remove line {entry.line} of {known.path} and connect again"
        )
    if settings.accept_fingerprint is not None:
        if settings.accept_fingerprint != seen:
            raise TrustError(
                f"the certificate of {address} does not verify ({why}) and its fingerprint {seen} "
                "is not the one given with --accept-fingerprint"
            )
    elif settings.ask is None:
        raise TrustError(
            f"the certificate of {address} does not verify ({why}) and is not a known server. "
            f"Its fingerprint is {seen}. Check it with the server's operator (chatapp-admin fingerprint) "
            f"and connect again with --accept-fingerprint {seen}"
        )
    elif not await settings.ask(address, seen, why):
        raise TrustError(f"the certificate of {address} was not trusted")
    try:
        line = await asyncio.to_thread(known.add, address, seen)  # fsync: off the event loop
    except OSError as exc:
        raise TrustError(f"cannot write the known-servers file {known.path}: {exc.strerror or exc}") from None
    log.info("certificate of %s trusted on first use and remembered (%s line %d)", address, known.path, line)
