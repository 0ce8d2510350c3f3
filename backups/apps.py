import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_schedules(sender, **kwargs):
    from backups.services import schedules

    schedules.sync_all()


def _worker_started(sender, **kwargs):
    """A worker process checks in as soon as it starts (then every few minutes, by its schedule): the doctor sees
    a worker at once. Never in the synchronous queue of the tests, where no worker runs."""
    from django_q.conf import Conf

    if Conf.SYNC:
        return
    from backups.services import doctor

    try:
        doctor.record_heartbeat()
    except Exception:  # noqa: BLE001 - a check-in must never keep a worker from working
        logging.getLogger(__name__).warning("the worker could not check in", exc_info=True)


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "trakt backups"

    def ready(self):
        from backups import checks  # noqa: F401 - registers the system checks
        # Idempotent: running migrations again never duplicates a schedule.
        post_migrate.connect(_sync_schedules, sender=self, dispatch_uid="backups-sync-schedules")
        from django_q.signals import post_spawn

        post_spawn.connect(_worker_started, dispatch_uid="backups-worker-started")
