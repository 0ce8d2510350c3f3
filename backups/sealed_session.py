"""What a connect in progress keeps in the session, encrypted like the tokens.

A device code or a PKCE verifier is as good as a grant for the minutes it lives, and the session table is
readable by anyone who can read the database: so such values are stored as one Fernet token (the installation's
encryption keys, ``crypto``), never as plain JSON. A value that cannot be read back (another key, tampered, an
older plain one) reads as absent.
"""

from __future__ import annotations

import json

from backups import crypto


def put(request, key: str, value: dict) -> None:
    request.session[key] = crypto.encrypt(json.dumps(value))


def get(request, key: str) -> dict | None:
    sealed = request.session.get(key)
    if not isinstance(sealed, str):
        return None
    try:
        value = json.loads(crypto.decrypt(sealed))
    except (crypto.DecryptionError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def pop(request, key: str) -> None:
    request.session.pop(key, None)
