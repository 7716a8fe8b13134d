"""The content filter's cost bench: its filter file is a real one, and its section renders."""

from __future__ import annotations

import dataclasses

from bench.report import content

from bench import filter_cost
from chatapp.server.filters import Action, ContentFilter, Target, parse_rules


def test_the_bench_file_is_realistic_and_its_texts_hit_it() -> None:
    rules = parse_rules(filter_cost.filter_file())
    assert sum(len(rule.phrases) for rule in rules) == 200
    assert sum(rule.pattern is not None for rule in rules) == 20
    assert {rule.action for rule in rules} == set(Action)
    screen = ContentFilter(rules=rules).screen
    texts = filter_cost.texts(200)
    verdicts = [screen(Target.MESSAGES, text) for text in texts]
    hits = [v for v, text in zip(verdicts, texts, strict=True) if v.rejected or v.flagged or v.text != text]
    assert len(hits) == 10  # one in twenty


def test_measure_and_report() -> None:
    cost = filter_cost.measure(messages=200, rounds=1)
    assert cost.rules == 24 and cost.microseconds_none > 0 and cost.microseconds_rules > 0
    lines = content.section({"filter_cost": dataclasses.asdict(cost)})
    assert lines[0] == "### Content filter"
    assert f"{cost.microseconds_rules:.2f} µs" in lines[2]
    assert content.section({}) == []
