"""``/upload`` and ``/download`` parsed, the file line drawn, refusals worded with the limit."""

from __future__ import annotations

from datetime import UTC, datetime

from chatapp.client.files.refusals import refusal_text
from chatapp.client.ui import actions, commands
from chatapp.client.ui.lines import message_lines
from chatapp.protocol import Error, FileInfo, Message

FILE_ID = "q7Hc2VNn0dD3kYpLw8xT"


def test_upload_takes_a_path_and_a_caption() -> None:
    assert commands.parse("/upload ~/report.pdf the Q3 numbers") == actions.UploadFile("~/report.pdf",
                                                                                       "the Q3 numbers")
    assert commands.parse('/upload "my file.txt" hi') == actions.UploadFile("my file.txt", "hi")
    assert isinstance(commands.parse("/upload"), actions.BadUsage)
    assert isinstance(commands.parse('/upload "unclosed'), actions.BadUsage)


def test_download_takes_an_id_and_a_directory() -> None:
    assert commands.parse("/download") == actions.DownloadFile()
    assert commands.parse(f"/download {FILE_ID}") == actions.DownloadFile(FILE_ID)
    assert commands.parse(f"/download {FILE_ID} ~/in") == actions.DownloadFile(FILE_ID, "~/in")
    bad = commands.parse("/download ../etc")
    assert isinstance(bad, actions.BadUsage) and "not a file id" in bad.problem


def test_the_file_line_shows_name_size_type_and_id_made_inert() -> None:
    info = FileInfo(id=FILE_ID, name="evil\x1b[2J\u202etxt.exe", size=2_500_000, sha256="0" * 64,
                    mime="application/pdf")
    message = Message(id=1, room="general", sender="mallory", text="look\nat this", ts="2026-12-05T09:31:00Z",
                      file=info)
    lines = [line.plain for line in message_lines(message, "bob", tz=UTC, received=datetime.now(UTC))]
    assert lines[0].endswith(f"<mallory> [file] evil\u241b[2Jtxt.exe (2.4 MiB, application/pdf) \u2014 "
                             f"/download {FILE_ID}")
    assert "\x1b" not in lines[0] and "\u202e" not in lines[0]
    assert [line.strip(" \u2502") for line in lines[1:]] == ["look", "at this"]


def test_refusals_name_the_limit_and_by_how_much() -> None:
    too_large = Error(code="file_too_large", message="", limit=25 * 2**20, over=5 * 2**20)
    assert refusal_text(too_large) == ("the file is too large: the server takes files of at most 25.0 MiB "
                                       "(5.0 MiB over).")
    quota = Error(code="quota_exceeded", message="", limit=250 * 2**20, over=3 * 2**20)
    assert refusal_text(quota).startswith("it would take your files over your quota of 250.0 MiB by 3.0 MiB")
    uploads = Error(code="too_many_uploads", message="", limit=3, over=1)
    assert refusal_text(uploads) == ("you have the most unfinished uploads at once (3); wait for one to "
                                     "finish.")
