"""A log filter that blanks every secret this installation holds.

Tokens never go into log calls on purpose; this filter is the second line of
defence for the ones that might slip in through a library's message (a URL, an
exception text).
"""

from __future__ import annotations

import logging
import re

from django.views.debug import SafeExceptionReporterFilter

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
