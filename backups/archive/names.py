"""How archives and their members are named: the one place of the naming rule."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone

SUFFIX = ".tar.gz"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(value: str, fallback: str = "item") -> str:
    """A file-name component that cannot escape its folder or break a name.

    Unicode is folded to ASCII where possible; anything else (``/``, quotes,
    control characters) becomes ``_``; leading dots are stripped so ``..`` and
    hidden names are impossible.
    """
    folded = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", folded).strip("._-")[:100]
    return cleaned or fallback


def archive_stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def archive_name(username: str, moment: datetime) -> str:
    """``backup-<username>-<UTC time>``: the archive's top folder, and its file name without ``.tar.gz``."""
    return f"backup-{safe_component(username, 'user')}-{archive_stamp(moment)}"
