"""Owner-only files and folders.

The data folder holds the database (tokens, encrypted, and everyone's account names), the keys that decrypt
them, and the archives (a whole trakt history each): only the user the app runs as may read them, whatever
the umask of the shell or the container that started it. Files are 0600 and folders 0700 when the app
creates them; a folder that exists keeps its mode (the operator's choice, which ``backups.checks`` warns about
when it lets others in).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """Create PATH and its missing parents as 0700 folders; PATH itself when it exists is left as it is."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode goes through the umask
    return path


def open_private(path: Path, mode: str = "wb") -> IO:
    """PATH opened for writing, emptied, as a 0600 file, whether or not it existed (a run's leftover)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def create_private_file(path: Path) -> None:
    """An empty 0600 file at PATH unless one is there. For the SQLite database: SQLite fills an empty file,
    keeps its mode, and gives the database's -wal and -shm files the same mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
