"""A receiver that decodes every delivery while the clock runs, to measure what that would cost.

The suite's receivers only count (:mod:`.counting`); ``python -m bench.driver_cost``
runs the same workload with these instead, to show how many deliveries per
second the driver could absorb if it decoded each one through its
:class:`~chatapp.protocol.connection.ClientProtocol` (the figures are in
docs/design.md, "Benchmarks"). Their chunks are kept too, so the run is
verified the same way.
"""

from __future__ import annotations

import time

from bench.driver.counting import CountingClient, Tally
from chatapp.protocol import AuthOk, Message, encode
from chatapp.protocol.connection import ServerFrameReceived
from chatapp.protocol.states import State


class DecodingClient(CountingClient):
    """Signs in as a :class:`CountingClient` does; while recording, decodes what it counts."""

    def __init__(self, tally: Tally, index: int) -> None:
        super().__init__(tally, index)
        self.decoded: list[tuple[int, int, int, int]] = []
        """(arrival ns, sender, sequence number, id) of every message: what a live check needs."""

    def start_recording(self) -> None:
        super().start_recording()
        if self.protocol.state is State.GREETED:
            # The baseline server signs nobody in (its clients are ready at its welcome), and the
            # protocol object refuses messages before auth_ok: give it one, as chatapp would send.
            self.protocol.receive_data(encode(AuthOk(username=f"c{self.index}", token="-")))

    def data_received(self, data: bytes) -> None:
        if not self.recording:
            super().data_received(data)
            return
        now = time.monotonic_ns()
        self.chunks.append((now, data))
        sender = self.sender
        own = sender.sid if sender is not None else -1
        delivered = acks = 0
        # The protocol object was left at a line boundary when signing in ended; recording starts at
        # one too (against chatapp after the sync barrier, and the baseline sends nothing before the
        # first message), so it gets whole lines. What came between (presence, pongs) it never sees.
        for event in self.protocol.receive_data(data):
            if isinstance(event, ServerFrameReceived) and isinstance(event.frame, Message):
                frame = event.frame
                text = frame.text
                sid = int(text[1:6])
                self.decoded.append((now, sid, int(text[7:14]), frame.id))
                delivered += 1
                acks += sid == own
        if sender is not None:
            sender.acked(acks)
        self.tally.delivered(delivered, now)
        self.at_boundary = data[-1] == 10
