"""A refused upload or download as a sentence: which limit, and by how much. Pure.

The server's refusals by a limit carry ``limit`` and ``over`` (docs/protocol.md,
"File sharing"); the sentence is made from those numbers, so it reads the same
whatever the server's wording, and anything else falls back to the shared
refusal sentences (``ui/sentences.py``).
"""

from __future__ import annotations

from chatapp.protocol import Error, ErrorCode

from ..ui.sentences import describe_error
from .progress import human_size


def refusal_text(error: Error) -> str:
    """Why the server refused a transfer, naming the limit and by how much it was exceeded."""
    limit, over = error.limit, error.over
    if error.code == ErrorCode.FILE_TOO_LARGE and limit is not None:
        extra = f" ({human_size(over)} over)" if over is not None else ""
        return f"the file is too large: the server takes files of at most {human_size(limit)}{extra}."
    if error.code == ErrorCode.QUOTA_EXCEEDED and limit is not None:
        extra = f" by {human_size(over)}" if over is not None else ""
        return (f"it would take your files over your quota of {human_size(limit)}{extra}; files you shared "
                f"are removed when their messages expire.")
    if error.code == ErrorCode.STORAGE_FULL:
        extra = f" (its budget is {human_size(limit)})" if limit is not None else ""
        return f"the server has no room left for files{extra}; try again later."
    if error.code == ErrorCode.TOO_MANY_UPLOADS:
        most = f" ({limit})" if limit is not None else ""
        return f"you have the most unfinished uploads at once{most}; wait for one to finish."
    if error.code == ErrorCode.DIGEST_MISMATCH:
        return "the file changed while it was being sent (its SHA-256 no longer matches); upload it again."
    if error.code == ErrorCode.NO_SUCH_FILE:
        return "there is no such file you may read."
    return describe_error(error.code, error.message, error.retry_after, until=error.until)
