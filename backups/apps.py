from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_schedules(sender, **kwargs):
    from backups.services import schedules

    schedules.sync_all()


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "trakt backups"

    def ready(self):
        # Idempotent: running migrations again never duplicates a schedule.
        post_migrate.connect(_sync_schedules, sender=self, dispatch_uid="backups-sync-schedules")
