"""Keys generated into the data folder on first start.

A fresh install needs no configuration: the Django secret key and the
encryption key for tokens are created once, with owner-only permissions,
and reused by every process (web and workers) that shares the data folder.
Creation uses O_EXCL so two processes starting together end up with the
same key, never two different ones.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from cryptography.fernet import Fernet

from trakt_web.private import private_folder


def _read_or_create(path: Path, make) -> str:
    private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.02)
        raise RuntimeError(f"{path} exists but is empty; delete it to generate a new key")
    value = make()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def secret_key(data_dir: Path) -> str:
    return _read_or_create(data_dir / "secret.key", lambda: secrets.token_urlsafe(50))


def encryption_keys(data_dir: Path) -> list[str]:
    """Fernet keys, newest first: the first encrypts, all of them decrypt."""
    raw = _read_or_create(data_dir / "encryption.key", lambda: Fernet.generate_key().decode())
    return [line.strip() for line in raw.splitlines() if line.strip()]


def write_encryption_keys(data_dir: Path, keys: list[str]) -> None:
    path = data_dir / "encryption.key"
    tmp = path.with_suffix(".key.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
    os.replace(tmp, path)
