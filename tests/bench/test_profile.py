"""The profile summary: which thread a py-spy sample belongs to, even when py-spy left out its name."""

from __future__ import annotations

from pathlib import Path

from bench.profile import summarize


def test_unnamed_samples_take_the_name_of_their_thread_id(tmp_path: Path) -> None:
    raw = tmp_path / "profile.raw"
    raw.write_text(
        "thread (0x1f): MainThread;Runner.run (asyncio/runners.py:118);on_send (chatapp/x.py:3) 3\n"
        "thread (0x1f);Runner.run (asyncio/runners.py:118);on_send (chatapp/x.py:3) 2\n"
        "thread (0x2a): sqlite-writer_0;_insert (chatapp/y.py:9) 4\n"
        "thread (0x3b);somewhere (z.py:1) 1\n"
    )
    profile = summarize(raw)
    assert profile.samples == 10
    assert profile.threads == {
        "event loop (main thread)": 0.5,
        "SQLite fast-path threads (message writer, sessions, checkpoints)": 0.4,
        "other threads": 0.1,
    }
    assert [(e.name, e.share) for e in profile.chatapp_inclusive][:1] == [("on_send (chatapp/x.py)", 1.0)]
