"""After the clock stopped: decode what every client recorded, and check it.

Each receiver must have every sender's messages exactly once and in order per
sender (chatapp's ids increasing too), those of the warm-up rounds included; every
latency (of the measured rounds) is the arrival time of the chunk a message came
in minus the send time in its text. Anything else that
came while the clock ran is counted by kind, for the report.
"""

from __future__ import annotations

import time

from bench.driver.counting import CountingClient
from bench.driver.results import DriverResult
from bench.driver.spec import DriverSpec
from bench.stats import percentiles
from chatapp.protocol import DEFAULT_ROOM, Error, Message, ProtocolError, decode_server_frame

MESSAGE_PREFIX = b'{"type":"message"'


def verify(
    spec: DriverSpec,
    clients: list[CountingClient],
    result: DriverResult,
    storm_window: tuple[int, int] | None,
    replay_window: tuple[int, int] | None,
) -> None:
    t0 = time.monotonic()
    latencies: list[int] = []
    storm_latencies: list[int] = []
    replay_latencies: list[int] = []
    want = list(range(spec.messages * (spec.warmup_rounds + spec.rounds)))
    first_measured = spec.messages * spec.warmup_rounds  # a sender's first sequence number measured
    names = {sid: (spec.usernames[sid] if spec.usernames else None) for sid in range(spec.senders)}
    other: dict[str, int] = {}
    received = lost = duplicated = out_of_order = id_violations = 0
    for client in clients:
        heard = spec.senders_for(client.index)
        heard_from = set(heard)
        seqs: list[list[int]] = [[] for _ in range(spec.senders)]
        ids: list[int] = []
        partial = b""
        skip = client.skip_first
        for when, chunk in client.chunks:
            if partial:
                chunk = partial + chunk
            lines = chunk.split(b"\n")
            partial = lines.pop()
            for line in lines:
                if skip:
                    skip = False
                    continue
                if not line.startswith(MESSAGE_PREFIX):
                    kind = _kind(line)
                    other[kind] = other.get(kind, 0) + 1
                    continue
                try:
                    frame = decode_server_frame(line)
                except ProtocolError as exc:
                    other["undecodable"] = other.get("undecodable", 0) + 1
                    if len(result.problems) < 10:
                        result.problems.append(f"undecodable line: {exc.message}: {line[:120]!r}")
                    continue
                assert isinstance(frame, Message)
                text = frame.text
                sid = int(text[1:6])
                seq = int(text[7:14])
                sent = int(text[15:34])
                if (
                    sid not in heard_from
                    or frame.room != DEFAULT_ROOM
                    or (names[sid] is not None and frame.sender != names[sid])
                ):
                    other["foreign message"] = other.get("foreign message", 0) + 1
                    continue
                received += 1
                seqs[sid].append(seq)
                ids.append(frame.id)
                if seq < first_measured:
                    continue
                latency = when - sent
                latencies.append(latency)
                if storm_window is not None and storm_window[0] <= sent <= storm_window[1]:
                    storm_latencies.append(latency)
                if replay_window is not None and replay_window[0] <= sent <= replay_window[1]:
                    replay_latencies.append(latency)
        for got in (seqs[sid] for sid in heard):
            if got == want:
                continue
            unique = len(set(got))
            lost += len(want) - len(set(got) & set(want))
            duplicated += len(got) - unique
            if got != sorted(got):
                out_of_order += 1
        if spec.target == "chatapp":
            id_violations += sum(1 for a, b in zip(ids, ids[1:], strict=False) if b <= a)
    result.received_messages = received
    result.lost = lost
    result.duplicated = duplicated
    result.out_of_order = out_of_order
    result.id_order_violations = id_violations
    result.other_frames = other
    result.latency_ms = percentiles(latencies)
    if result.storm is not None:
        result.storm.window_latency_ms = percentiles(storm_latencies)
    if result.replay is not None:
        result.replay.window_latency_ms = percentiles(replay_latencies)
    result.verified = True
    result.verify_seconds = round(time.monotonic() - t0, 3)


def _kind(line: bytes) -> str:
    try:
        frame = decode_server_frame(line)
    except ProtocolError:
        return "undecodable"
    if isinstance(frame, Error):
        return f"error:{frame.code}"
    return type(frame).__name__.lower()
