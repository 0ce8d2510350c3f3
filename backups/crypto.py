"""Encryption at rest for tokens and the client secret.

Values are Fernet tokens (AES-128-CBC + HMAC) made with the keys in
``settings.ENCRYPTION_KEYS``: the first key encrypts, every key decrypts, so a
new key can be put in front while the old one still reads existing rows.
A value that no key opens raises ``DecryptionError``; ciphertext is never
handed out as if it were a token.
"""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise DecryptionError("No encryption key is configured.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _reload_rotated_keys() -> None:
    """Pick up a key file rewritten by ``rotate_encryption_key`` in another process."""
    path = getattr(settings, "ENCRYPTION_KEY_FILE", None)
    if not path:
        return
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return
    if mtime != getattr(settings, "ENCRYPTION_KEY_FILE_MTIME", None):
        with open(path) as handle:
            keys = [line.strip() for line in handle if line.strip()]
        if keys:
            settings.ENCRYPTION_KEYS = keys
            settings.ENCRYPTION_KEY_FILE_MTIME = mtime


def fernet() -> MultiFernet:
    _reload_rotated_keys()
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    try:
        return fernet().decrypt(value.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError(
            "A stored secret cannot be decrypted: the encryption key does not match the one it was saved with."
        ) from exc


def rotate(value: str) -> str:
    """Re-encrypt a stored value under the first (newest) key."""
    try:
        return fernet().rotate(value.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("A stored secret cannot be decrypted with any configured key.") from exc


class EncryptedTextField(models.TextField):
    """A text column that holds only ciphertext; Python code sees plain text.

    Empty strings stay empty (nothing to hide, and "is it set?" stays cheap).
    """

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)

    # Serialization (dumpdata / loaddata) carries ciphertext, never the clear value.
    SERIALIZED_PREFIX = "encrypted:"

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        if value in (None, ""):
            return value
        return self.SERIALIZED_PREFIX + encrypt(value)

    def to_python(self, value):
        if isinstance(value, str) and value.startswith(self.SERIALIZED_PREFIX):
            return decrypt(value[len(self.SERIALIZED_PREFIX) :])
        return super().to_python(value)
