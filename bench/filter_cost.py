"""What content filtering costs a message: ``python -m bench.filter_cost`` (``make bench`` runs it).

Screens chat-like texts against a realistic filter file — 200 words and
phrases in four rules, 20 RE2 patterns in four more, rules of every action —
and against none, and prints the cost per message in microseconds (the
median of several rounds). The texts are the length of ordinary chat lines,
and about one in twenty hits a rule, as on a real server.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass

from chatapp.server.filters import ContentFilter, Target, parse_rules

_VOCABULARY = (
    "the a to and of is it you that in for on this with be are have not was but what so we can "
    "just like do my at if about all get your out up one there will know how think when good "
    "time now see people make would here some from no go they more want really well going"
).split()


def filter_file(words: int = 200, patterns: int = 20) -> bytes:
    """A filter file of ``words`` made-up words and phrases and ``patterns`` patterns."""
    actions = ("reject", "mask", "flag", "mask")
    lines = []
    per_rule = words // 4
    for rule in range(4):
        entries = [
            f"badword{rule}x{i}" if i % 5 else f"bad phrase{rule} x{i}" for i in range(per_rule)
        ]
        quoted = ", ".join(f'"{entry}"' for entry in entries)
        lines += ["[[rule]]", f'name = "words{rule}"', f"words = [{quoted}]", f'action = "{actions[rule]}"']
    shapes = (
        r"https?://(www\.)?spam{n}\.example/\S*",
        r"\b(buy|cheap|free) +pill{n}s?\b",
        r"\d{{3}}-\d{{3}}-{n}\d{{4}}",
        r"(?i)c+r+y+p+t+o+{n}",
        r"[a-z0-9._%+-]+@spam{n}\.example",
    )
    for index in range(patterns):
        pattern = shapes[index % len(shapes)].format(n=index)
        action = actions[index % 4]
        lines += ["[[rule]]", f'name = "pattern{index}"', f"pattern = '{pattern}'", f'action = "{action}"']
    return "\n".join(lines).encode()


def texts(count: int, hit_every: int = 20) -> list[str]:
    rng = random.Random(11)
    out = []
    for index in range(count):
        words = rng.choices(_VOCABULARY, k=rng.randint(4, 18))
        if index % hit_every == 0:
            number = 1 + (index // hit_every) % 49
            number += number % 5 == 0  # a word of the list, not of one of its phrases
            words.insert(rng.randrange(len(words) + 1), f"badword{index % 4}x{number}")
        out.append(" ".join(words))
    return out


@dataclass(frozen=True, slots=True)
class Cost:
    microseconds_none: float
    microseconds_rules: float
    rules: int
    messages: int
    rounds: int


def measure(messages: int = 20_000, rounds: int = 5) -> Cost:
    sample = texts(messages)
    empty = ContentFilter()
    full = ContentFilter(rules=parse_rules(filter_file()))

    def per_message(content: ContentFilter) -> float:
        runs = []
        for _ in range(rounds):
            started = time.perf_counter()
            for text in sample:
                content.screen(Target.MESSAGES, text)
            runs.append((time.perf_counter() - started) / len(sample) * 1e6)
        return statistics.median(runs)

    return Cost(per_message(empty), per_message(full), full.rule_count, messages, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cost = measure(args.messages, args.rounds)
    print(f"content filter: no filter file: {cost.microseconds_none:.2f} µs per message")
    print(
        f"content filter: {cost.rules} rules (200 words, 20 RE2 patterns): "
        f"{cost.microseconds_rules:.2f} µs per message"
    )


if __name__ == "__main__":
    main()
