"""Checking a stored archive: its whole-file checksum, then every member against the manifest inside it."""

from __future__ import annotations

import json
import tarfile
from typing import IO

from backups.archive.digest import sha256_stream


def _member_digests(handle: IO[bytes]) -> tuple[dict | None, dict[str, str]]:
    """(the manifest, {member: sha256}) of every file in the archive."""
    manifest = None
    digests: dict[str, str] = {}
    with tarfile.open(fileobj=handle, mode="r:gz") as tar:
        for member in tar:
            extracted = tar.extractfile(member) if member.isfile() else None
            if extracted is None:
                continue
            _, _, inner = member.name.partition("/")
            if inner == "manifest.json":
                manifest = json.load(extracted)
            else:
                digests[inner] = sha256_stream(extracted)
    return manifest, digests


def verify_archive(handle: IO[bytes], expected_sha256: str | None = None) -> list[str]:
    """Problems found in an archive (an empty list means it is intact)."""
    if expected_sha256:
        if sha256_stream(handle) != expected_sha256:
            return ["the archive's checksum does not match the one recorded when it was made"]
        handle.seek(0)
    try:
        manifest, digests = _member_digests(handle)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        return [f"the archive cannot be read ({type(exc).__name__})"]
    if manifest is None:
        return ["the archive has no manifest.json"]
    listed = manifest.get("files", {})
    problems: list[str] = []
    for member, entry in listed.items():
        if member not in digests:
            problems.append(f"{member} is listed in the manifest but missing")
        elif digests[member] != entry.get("sha256"):
            problems.append(f"{member} does not match its checksum in the manifest")
    problems += [f"{member} is not listed in the manifest" for member in sorted(digests.keys() - listed.keys())]
    return problems
