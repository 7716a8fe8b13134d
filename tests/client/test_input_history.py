"""The input history file: per server, cut back to its size, emptied by history_size 0, never a password."""

from __future__ import annotations

import json
from pathlib import Path

from chatapp.client.input_history import MAX_ENTRY, SavedHistory, history_path, keep


def test_one_file_per_server_with_a_safe_name(tmp_path: Path) -> None:
    assert history_path("chat.example.org", 7777, tmp_path) == tmp_path / "history" / "chat.example.org_7777"
    assert history_path("::1", 7777, tmp_path).name == "__1_7777"
    assert history_path("../../x", 1, tmp_path).parent == tmp_path / "history"


def test_what_is_never_kept() -> None:
    assert keep("hello") and keep("/join rust") and keep("multi\nline")
    assert not keep("/passwd") and not keep("  /PASSWD  ") and not keep("") and not keep("   ")
    assert not keep("x" * (MAX_ENTRY + 1))


def test_the_file_is_cut_back_and_size_zero_empties_it(tmp_path: Path) -> None:
    path = tmp_path / "h"
    size = [3]
    history = SavedHistory(path, lambda: size[0])
    assert list(history.load_history_strings()) == []
    for number in range(7):
        history.store_string(f"line {number}")
    history.close()
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert kept[-3:] == ["line 4", "line 5", "line 6"] and len(kept) <= 6  # cut back past twice the size

    history = SavedHistory(path, lambda: size[0])
    assert list(history.load_history_strings()) == ["line 6", "line 5", "line 4"]  # newest first
    size[0] = 0  # /set history_size 0
    history.store_string("not kept")
    history.close()
    assert path.read_text() == ""


def test_a_damaged_line_loses_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "h"
    path.write_text('"one"\n{"not": "a string"}\n"two\n"three"\n')
    history = SavedHistory(path, lambda: 10)
    assert list(history.load_history_strings()) == ["three", "one"]
    history.close()
