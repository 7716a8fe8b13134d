"""Content filtering: the rules of ``--filter-file`` applied to what users write.

Pure: no I/O but reading the file (:meth:`ContentFilter.reload`). The services
decide what a verdict means (``filtered`` error, the masked text stored, an
audit event for a flag); see :mod:`chatapp.server.services.screening`.

- :mod:`.rules` — the file's format, its limits, and reading it into checked rules.
- :mod:`.matcher` — matching a text: words by dictionary, patterns by one RE2 pass.
"""

from __future__ import annotations

from pathlib import Path

from .matcher import Screened, TargetRules, compile_targets
from .rules import Action, FilterFileError, Rule, Target, parse_rules, read_rules

__all__ = ["Action", "ContentFilter", "FilterFileError", "Rule", "Screened", "Target", "parse_rules"]


class ContentFilter:
    """The rules in force. Without a file (or with an empty one) screening costs a dict look-up."""

    def __init__(self, path: Path | None = None, rules: list[Rule] | None = None) -> None:
        self.path = path
        self._rules: list[Rule] = []
        self._targets: dict[Target, TargetRules] = {}
        if rules is not None:
            self._use(rules)

    @property
    def rule_count(self) -> int:
        return len(self._rules)

    def reload(self) -> int:
        """Read the file again and use its rules; the number of rules.

        :class:`FilterFileError` (one sentence naming the line or rule) if there is no file
        configured or it cannot be used: the rules in force stay as they were.
        """
        if self.path is None:
            raise FilterFileError("no filter file is configured (chatapp-server --filter-file PATH)")
        rules = read_rules(self.path)
        self._use(rules)
        return len(rules)

    def _use(self, rules: list[Rule]) -> None:
        targets = compile_targets(rules)  # may fail (RE2 memory): nothing is replaced then
        self._rules, self._targets = rules, targets

    def applies(self, target: Target) -> bool:
        return target in self._targets

    def screen(self, target: Target, text: str) -> Screened:
        rules = self._targets.get(target)
        return Screened(text) if rules is None else rules.screen(text)
