"""The one exception an upload turns into when TraceLab cannot (or must not) process it.

Shared by the web app's uploads (`tracelab.ingest`) and the contribution pool
(`tracelab.pool`); it lives outside both packages so importing it loads neither.

Why a single type: the web app shows the user one clear line for every bad upload — wrong
format, empty file, corrupt gzip, an archive that tries to escape its folder or hits a size
cap — and must not have to know which library layer noticed. Anything that is *not* a problem
of the uploaded bytes (a full disk, a bug) is deliberately not converted and bubbles up.
"""

from __future__ import annotations


class UploadRejected(ValueError):
    """The upload cannot be processed; `str(exc)` is one line meant for the user.

    `cap` names the archive safety cap that was hit (`"members"`, `"total_bytes"`,
    `"member_bytes"`, `"ratio"`) or is None for other rejections.
    """

    def __init__(self, message: str, cap: str | None = None) -> None:
        super().__init__(message)
        self.cap = cap


def human_bytes(n: float) -> str:
    """`2 GiB`, `512 MiB`, `1.5 KiB`: caps are powers of two, so binary units read best."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" or n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
