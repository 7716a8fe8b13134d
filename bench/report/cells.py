"""Table cells: how the report writes a number, a percentage, a size, a row."""

from __future__ import annotations

LABEL = {
    "naive": "baseline naive",
    "coalesced": "baseline coalesced",
    "chatapp": "**chatapp**",
    "chatapp-pg": "**chatapp on PostgreSQL**",
}


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def align(*spec: str) -> str:
    return row(*("---:" if s == "r" else "---" for s in spec))


def fmt_int(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def fmt_mib(value: int | None) -> str:
    return "—" if not value else f"{value / 2**20:,.1f}"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"
