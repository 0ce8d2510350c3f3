"""Archives that can be trusted: `manage.py verify` re-checks each one against its recorded sha256 and the
manifest inside it; a damaged or missing archive is reported, recorded, and never used as good."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from backups.models import Backup
from backups.services.backup_run import run_backup
from tests.support import assert_archive_matches, connect_account, damage_archive, find, manage, read_archive

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def archives(trakt, admin_user, settings):
    """One good archive each for alice and bob, on the local disk."""
    if settings.ARCHIVE_STORAGE != "local":
        pytest.skip("damages archive files on the local disk")
    backups = []
    for name in ("alice", "bob"):
        backup = run_backup(connect_account(trakt, name, admin_user, profile="tiny"))
        assert backup.status == Backup.Status.SUCCESS, backup.error
        backups.append(backup)
    return backups


def _path(backup: Backup) -> Path:
    from django.conf import settings

    return Path(settings.ARCHIVE_DIR) / backup.archive_key


def _verify(trakt):
    result = manage("verify", emulator=trakt)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _line_of(stdout: str, backup: Backup) -> str:
    return next(line for line in stdout.splitlines() if backup.archive_name in line)


def test_good_archives_pass(archives, trakt):
    result = _verify(trakt)
    assert result.returncode == 0, result.stderr
    assert "2 archives checked, 0 damaged or missing." in result.stdout
    for backup in archives:
        assert _line_of(result.stdout, backup).endswith(": ok")
        backup.refresh_from_db()
        assert backup.verify_ok is True and backup.verified_at is not None


def test_a_flipped_byte_is_reported_by_name(archives, trakt):
    damaged, good = archives
    path = _path(damaged)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    result = _verify(trakt)
    assert result.returncode == 1
    assert "DAMAGED" in _line_of(result.stdout, damaged) and "checksum does not match" in _line_of(result.stdout,
                                                                                                    damaged)
    assert _line_of(result.stdout, good).endswith(": ok")
    assert result.stderr.strip().splitlines() == [
        "CommandError: 1 of 2 archives are damaged or missing (listed above)."]
    damaged.refresh_from_db(), good.refresh_from_db()
    assert damaged.verify_ok is False and good.verify_ok is True


def test_a_missing_archive_is_reported(archives, trakt):
    gone, good = archives
    _path(gone).unlink()
    result = _verify(trakt)
    assert result.returncode == 1
    assert "the archive file is missing" in _line_of(result.stdout, gone)
    gone.refresh_from_db()
    assert gone.verify_ok is False


def _rewrite(path: Path, change) -> None:
    """Rebuild the tarball with change(members: dict[name, bytes]) applied, names and order kept otherwise."""
    with tarfile.open(path, "r:gz") as tar:
        entries = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
    files = {m.name: data for m, data in entries if data is not None}
    change(files)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for member, _ in entries:
            if member.isfile() and member.name not in files:
                continue
            if member.isfile():
                member.size = len(files[member.name])
                tar.addfile(member, io.BytesIO(files.pop(member.name)))
            else:
                tar.addfile(member)
        for name, data in files.items():  # members added by the change
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(out.getvalue())


def _history(files: dict) -> str:
    return next(name for name in files if name.endswith("/sync/history.json"))


def _drop_a_play(files):
    name = _history(files)
    files[name] = json.dumps(json.loads(files[name])[1:], indent=1).encode()


def _remove_history(files):
    del files[_history(files)]


def _add_a_file(files):
    top = _history(files).split("/")[0]
    files[f"{top}/sync/extra.json"] = b"[]\n"


@pytest.mark.parametrize("change, problem", [
    (_drop_a_play, "sync/history.json does not match its checksum in the manifest"),
    (_remove_history, "sync/history.json is listed in the manifest but missing"),
    (_add_a_file, "sync/extra.json is not listed in the manifest"),
])
def test_a_tampered_member_with_a_rerecorded_checksum_is_caught_by_the_manifest(archives, trakt, change, problem):
    tampered, _ = archives
    path = _path(tampered)
    _rewrite(path, change)
    # whoever changed the file also recorded its new sha256: only the manifest inside can tell
    Backup.objects.filter(pk=tampered.pk).update(sha256=hashlib.sha256(path.read_bytes()).hexdigest())

    result = _verify(trakt)
    assert result.returncode == 1
    line = _line_of(result.stdout, tampered)
    assert "checksum does not match the one recorded" not in line
    assert problem in line, line
    tampered.refresh_from_db()
    assert tampered.verify_ok is False


def test_a_damaged_previous_archive_is_not_carried_over(archives, trakt, settings):
    """The next backup starts from trakt again, not from a damaged archive: nothing is lost."""
    damaged, _ = archives
    damage_archive(damaged.archive_key, 1 / 3)
    trakt.add_plays("alice", 3)
    backup = run_backup(damaged.account)
    assert backup.status == Backup.Status.SUCCESS, backup.error
    manifest = assert_archive_matches(_path(backup), trakt, "alice")
    assert manifest.get("incremental") is False and backup.full
    assert read_archive(_path(backup))[1]["sync/history.json"][0]["id"] == trakt.user_data("alice")[
        "/sync/history"][0]["id"]


@pytest.mark.filterwarnings("ignore:No directory at")
def test_a_damaged_archive_is_never_served_as_good(archives, trakt, admin_user):
    from django.test import Client

    damaged, _ = archives
    damage_archive(damaged.archive_key, mask=0x01)  # one bit
    assert _verify(trakt).returncode == 1

    client = Client()
    client.force_login(admin_user)
    row = find(client.get(f"/accounts/{damaged.account.pk}/"), f"#backup-{damaged.pk}")
    assert row.select(".integrity-bad"), "no indicator for the damaged archive on the account page"
    response = client.get(f"/backups/{damaged.pk}/download")
    assert response.status_code == 404 and "Content-Disposition" not in response, (
        "the damaged archive was served as a good download"
    )
