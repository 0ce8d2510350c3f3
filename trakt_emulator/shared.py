"""What every part of the emulator shares: media kinds, trakt's time format, slugs and stable ids."""

import calendar
import hashlib
import re
import time
import unicodedata
from datetime import datetime, timezone

# Data is anchored to a fixed instant so that generation is deterministic.
ANCHOR = calendar.timegm((2026, 7, 1, 0, 0, 0))
DAY = 86400
YEAR = 365 * DAY

MOVIE, SHOW, SEASON, EPISODE = 0, 1, 2, 3
ALL_KINDS = (MOVIE, SHOW, SEASON, EPISODE)
KIND_NAMES = ("movie", "show", "season", "episode")
ACTIONS = ("scrobble", "checkin", "watch")

HIDDEN_SECTIONS = ("calendar", "progress_watched", "progress_collected", "recommendations",
                   "comments", "dropped")
# Read by trakt's own export, served by trakt, not in its contract's list of sections (so not writable here).
RESET_SECTION = "progress_watched_reset"
SAVED_FILTER_SECTIONS = ("movies", "shows", "calendars", "search")


def iso(ts: float) -> str:
    """Unix seconds -> trakt's ISO 8601 UTC with milliseconds."""
    total_ms = int(round(ts * 1000))
    seconds, ms = divmod(total_ms, 1000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ms)


def parse_iso(value: str) -> float:
    """ISO 8601 (``Z``, offsets, or a bare date) -> unix seconds; ValueError if bad."""
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def slugify(text: str, fallback: str = "item") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    ascii_text = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    return ascii_text or fallback


def unique_slug(base: str, taken) -> str:
    """`base`, or `base-2`, `base-3`... : the first that `taken(slug)` refuses."""
    slug, suffix = base, 2
    while taken(slug):
        slug, suffix = "%s-%d" % (base, suffix), suffix + 1
    return slug


def stable_int(*parts) -> int:
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def user_uuid(username: str) -> str:
    h = hashlib.sha1(("trakt-emulator:" + username).encode("utf-8")).hexdigest()
    return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


def as_int(value, default):
    """`value` as an int (strings with spaces too), or `default`."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def compact_number(x):
    """3.0 -> 3, 2.5 -> 2.5: how trakt writes whole seconds."""
    return int(x) if float(x).is_integer() else x
