"""``chatapp-admin fingerprint``: the fingerprint the server logged, read from the file alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatapp.admin.__main__ import main
from chatapp.server.config import TLS_CERT_NAME, TLS_KEY_NAME
from chatapp.server.self_signed import certificate_names, ensure_self_signed
from chatapp.server.tls import certificate_file_fingerprint


def test_prints_the_self_signed_certificates_fingerprint_beside_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = tmp_path / TLS_CERT_NAME
    assert ensure_self_signed(cert, tmp_path / TLS_KEY_NAME, certificate_names("host", "127.0.0.1"))
    code = main(["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", "fingerprint"])
    assert code == 0
    assert capsys.readouterr().out == certificate_file_fingerprint(cert) + "\n"


def test_prints_a_given_certificates_fingerprint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ensure_self_signed(tmp_path / "a.pem", tmp_path / "a-key.pem", ["localhost"])
    assert main(["fingerprint", "--tls-cert", str(tmp_path / "a.pem")]) == 0
    assert capsys.readouterr().out.startswith("SHA256:")


def test_no_certificate_yet_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", "fingerprint"])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot read the certificate" in err and "--tls self-signed makes it on first start" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_file_that_is_no_certificate_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk.pem").write_text("hello\n")
    assert main(["fingerprint", "--tls-cert", str(tmp_path / "junk.pem")]) == 1
    assert "holds no PEM certificate" in capsys.readouterr().err


def test_made_files_are_reused_not_remade(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    assert ensure_self_signed(cert, key, ["localhost"])
    before = cert.read_bytes()
    assert not ensure_self_signed(cert, key, ["localhost"])
    assert cert.read_bytes() == before
    key.unlink()  # half a pair is made again, whole
    assert ensure_self_signed(cert, key, ["localhost"])
    assert cert.read_bytes() != before and (key.stat().st_mode & 0o777) == 0o600
