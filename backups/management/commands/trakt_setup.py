import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from backups.management.commands._base import user_errors
from backups.services.grants import set_up_app


class Command(BaseCommand):
    help = ("Check the trakt API app's Client ID with trakt and store it with the Client Secret "
            "(prompts for what is missing in a terminal).")

    def add_arguments(self, parser):
        parser.add_argument("--client-id", help="the app's Client ID")
        parser.add_argument("--client-secret", help="the app's Client Secret")

    @user_errors
    def handle(self, *args, client_id=None, client_secret=None, **options):
        interactive = sys.stdin.isatty()
        if not client_id:
            if not interactive:
                raise CommandError("Give --client-id (and --client-secret): there is no terminal to ask in.")
            client_id = input("trakt Client ID: ")
        if not client_secret:
            if not interactive:
                raise CommandError("Give --client-secret: there is no terminal to ask in.")
            client_secret = getpass.getpass("trakt Client Secret (not shown): ")
        setup = set_up_app(client_id, client_secret)
        self.stdout.write(f"Saved the trakt app {setup.credentials.client_id[:8]}… (the secret is stored encrypted).")
        (self.stdout if setup.checked else self.stderr).write(setup.note)
