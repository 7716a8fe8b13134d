"""The fast paths' timestamp text is exactly what SQLAlchemy's SQLite dialect stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.server.store.models import Base
from chatapp.server.store.sqlite_values import bind, utc_timestamp_text

pytestmark = pytest.mark.sqlite_only  # values as SQLite's dialect stores them

ORM_TEXT = bind(Base.metadata.tables["messages"].c.created_at)

offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC) | offsets
)


@given(st.lists(aware, min_size=1, max_size=5))
def test_same_text_as_the_orm_in_any_order(moments: list[datetime]) -> None:
    # A list: the once-per-second cache must never hand one second's text to another.
    for moment in moments:
        assert utc_timestamp_text(moment) == ORM_TEXT(moment)


def test_neighbouring_seconds_and_microseconds() -> None:
    base = datetime(2026, 11, 26, 3, 59, 59, 999_999, tzinfo=UTC)
    for moment in (base, base + timedelta(microseconds=1), base, base - timedelta(seconds=1)):
        assert utc_timestamp_text(moment) == ORM_TEXT(moment)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        utc_timestamp_text(datetime(2026, 1, 1))
