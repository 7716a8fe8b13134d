"""The load driver: N clients in one process, S of them sending, every delivery counted.

Run as ``python -m bench.driver --spec spec.json`` (``-`` reads stdin); it prints
one JSON :class:`~bench.driver.results.DriverResult` on stdout. It runs on uvloop
when installed and uses bare ``asyncio.Protocol`` clients (:mod:`bench.link`), so
that the driver is not what limits a run; its own CPU time is measured and
reported so a reader can check.

Phases (:mod:`.phases`):

1. **connect**: open N connections (at most ``connect_concurrency`` signing in
   at once), spread over source addresses 127.x.y.z (``per_address`` each, under
   the server's per-address limit; 12 addresses per /24, under its per-network
   limit). Against chatapp each client waits for ``welcome``, sends ``resume``
   with a pre-made session token (no argon2 in this phase) and is ready at
   ``auth_ok``; against the baseline it is ready at ``welcome``. Then the driver
   waits for the presence fan-out to settle.
2. **send**: S clients send M messages each, either closed-loop (at most
   ``window`` of a sender's messages in flight; its own copy coming back is the
   acknowledgment) or open-loop at ``rate`` messages per second. Every text
   carries the sender, a sequence number and the send time
   (``time.monotonic_ns()``).
3. **storm** (optional, during send; :mod:`.storm`): extra clients log in with a
   password at once (argon2 on the server), then quit.
4. **replay** (optional; :mod:`.replay`): before the N clients connect, a filler
   puts messages in the room; during send a laggard resumes from before them and
   takes their replay.
5. **verify** (after the clock stops; :mod:`.verify`): every received line is
   decoded with the protocol package and checked: each receiver must see every
   sender's messages exactly once and in order, and chatapp's ids must increase.

Signing in, and every frame of the storm's, the filler's and the laggard's
clients, goes through the protocol's client half. While the clock runs the
N clients only count (:mod:`.counting`): received chunks are stored with their
arrival time, newlines are counted with ``bytes.count`` (C speed) to know when
everything has arrived, and senders count their own acknowledgments by
searching the chunk for their marker. No JSON is decoded per delivery.
"""
