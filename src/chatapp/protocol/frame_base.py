"""What every frame shares: the tagged base class and the bounded field types.

Split from :mod:`.frames` so that the frames of each subject (moderation in
:mod:`.moderation_frames`) can live in modules of their own.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .limits import MESSAGE_ID_MAX, REF_MAX

Ref = (
    Annotated[str, msgspec.Meta(max_length=REF_MAX)]
    | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
    | None
)
"""A string of at most ``REF_MAX`` characters or a 64-bit integer: echoed on the reply, so bounded."""

MessageId = Annotated[int, msgspec.Meta(ge=0, le=MESSAGE_ID_MAX)]
"""A message id as a client may name one: 0 (before the first) up to the largest 64-bit id."""


class BaseFrame(msgspec.Struct, frozen=True, omit_defaults=True, tag_field="type"):
    """Base of every frame.

    Subclasses repeat ``frozen=True`` although msgspec inherits it, because type
    checkers follow PEP 681 (dataclass_transform), which does not (msgspec #657).
    """
