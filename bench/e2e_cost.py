"""What an end-to-end encrypted direct message costs the server against a plain one of the same
frame size: ``python -m bench.e2e_cost`` (``make bench`` runs it).

One chatapp server (a subprocess, on a fresh SQLite file) and two clients on loopback: Alice
sends Bob direct messages in windows (the next window once Bob has every message of the last),
alternately plain and encrypted, the same number of each and every ``dm`` frame the same size
(the plain text is padded to the encrypted frame's length). The encrypted ones carry one Olm
ciphertext made by vodozemac for a device of Bob's; the server checks the sending device, stores
the envelope and relays it. Reported per kind, the best of the rounds: deliveries per second
(to Bob) and the server's CPU time per message (user plus system, from ``/proc``), so that the
difference is what encryption costs the server: the device check, and the envelope decoded and
encoded again on the way out, in place of the content rules and the repeated-text check.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import vodozemac

from bench import procstat, servers
from bench.raw_client import RawClient
from chatapp.protocol import SendDirect, encode
from chatapp.protocol.e2e_frames import Ciphertext, Envelope, IdentityKeys, PublishKeys, device_signing_text

PASSWORD = "a long bench password for both users"
WINDOW = 200
"""Messages sent before waiting for Bob to have them all (under the server's 256 uncommitted)."""


@dataclass(frozen=True, slots=True)
class KindCost:
    deliveries_per_second: float
    server_cpu_us: float
    """The server's CPU time per message, in microseconds."""


@dataclass(frozen=True, slots=True)
class E2eCost:
    plain: KindCost
    encrypted: KindCost
    frame_bytes: int
    """The size of every ``dm`` frame sent, plain or encrypted."""
    messages: int
    """Per kind and round."""
    rounds: int


class _Client(RawClient):
    """A raw client that counts the direct messages it receives."""

    directs = 0

    async def count_directs(self, target: int) -> None:
        while self.directs < target:
            line = await self.line()
            if b'"type":"direct"' in line:
                self.directs += 1


def _frames(count: int, envelope: Envelope) -> tuple[list[bytes], list[bytes], int]:
    """``count`` encrypted and ``count`` plain dm frames, all of one size (the encrypted one's)."""
    encrypted = [encode(SendDirect(to="bob", e2e=envelope, nonce=f"e{i:09d}")) for i in range(count)]
    size = len(encrypted[0])
    plain = []
    for i in range(count):
        head = f"message {i:09d} "
        bare = len(encode(SendDirect(to="bob", text=head, nonce=f"p{i:09d}")))
        plain.append(encode(SendDirect(to="bob", text=head + "x" * (size - bare), nonce=f"p{i:09d}")))
    assert {len(frame) for frame in plain + encrypted} == {size}
    return plain, encrypted, size


async def _sign_in(port: int, username: str) -> _Client:
    return await _Client.signed_in(port, username, PASSWORD)


async def _run(port: int, pid: int, messages: int, rounds: int) -> E2eCost:
    alice, bob = await _sign_in(port, "alice"), await _sign_in(port, "bob")
    laptop, phone = vodozemac.Account(), vodozemac.Account()
    keys = IdentityKeys(curve25519=laptop.curve25519_key.to_base64(), ed25519=laptop.ed25519_key.to_base64())
    signature = laptop.sign(device_signing_text("alice", "LAPTOP01", keys.curve25519, keys.ed25519))
    alice.send(encode(PublishKeys(device="LAPTOP01", keys=keys, signature=signature.to_base64(), ref=3)))
    await alice.until(b'"keys_published"')
    phone.generate_one_time_keys(1)
    (one_time,) = phone.one_time_keys.values()
    session = laptop.create_outbound_session(phone.curve25519_key, one_time)
    plaintext = b'{"v":1,"text":"' + b"a chat line of ordinary length " * 8 + b'"}'
    kind, body = session.encrypt(plaintext).to_parts()
    ciphertext = Ciphertext(type=0 if kind == 0 else 1, body=base64.b64encode(body).decode())
    envelope = Envelope(device="LAPTOP01", key=keys.curve25519, ciphertexts={"PHONE001": ciphertext})
    plain, encrypted, size = _frames(messages * (rounds + 1), envelope)
    draining = asyncio.create_task(alice.drain())

    async def send(frames: list[bytes]) -> tuple[float, float]:
        """Send ``frames`` in windows; (deliveries per second, server CPU µs per message)."""
        before, started = procstat.sample(pid), time.perf_counter()
        for start in range(0, len(frames), WINDOW):
            window = frames[start : start + WINDOW]
            alice.send(b"".join(window))
            await bob.count_directs(bob.directs + len(window))
        elapsed, after = time.perf_counter() - started, procstat.sample(pid)
        cpu = (after.cpu - before.cpu) if before and after else float("nan")
        return len(frames) / elapsed, cpu / len(frames) * 1e6

    # A warm-up of each kind, then rounds alternating plain and encrypted; the best of each.
    await send(plain[:messages])
    await send(encrypted[:messages])
    runs: dict[str, list[tuple[float, float]]] = {"plain": [], "encrypted": []}
    for round_ in range(1, rounds + 1):
        part = slice(round_ * messages, (round_ + 1) * messages)
        runs["plain"].append(await send(plain[part]))
        runs["encrypted"].append(await send(encrypted[part]))
    for client in (alice, bob):
        client.writer.close()
    draining.cancel()

    def best(kind: str) -> KindCost:
        rate = max(r for r, _ in runs[kind])
        cpu = min(c for _, c in runs[kind])
        return KindCost(deliveries_per_second=round(rate, 1), server_cpu_us=round(cpu, 1))

    return E2eCost(best("plain"), best("encrypted"), size, messages, rounds)


def measure(messages: int = 5_000, rounds: int = 3, workdir: Path | None = None) -> E2eCost:
    """Start a server on a fresh database, measure, stop it."""
    with tempfile.TemporaryDirectory(prefix="chatapp-e2e-cost-") as scratch:
        where = workdir or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{where / 'e2e-cost.db'}"
        server = servers.chatapp_server(url, where / "e2e-cost-server.log", ("--min-password-score", "0"))
        server.start()
        try:
            return asyncio.run(_run(server.port, server.pid, messages, rounds))
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=5_000, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cost = measure(args.messages, args.rounds)
    for kind, result in (("plain", cost.plain), ("encrypted", cost.encrypted)):
        print(
            f"dm of {cost.frame_bytes} bytes, {kind}: {result.deliveries_per_second:,.0f} deliveries/s, "
            f"{result.server_cpu_us:.1f} µs of server CPU per message"
        )


if __name__ == "__main__":
    main()
