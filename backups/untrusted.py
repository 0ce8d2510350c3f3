"""Untrusted text stays text: names and words from trakt (or typed by a user) shown, logged and linked safely.

A trakt username can hold characters that are invisible or that reorder what follows them: "\\u202eecila" (a
right-to-left override, then "ecila") reads as "alice". ``HIDDEN`` is that set: the C0 and C1 controls and
every bidirectional control (Unicode's Bidi_Control: U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069),
plus the line and paragraph separators, which some viewers break lines at.

- ``visible(text)`` for people: each hidden character becomes "⟨U+202E⟩", so the name reads as what it is;
- ``isolated(text)`` for pages: the same, in a ``<bdi>``, so right-to-left text cannot reorder its neighbours;
- ``for_log(text)`` for log files: backslash escapes ("\\n", "\\x1b", "\\u202e"), one record stays one line;
- ``trakt_link(url)``: a URL from trakt's answer, or the default when it is not one we would send people to.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
LOG_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
DEFAULT_VERIFICATION_URL = "https://trakt.tv/activate"


def visible(text) -> str:
    """``text`` with each hidden character shown as its code point: "⟨U+202E⟩ecila"."""
    return HIDDEN.sub(lambda match: f"⟨U+{ord(match.group()):04X}⟩", str(text))


def isolated(text) -> SafeString:
    """``text`` escaped for HTML, hidden characters visible, isolated from the text around it (``<bdi>``)."""
    return format_html("<bdi>{}</bdi>", visible(text))


def _log_escape(match: re.Match) -> str:
    char = match.group()
    if char in LOG_ESCAPES:
        return LOG_ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def for_log(text) -> str:
    """``text`` on one line for a log file: newlines and every other hidden character as backslash escapes.

    A backslash itself is left alone: an escape in the log may have been typed as one, but no text can start
    a line of its own."""
    return HIDDEN.sub(_log_escape, str(text))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def trakt_link(url, default: str = DEFAULT_VERIFICATION_URL) -> str:
    """``url`` if it is fit to be a link on our pages: https (with a host and no user name, whose "@" hides the
    real host), or on the trakt hosts this installation is configured with (the emulator's are plain http).
    Anything else (``javascript:``, ``data:``, ``http://`` elsewhere, hidden characters) gives ``default``."""
    url = str(url or "")
    if not url or HIDDEN.search(url) or " " in url:
        return default
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[" in the host
        return default
    if parts.scheme.lower() == "https" and parts.hostname and "@" not in parts.netloc:
        return url
    trakt_origins = {_origin(settings.TRAKT_AUTH_URL), _origin(settings.TRAKT_API_URL)}
    return url if (parts.scheme.lower(), parts.netloc.lower()) in trakt_origins else default
