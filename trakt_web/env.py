"""Small, strict readers for environment variables.

Every reader fails loudly with ``ImproperlyConfigured`` on a value it cannot
parse: a typo in a compose file must stop the app at start, not change its
behaviour silently.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str = "") -> str:
    """A string; ``NAME_FILE`` (a Docker secret) wins over ``NAME``."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"Unexpected value {name}={raw}, use True or False")


def envint(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"Unexpected value {name}={raw}, use a whole number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"Unexpected value {name}={raw}, use a number of at least {minimum}")
    return value


def envfloat(name: str, default: float, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"Unexpected value {name}={raw}, use a number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"Unexpected value {name}={raw}, use a number of at least {minimum}")
    return value


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envpath(name: str, default: str) -> Path:
    return Path(os.environ.get(name) or default).expanduser().resolve()


def envurl(name: str, default: str) -> str:
    """An http(s) URL without its trailing "/"; "" only when unset with an empty default (an optional URL)."""
    value = (os.environ.get(name) or default).strip()
    if not value:
        return ""
    if not value.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"Unexpected value {name}={value}, use an http:// or https:// URL")
    return value.rstrip("/")


def envnetworks(name: str) -> list:
    """A comma-separated list of addresses or networks (``172.18.0.0/16``, ``::1``): ip_network objects."""
    networks = []
    for item in envlist(name, []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"Unexpected value {name}={item}, use IP addresses or networks such as "
                                       "172.18.0.0/16, separated by commas") from None
    return networks
