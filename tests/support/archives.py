"""Archives as tests see them: read one, copy one out of the storage, damage one, compare one with trakt."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path


def read_archive(path: Path) -> tuple[dict, dict[str, object]]:
    """(manifest, {member path inside the top folder: parsed JSON}) of an archive."""
    files: dict[str, object] = {}
    manifest = None
    top = path.name[: -len(".tar.gz")]
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            assert member.name == top or member.name.startswith(top + "/"), member.name
            if not member.isfile():
                continue
            inner = member.name[len(top) + 1 :]
            data = json.load(tar.extractfile(member))
            if inner == "manifest.json":
                manifest = data
            else:
                files[inner] = data
    assert manifest is not None, "archive has no manifest.json"
    return manifest, files


def assert_archive_matches(path: Path, emulator, username: str) -> dict:
    """Every file equals the emulator's data for its endpoint; every item appears exactly once."""
    manifest, files = read_archive(path)
    expected = emulator.user_data(username)
    assert manifest["username"] == username
    assert manifest["format_version"] == 1
    assert set(files) == set(manifest["files"]), "manifest and archive disagree"
    for member, entry in manifest["files"].items():
        assert files[member] == expected[entry["endpoint"]], f"{member} differs from trakt's data"
        if isinstance(files[member], list):
            assert entry["items"] == len(files[member])
            if "item_count" in entry:
                assert entry["item_count"] == len(files[member])
    history = files["sync/history.json"]
    assert len({item["id"] for item in history}) == len(history)
    return manifest


def archive_copy(key: str, folder: Path) -> Path:
    """A local copy of the archive stored under ``key``, wherever the archive storage keeps it (the data
    folder, or the bucket of the services pass), named as the archive so that read_archive can open it."""
    from backups import storage

    copy = folder / key
    copy.parent.mkdir(parents=True, exist_ok=True)
    with storage.open_archive(key) as source, open(copy, "wb") as target:
        shutil.copyfileobj(source, target)
    return copy


def local_archive(backup, folder: Path) -> Path:
    """A backup's archive as a local file: in place with local storage, a copy from the bucket with S3."""
    from backups import storage

    return storage.local_path(backup.archive_key) or archive_copy(backup.archive_key, folder)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damage_archive(key: str, where: float = 0.5, mask: int = 0xFF) -> None:
    """Flip the bits MASK of one byte of a stored archive (bit rot), wherever the archive storage keeps it."""
    from django.core.files.base import ContentFile

    from backups import storage

    with storage.open_archive(key) as handle:
        data = bytearray(handle.read())
    data[int(len(data) * where)] ^= mask
    storage.delete(key)
    storage.storage().save(key, ContentFile(bytes(data)))


def empty_archive_bucket() -> None:
    """With S3 storage (the services pass), each test starts from an empty prefix, as tmp_path gives locally."""
    from backups import storage

    if not storage.is_local():
        backend = storage.storage()
        backend.bucket.objects.filter(Prefix=backend.location.strip("/") + "/").delete()
