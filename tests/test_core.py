"""Settings, encryption at rest and the archive's naming rules."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from backups import crypto
from backups.archive import safe_component
from backups.models import Account, AppCredentials
from trakt_web import env

SECRET = "client-secret-that-must-not-leak"
ACCESS = "a" * 20 + "access-token-value"
REFRESH = "r" * 20 + "refresh-token-value"


@pytest.fixture
def stored(db, admin_user):
    AppCredentials.objects.create(client_id="cid", client_secret=SECRET)
    return Account.objects.create(owner=admin_user, username="alice", trakt_id="uuid-1",
                                  access_token=ACCESS, refresh_token=REFRESH)


def test_secrets_are_encrypted_in_the_database(stored):
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM backups_account")
        raw = " ".join(cursor.fetchone())
        cursor.execute("SELECT client_secret FROM backups_appcredentials")
        raw += " " + cursor.fetchone()[0]
    assert ACCESS not in raw and REFRESH not in raw and SECRET not in raw
    assert Account.objects.get().access_token == ACCESS
    assert AppCredentials.current().client_secret == SECRET


def test_dumpdata_holds_ciphertext_and_loaddata_restores(stored, tmp_path):
    out = io.StringIO()
    call_command("dumpdata", "backups", stdout=out)
    dump = out.getvalue()
    assert ACCESS not in dump and REFRESH not in dump and SECRET not in dump
    fixture = tmp_path / "dump.json"
    fixture.write_text(dump)
    Account.objects.all().delete()
    AppCredentials.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert Account.objects.get().refresh_token == REFRESH
    assert AppCredentials.current().client_secret == SECRET
    assert json.loads(dump)  # valid JSON


def test_wrong_key_raises_instead_of_returning_ciphertext(stored, settings):
    from cryptography.fernet import Fernet

    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError):
        Account.objects.get()


def test_old_key_still_decrypts_after_a_new_one_is_put_in_front(stored, settings):
    from cryptography.fernet import Fernet

    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.ENCRYPTION_KEYS]
    assert Account.objects.get().access_token == ACCESS


@pytest.mark.parametrize("reader, raw", [
    (lambda: env.envbool("X_TEST", False), "maybe"),
    (lambda: env.envint("X_TEST", 1), "ten"),
    (lambda: env.envint("X_TEST", 1, minimum=1), "0"),
    (lambda: env.envurl("X_TEST", "https://a"), "ftp://x"),
    (lambda: env.envfloat("X_TEST", 1.0), "fast"),
])
def test_environment_readers_fail_loudly(monkeypatch, reader, raw):
    monkeypatch.setenv("X_TEST", raw)
    with pytest.raises(ImproperlyConfigured, match="X_TEST"):
        reader()


def test_env_file_secret(monkeypatch, tmp_path):
    path = tmp_path / "secret"
    path.write_text("from-a-file\n")
    monkeypatch.setenv("X_TEST_FILE", str(path))
    assert env.envstr("X_TEST") == "from-a-file"


@pytest.mark.parametrize("hostile", ["../../etc", "a/b", "..", "/abs", "quo'te\"s", "ünïcødé", "ctl\x00\x1b\n", ""])
def test_safe_component_never_escapes(hostile):
    name = safe_component(hostile)
    assert name and "/" not in name and not name.startswith(".") and name.isprintable()
    assert all(c.isalnum() or c in "._-" for c in name)
