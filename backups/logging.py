"""Logging helpers: a filter that blanks every secret this installation holds, and a formatter that keeps
each record on its own line.

Tokens never go into log calls on purpose; the filter is the second line of
defence for the ones that might slip in through a library's message (a URL, an
exception text).
"""

from __future__ import annotations

import logging
import re
import traceback

from django.views.debug import SafeExceptionReporterFilter

from backups.untrusted import for_log

# Long hex or base64-ish runs (access and refresh tokens, Fernet tokens, Bearer headers).
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"(?i)((?:access|refresh)_token|client_secret|code|token)(['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"\b[a-f0-9]{40,}\b"),
    re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: m.group(1) + m.group(2) + "[redacted]", text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: m.group(1) + "[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Exception reports (the technical 500 page, mails to admins) without tokens or secrets, DEBUG or not.

    Django hides only the variables of functions marked @sensitive_variables; the trakt client, the grant
    service and the views hold tokens in ordinary locals (``token``, ``headers``, ``payload``...).
    """

    hidden_settings = re.compile(r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|BEARER|CODE",
                                 flags=re.IGNORECASE)

    def is_active(self, request):
        return True

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self._clean(name, value))
                for name, value in super().get_traceback_frame_variables(request, tb_frame)]

    def _clean(self, name, value):
        value = self.cleanse_setting(name, value)
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self._clean("", v) for v in value)
        return value


CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _escape_keeping_lines(text: str) -> str:
    """Every hidden character escaped but the line breaks: for text whose lines are the log's own."""
    return "\n".join(for_log(line) for line in text.split("\n"))


def _chain_oldest_first(exc: traceback.TracebackException) -> list[tuple[str, traceback.TracebackException]]:
    """The exceptions of a traceback as Python prints them, each with the sentence that leads to it."""
    chain = []
    while exc is not None:
        if exc.__cause__ is not None:
            link, older = CAUSE, exc.__cause__
        elif exc.__context__ is not None and not exc.__suppress_context__:
            link, older = CONTEXT, exc.__context__
        else:
            link, older = "", None
        chain.append((link, exc))
        exc = older
    return chain[::-1]


def exception_lines(exc: traceback.TracebackException) -> list[str]:
    """A traceback in Python's own layout, but each exception's own text (its message and notes, where a name
    or trakt's words end up) escaped to one line. The frames keep their lines: Python writes them from our
    code, not from the data. An exception group's members follow it, indented."""
    lines = []
    for link, each in _chain_oldest_first(exc):
        lines.append(link)
        if each.stack:
            lines += ["Traceback (most recent call last):\n", *each.stack.format()]
        lines.append(for_log("".join(each.format_exception_only()).rstrip("\n")) + "\n")
        for number, member in enumerate(each.exceptions or (), 1):
            lines.append(f"+---------------- {number} ----------------\n")
            lines += ["  | " + line for line in "".join(exception_lines(member)).splitlines(keepends=True)]
    return lines


class OneLineFormatter(logging.Formatter):
    """Every record's message on one line, whatever it quotes (log forging).

    A username posted as "alice\\n2026-01-01 CRITICAL django.security: FORGED…" would otherwise write a line
    of its own. The formatted message is escaped as a whole (``for_log``: "\\n", "\\x1b", "\\u202e"), so every
    value in it is, from a request or from trakt, without each log call having to remember. A traceback
    follows on lines of its own, as always, with each exception's text on one line (``exception_lines``).
    """

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = for_log(self.formatMessage(record))
        if record.exc_info:
            # Always ours, never a text another formatter may have cached on the record before.
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # without exc_info when the record was formatted elsewhere: its lines are kept
            text += "\n" + _escape_keeping_lines(record.exc_text)
        if record.stack_info:
            text += "\n" + _escape_keeping_lines(self.formatStack(record.stack_info))
        return text

    def formatException(self, ei) -> str:
        if ei[0] is None:  # logged with exc_info=True outside an except block
            return "NoneType: None"
        return _escape_keeping_lines("".join(exception_lines(traceback.TracebackException(*ei))).rstrip("\n"))
