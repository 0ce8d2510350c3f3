"""The people and accounts of the tests: app credentials, users, signed-in clients, connected trakt accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret-value"
PASSWORD = "correct-horse-battery-7"
OOB = "urn:ietf:wg:oauth:2.0:oob"


def make_user(username: str, *, superuser: bool = False, **fields):
    """A user named USERNAME with the shared PASSWORD and an address at example.com."""
    users = get_user_model().objects
    create = users.create_superuser if superuser else users.create_user
    return create(username, f"{username}@example.com", PASSWORD, **fields)


def signed_in(user, **options) -> Client:
    """A test client with USER signed in."""
    client = Client(**options)
    client.force_login(user)
    return client


def connect_account(emulator, username: str, owner, profile: str = "tiny", **user_options):
    """Seed a trakt user in the emulator and connect it through the real code exchange."""
    from backups.services.grants import connect_with_code

    emulator.add_user(username, profile=profile, **user_options)
    code = emulator.issue_code(username, redirect_uri=OOB)
    return connect_with_code(code, owner, expected_username=username)


def session_value(client: Client, key: str) -> dict | None:
    """What a view sealed into the client's session (``backups.sealed_session``: encrypted)."""
    from backups import sealed_session

    class Carrier:
        session = client.session

    return sealed_session.get(Carrier, key)


def set_session_value(client: Client, key: str, value: dict) -> None:
    """Seal ``value`` into the client's session as a view would (to move a connect's clock, swap its code)."""
    from backups import sealed_session

    class Carrier:
        session = client.session

    sealed_session.put(Carrier, key, value)
    Carrier.session.save()


def grant(user, codename: str) -> None:
    """Give USER one of the backups app's permissions ("view_all_archives", "change_appcredentials")."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="backups"))
