"""``--tls self-signed``: a key and a certificate made once, kept, and reused on every start.

The key is ECDSA on P-256: every TLS 1.2 and 1.3 implementation a client may
use (OpenSSL, LibreSSL, BoringSSL, Go, Java, rustls) accepts it, where Ed25519
certificates still are refused by some; it is as fast to make (no prime search,
unlike RSA) and signs a handshake in well under a millisecond. The
certificate names ``localhost``, the host name and the listen address, is
valid for ten years (clients pin its fingerprint; they do not rely on its
dates), and is its own issuer. The key file is created with mode 0600, both
files atomically (written beside, then renamed), so a crash never leaves half
a file; if either is missing both are made again (the fingerprint changes and
clients that pinned the old one refuse it, loudly).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=3650)
_WILDCARD_HOSTS = {"", "0.0.0.0", "::"}


def certificate_names(hostname: str, listen_host: str) -> list[str]:
    """The names the certificate is for, in order and without repeats: ``localhost``, the loopback
    addresses, the host name, and the listen address (unless it is every address)."""
    names = ["localhost", "127.0.0.1", "::1", hostname.strip(), listen_host.strip()]
    seen: list[str] = []
    for name in names:
        if name and name not in _WILDCARD_HOSTS and name not in seen and len(name) <= 253:
            seen.append(name)
    return seen


def ensure_self_signed(certificate: Path, key: Path, names: list[str]) -> bool:
    """Make the key and certificate unless both exist; True if they were made. Blocking."""
    if certificate.is_file() and key.is_file():
        return False
    certificate.parent.mkdir(parents=True, exist_ok=True)
    private_key = ec.generate_private_key(ec.SECP256R1())
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = _certificate(private_key, names).public_bytes(serialization.Encoding.PEM)
    _write_atomically(key, key_pem, 0o600)
    _write_atomically(certificate, cert_pem, 0o644)
    return True


def _certificate(private_key: ec.EllipticCurvePrivateKey, names: list[str]) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chatapp self-signed")])
    now = datetime.datetime.now(datetime.UTC)
    public_key = private_key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))  # a client's clock a little behind
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(private_key, hashes.SHA256())
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.chmod(partial, mode)  # whatever the umask
    os.replace(partial, path)
