from django.core.management.base import BaseCommand

from backups.services.bootstrap import prepare


class Command(BaseCommand):
    help = "Prepare the data folder and the database (migrations under a lock). Safe to run on every start."

    def handle(self, *args, **options):
        prepare(verbosity=options["verbosity"])
        self.stdout.write("Ready.")
