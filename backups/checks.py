"""System checks run at every start (``manage.py`` commands: the Docker entrypoint's bootstrap, ``serve``,
``migrate``, the worker) and by ``manage.py check``."""

from __future__ import annotations

import stat
from pathlib import Path

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security)
def data_folder_is_private(app_configs=None, **kwargs) -> list[Warning]:
    """The data folder holds the database, the keys and the archives: warn when other users may look in."""
    folder = Path(settings.DATA_DIR)
    try:
        mode = stat.S_IMODE(folder.stat().st_mode)
    except OSError:
        return []  # a missing or unreadable folder fails loudly elsewhere, with its own sentence
    if not mode & 0o077:
        return []
    return [Warning(
        f"The data folder {folder} is open to other users of this machine (mode {mode:04o}), and it holds "
        f"the database, the keys and the archives: run `chmod 700 {folder}`.",
        id="backups.W001",
    )]
