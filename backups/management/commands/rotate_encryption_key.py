from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from backups.management.commands._base import user_errors
from backups.models import Account, AppCredentials
from trakt_web import keys


def _reencrypt_all() -> int:
    """Read every secret with any key, write it back under the first one."""
    count = 0
    with transaction.atomic():
        for creds in AppCredentials.objects.select_for_update():
            creds.save(update_fields=["client_secret"])
            count += 1
        for account in Account.objects.select_for_update():
            account.save(update_fields=["access_token", "refresh_token"])
            count += 1
    return count


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token and secret under a new key, put first in DATA_DIR/encryption.key; "
        "the old keys keep decrypting until you run it again with --drop-old."
    )

    def add_arguments(self, parser):
        parser.add_argument("--drop-old", action="store_true",
                            help="re-encrypt under the newest key, then remove every other key")

    @user_errors
    def handle(self, *args, drop_old=False, **options):
        from cryptography.fernet import Fernet

        if settings.ENCRYPTION_KEY_FILE is None:
            raise CommandError("The keys come from the ENCRYPTION_KEY environment variable: put a new key first in "
                               "that list (comma separated), restart, then run this command to re-encrypt.")
        current = list(settings.ENCRYPTION_KEYS)
        if drop_old:
            count = _reencrypt_all()
            settings.ENCRYPTION_KEYS = current[:1]
            for account in Account.objects.all():  # every row must open with the newest key alone
                _ = account.access_token
            list(AppCredentials.objects.all())
        else:
            # Publish the new key first: every running process then decrypts both old and new rows.
            settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *current]
            keys.write_encryption_keys(settings.DATA_DIR, settings.ENCRYPTION_KEYS)
            count = _reencrypt_all()
        keys.write_encryption_keys(settings.DATA_DIR, settings.ENCRYPTION_KEYS)
        self.stdout.write(f"Re-encrypted {count} rows; {len(settings.ENCRYPTION_KEYS)} key(s) in encryption.key "
                          "(running processes pick the new file up by themselves).")
