"""The TLS listener's ``ssl.SSLContext``, and where its certificate comes from.

Either the operator's PEM files (``--tls-cert``, a chain allowed, and
``--tls-key``) or a self-signed certificate kept in the server's data directory
(``--tls self-signed``, made on first start by :mod:`chatapp.server.self_signed`).
The context is the standard library's server defaults
(``create_default_context(Purpose.CLIENT_AUTH)``: no compression, no
renegotiation, OpenSSL's modern cipher list) with TLS 1.2 as the oldest version
accepted; TLS 1.3 is chosen whenever the client offers it. Loading the files is
blocking work: the app calls :func:`load_tls` in an executor, before serving.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl
from pathlib import Path

from chatapp.fingerprint import certificate_fingerprint
from chatapp.server import activity
from chatapp.server.config import TLS_CERT_NAME, TLS_KEY_NAME, Config, server_data_directory
from chatapp.server.self_signed import certificate_names, ensure_self_signed

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class TlsSetupError(Exception):
    """The certificate or key cannot be used; the message is one sentence for the operator."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServerTls:
    context: ssl.SSLContext
    certificate: Path
    fingerprint: str


def self_signed_paths(database_url: str) -> tuple[Path, Path]:
    """Where ``--tls self-signed`` keeps its certificate and key (chatapp-admin looks there too)."""
    directory = server_data_directory(database_url)
    return directory / TLS_CERT_NAME, directory / TLS_KEY_NAME


def certificate_file_fingerprint(path: Path) -> str:
    """The fingerprint of the first (the server's own) certificate in a PEM file."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise TlsSetupError(f"cannot read the certificate {path}: {exc.strerror or exc}") from None
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise TlsSetupError(f"{path} holds no PEM certificate")
    try:
        der = ssl.PEM_cert_to_DER_cert(text[start : stop + len(end)])
    except ValueError:
        raise TlsSetupError(f"{path} holds no readable PEM certificate") from None
    return certificate_fingerprint(der)


def server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MINIMUM_VERSION
    try:
        context.load_cert_chain(certificate, key)
    except FileNotFoundError as exc:
        raise TlsSetupError(f"no such file: {exc.filename or certificate}") from None
    except (ssl.SSLError, OSError) as exc:
        # OpenSSL's reason ("PEM lib", "key values mismatch"), never the key's contents.
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise TlsSetupError(
            f"cannot use the TLS certificate {certificate} with the key {key}: {reason}"
        ) from None
    return context


def load_tls(config: Config) -> ServerTls | None:
    """The TLS setup the config asks for (None: TLS is off), the self-signed certificate made
    first if need be; the fingerprint is logged. Blocking: run it in an executor."""
    if config.tls_cert:
        certificate, key = Path(config.tls_cert), Path(config.tls_key)
        source = "files"
    elif config.tls == "self-signed":
        certificate, key = self_signed_paths(config.resolved_database_url)
        names = certificate_names(socket.gethostname(), config.host)
        if ensure_self_signed(certificate, key, names):
            activity.record("tls_created", certificate=str(certificate), key=str(key), names=",".join(names))
        elif (mode := key.stat().st_mode & 0o777) & 0o077:
            activity.record("tls_key_exposed", logging.WARNING, key=str(key), mode=oct(mode))
        source = "self-signed"
    else:
        return None
    context = server_context(certificate, key)
    fingerprint = certificate_file_fingerprint(certificate)
    activity.record("tls", source=source, certificate=str(certificate), fingerprint=fingerprint)
    return ServerTls(context, certificate, fingerprint)
