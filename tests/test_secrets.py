"""Secrets stay secret: tokens and the client secret are encrypted at rest, a key rotation re-encrypts them, and
no token, code or secret ever shows in a log, an error, a command's output, the admin or an exception report.

The needles searched for are every token, code and device code the emulator ever issued during the test,
plus the client secret: whatever path leaked one, it is found.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.test import Client

from backups import crypto
from backups.models import Account, AppCredentials, AuthEvent, Backup
from backups.services.backup_run import run_backup
from backups.services.grants import ServiceError, connect_with_code, refresh_grant
from tests.support import CLIENT_SECRET, app_env, connect_account, manage

pytestmark = pytest.mark.django_db(transaction=True)


def needles(emu) -> set[str]:
    """Every secret in play: all tokens, codes and device codes the emulator issued, and the client secret."""
    state = emu.state
    with state.lock:
        found = set(state.access) | set(state.refresh) | set(state.codes) | set(state.devices)
    return found | {CLIENT_SECRET}


def assert_clean(text: str, secrets: set[str], where: str) -> None:
    leaked = sorted(s for s in secrets if s in text)
    if leaked:  # pytest.fail, not assert: the report must not print the secrets either
        pytest.fail(f"{len(leaked)} secret(s) in {where}, e.g. {leaked[0][:6]}…", pytrace=False)


def raw_rows() -> dict[str, str]:
    """The stored column values, read with plain SQL (no field decryption)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, access_token, refresh_token FROM backups_account")
        rows = {f"account {pk} {name}": value for pk, access, refresh in cursor.fetchall()
                for name, value in (("access", access), ("refresh", refresh))}
        cursor.execute("SELECT id, client_secret FROM backups_appcredentials")
        rows |= {f"app {pk} secret": value for pk, value in cursor.fetchall()}
    return rows


def database_bytes() -> bytes:
    """The SQLite file and its write-ahead log as they are on disk, read by another process: closing a file this
    process opened drops every POSIX lock it holds on that file, the SQLite connection's too, which then met
    "disk I/O error" in the tests that followed."""
    name = Path(connection.settings_dict["NAME"])
    files = [str(p) for p in (name, Path(f"{name}-wal")) if p.exists()]
    return subprocess.run(["cat", *files], capture_output=True, check=True).stdout


# -- at rest ----------------------------------------------------------------------------------------------


def test_tokens_and_the_client_secret_are_encrypted_at_rest(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    plain = {account.access_token, account.refresh_token, CLIENT_SECRET}
    rows = raw_rows()
    assert len(rows) == 3
    for where, value in rows.items():
        assert value.startswith("gAAAAA"), f"{where} is not a Fernet token"
        assert_clean(value, plain, where)
        assert crypto.decrypt(value) in plain
    if connection.vendor == "sqlite":
        raw = database_bytes()
        assert rows["account %d access" % account.pk].encode() in raw, "the file does not hold the rows"
        for secret in plain:
            assert secret.encode() not in raw, "a secret is in the database file in clear"

    result = manage("dumpdata", "--indent", "1", emulator=trakt)
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout + result.stderr, plain, "dumpdata")
    assert result.stdout.count('"encrypted:gAAAAA') == 3


# -- key rotation -----------------------------------------------------------------------------------------


def test_key_rotation_with_keys_from_the_environment_says_how(trakt, admin_user, settings):
    from cryptography.fernet import Fernet

    keys = ",".join([*settings.ENCRYPTION_KEYS, Fernet.generate_key().decode()])
    result = manage("rotate_encryption_key", env=app_env(trakt, ENCRYPTION_KEY=keys))
    assert result.returncode != 0 and "ENCRYPTION_KEY environment variable" in result.stderr
    assert "Traceback" not in result.stderr


def test_key_rotation_reencrypts_and_the_old_key_keeps_working_until_dropped(trakt, admin_user, settings, tmp_path):
    from cryptography.fernet import Fernet

    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    secrets = {"access": account.access_token, "refresh": account.refresh_token, "secret": CLIENT_SECRET}
    # The commands get a data folder of their own: the test session's key file is shared by every worker.
    data = tmp_path / "data"
    data.mkdir()
    key_file = data / "encryption.key"
    old_keys = list(settings.ENCRYPTION_KEYS)
    key_file.write_text("\n".join(old_keys) + "\n")
    env = app_env(trakt, DATA_DIR=str(data), LOG_FILE=str(tmp_path / "commands.log"))
    env.pop("ENCRYPTION_KEY", None)  # the services pass sets one; rotation works on the key file
    before = raw_rows()

    result = manage("rotate_encryption_key", env=env)
    assert result.returncode == 0, result.stderr
    assert "Re-encrypted 2 rows; 2 key(s)" in result.stdout
    keys = key_file.read_text().split()
    assert len(keys) == 2 and keys[1:] == old_keys[:1] and keys[0] not in old_keys
    after = raw_rows()
    assert set(after) == set(before) and all(after[k] != before[k] for k in before), "ciphertext unchanged"
    settings.ENCRYPTION_KEYS = keys[:1]  # the new key alone opens every row: they were re-encrypted
    assert {crypto.decrypt(v) for v in after.values()} == set(secrets.values())
    settings.ENCRYPTION_KEYS = keys  # and a value still under the old key opens with the file's keys
    assert crypto.decrypt(Fernet(old_keys[0].encode()).encrypt(b"written by an old process").decode()) == (
        "written by an old process")

    result = manage("rotate_encryption_key", "--drop-old", env=env)
    assert result.returncode == 0, result.stderr
    assert key_file.read_text().split() == keys[:1]
    assert (key_file.stat().st_mode & 0o777) == 0o600
    settings.ENCRYPTION_KEYS = keys[:1]
    stored = Account.objects.get(pk=account.pk)
    assert (stored.access_token, stored.refresh_token) == (secrets["access"], secrets["refresh"])
    assert AppCredentials.current().client_secret == CLIENT_SECRET
    with pytest.raises(crypto.DecryptionError):  # the old key is gone for good
        crypto.decrypt(Fernet(old_keys[0].encode()).encrypt(b"x").decode())

    # A process started afterwards reads the tokens and uses them.
    result = manage("trakt_backup", "-u", "alice", env=env)
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout + result.stderr, needles(trakt), "the backup's output")


