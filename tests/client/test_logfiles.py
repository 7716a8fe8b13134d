"""Chat log files: safe names, inert text, rotation by size, encrypted conversations only when asked."""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from chatapp.client.settings import Settings
from chatapp.client.ui.logfiles import KEEP, LogFiles, log_lines, safe_name

WHEN = datetime(2026, 12, 5, 8, 30, 5, tzinfo=UTC)


@given(st.text(max_size=80))
def test_any_name_becomes_a_safe_file_name(name: str) -> None:
    safe = safe_name(name)
    assert re.fullmatch(r"[a-z0-9_.-]{1,65}", safe)
    assert safe.strip(".")  # never "", "." or ".."


@given(st.text(max_size=200))
def test_a_log_line_holds_no_terminal_control_characters(text: str) -> None:
    written = log_lines(WHEN, "bob\x1b[31m", text, UTC)
    body = written.replace("\n", "")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in body)
    assert written.endswith("\n") and all(line.startswith("2026-12-05 08:30:05 <bob\u241b[31m> ")
                                          for line in written.splitlines())


def logs(tmp_path: Path, **settings: object) -> tuple[LogFiles, Path]:
    chosen = Settings(**{"logs": True, "logs_dir": str(tmp_path), **settings})  # type: ignore[arg-type]
    files = LogFiles(lambda: chosen, "chat.example.org:7777", "Alice", UTC)
    return files, tmp_path / "chat.example.org_7777" / "alice"


def test_messages_go_to_one_private_file_per_room_and_conversation(tmp_path: Path) -> None:
    files, where = logs(tmp_path)
    files.message("room", "rust", WHEN, "bob", "hello\n\x1b]0;pwned\x07 there", encrypted=False)
    files.message("dm", "Bob", WHEN, "alice", "psst", encrypted=False)
    files.message("dm", "../../etc/passwd", WHEN, "eve", "no escape", encrypted=False)
    files.close()
    assert (where / "room-rust.log").read_text() == (
        "2026-12-05 08:30:05 <bob> hello\n2026-12-05 08:30:05 <bob> \u241b]0;pwned\u2407 there\n"
    )
    assert (where / "dm-bob.log").read_text() == "2026-12-05 08:30:05 <alice> psst\n"
    assert (where / "dm-.._.._etc_passwd.log").exists()
    assert stat.S_IMODE(os.stat(where / "dm-bob.log").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(where).st_mode) == 0o700


def test_logs_off_and_encrypted_conversations_write_nothing_unless_asked(tmp_path: Path) -> None:
    files, where = logs(tmp_path / "a", logs=False)
    files.message("room", "rust", WHEN, "bob", "hello", encrypted=False)
    files.close()
    assert not (tmp_path / "a").exists()
    files, where = logs(tmp_path / "b")
    files.message("dm", "bob", WHEN, "bob", "secret", encrypted=True)
    files.close()
    assert not (tmp_path / "b").exists()
    files, where = logs(tmp_path / "c", logs_encrypted=True)
    files.message("dm", "bob", WHEN, "bob", "secret", encrypted=True)
    files.close()
    assert (where / "dm-bob.log").read_text() == "2026-12-05 08:30:05 <bob> secret\n"


def test_a_full_log_is_rotated_keeping_a_few(tmp_path: Path) -> None:
    files, where = logs(tmp_path, logs_max_kib=16)
    text = "x" * 1000
    for number in range(16 * (KEEP + 3)):
        files.message("room", "busy", WHEN, "bob", f"{number:04d} {text}", encrypted=False)
    files.close()
    names = {path.name for path in where.iterdir()}
    assert names == {"room-busy.log", *(f"room-busy.{n}.log" for n in range(1, KEEP + 1))}
    for path in where.iterdir():
        assert 0 < path.stat().st_size <= 16 * 1024
    newest = (where / "room-busy.log").read_text().splitlines()[-1]
    assert f"{16 * (KEEP + 3) - 1:04d}" in newest
    first_of_current = int((where / "room-busy.log").read_text().split("<bob> ")[1][:4])
    last_of_previous = int((where / "room-busy.1.log").read_text().splitlines()[-1].split("<bob> ")[1][:4])
    assert first_of_current == last_of_previous + 1  # nothing lost or repeated at the cut