# -- nowhere in logs, errors or outputs -------------------------------------------------------------------


def test_failing_runs_never_show_a_secret(trakt, admin_user, caplog):
    caplog.set_level(logging.DEBUG)  # every library too: urllib3 logs each request at DEBUG
    log_file = Path(django_settings.LOG_FILE)
    log_start = log_file.stat().st_size if log_file.exists() else 0
    outputs = []

    # a revoked grant
    alice = connect_account(trakt, "alice", admin_user, profile="tiny")
    trakt.revoke_grants("alice")
    assert run_backup(alice).status == Backup.Status.FAILED
    outputs.append(manage("trakt_backup", "-u", "alice", emulator=trakt))
    # trakt failing with 500s (commands at full verbosity: the log lines reach the terminal)
    bob = connect_account(trakt, "bob", admin_user, profile="tiny")
    trakt.inject("status", path=r"^/sync/history$", times=None, status=500)
    assert run_backup(bob).status == Backup.Status.FAILED
    outputs.append(manage("trakt_backup", "-u", "bob", "--verbosity", "3", emulator=trakt))
    trakt.clear_faults()
    # a refresh that trakt rejects
    carol = connect_account(trakt, "carol", admin_user, profile="tiny")
    trakt.inject("invalid_grant", path=r"^/oauth/token$", status=401)
    with pytest.raises(ServiceError):
        refresh_grant(carol, force=True)
    outputs.append(manage("trakt_auth", "-u", "carol", "--verbosity", "3", emulator=trakt))
    # a code of another trakt account, then a code that does not exist
    trakt.add_user("dave", profile="tiny")
    trakt.add_user("mallory", profile="tiny")
    with pytest.raises(ServiceError, match="belongs to the trakt account mallory"):
        connect_with_code(trakt.issue_code("mallory"), admin_user, expected_username="dave")
    outputs.append(manage("trakt_auth", "-u", "dave", "-c", trakt.issue_code("mallory"), "--verbosity", "3",
                          emulator=trakt))
    outputs.append(manage("trakt_auth", "-u", "dave", "-c", "f" * 64, emulator=trakt))

    secrets = needles(trakt)
    assert len(secrets) > 10
    for result in outputs:
        assert result.returncode != 0, result.stdout
        assert_clean(result.stdout + result.stderr, secrets, f"the output of a failing command ({result.args[2:4]})")
    assert_clean(caplog.text, secrets, "the captured logs (DEBUG)")
    assert any(r.levelno == logging.DEBUG and r.name.startswith("urllib3") for r in caplog.records)
    with open(log_file, "rb") as handle:
        handle.seek(log_start)
        written = handle.read().decode(errors="replace")
    assert "rejected" in written, "the log file did not get the failures"
    assert_clean(written, secrets, "the log file")
    recorded = [b.error for b in Backup.objects.all()] + [e.detail for e in AuthEvent.objects.all()] + [
        a.status_detail for a in Account.objects.all()]
    assert any("connect" in text for text in recorded)
    assert_clean("\n".join(recorded), secrets, "Backup.error / AuthEvent.detail / Account.status_detail")
    assert mail.outbox, "no notification was sent"
    assert_clean("\n".join(m.subject + m.body for m in mail.outbox), secrets, "the notifications")


@pytest.mark.filterwarnings("ignore:No directory at")
def test_the_admin_never_shows_a_secret(trakt, admin_user):
    account = connect_account(trakt, "alice", admin_user, profile="tiny")
    run_backup(account)
    client = Client()
    client.force_login(admin_user)
    creds = AppCredentials.current()
    pages = ["/admin/backups/account/", f"/admin/backups/account/{account.pk}/change/",
             "/admin/backups/appcredentials/", f"/admin/backups/appcredentials/{creds.pk}/change/",
             "/admin/backups/backup/", "/admin/backups/authevent/", "/admin/backups/appcredentials/add/"]
    secrets = needles(trakt)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_clean(response.content.decode(), secrets, url)
    assert "alice" in client.get(pages[1]).content.decode()


def test_exception_reports_hide_tokens_held_in_variables(trakt, admin_user, rf):
    from django.views.debug import ExceptionReporter

    account = connect_account(trakt, "alice", admin_user, profile="tiny")

    def call_trakt(account):  # what the client's frames hold while a request is under way
        access_token = account.access_token
        headers = {"Authorization": f"Bearer {access_token}", "trakt-api-key": "test-client-id"}
        payload = {"refresh_token": account.refresh_token, "client_secret": AppCredentials.current().client_secret}
        body = f'{{"access_token": "{access_token}"}}'
        raise RuntimeError(f"trakt answered oddly ({len(headers)}, {len(payload)}, {len(body)})")

    try:
        call_trakt(account)
    except RuntimeError:
        exc_info = sys.exc_info()
    request = rf.get(f"/accounts/{account.pk}/")
    request.user = admin_user
    reporter = ExceptionReporter(request, *exc_info)
    secrets = needles(trakt)
    assert_clean(reporter.get_traceback_text(), secrets, "the exception report (text, as mailed to admins)")
    assert_clean(reporter.get_traceback_html(), secrets, "the technical 500 page")
