from django.core.management.base import BaseCommand, CommandError

from backups.management.commands._base import find_account, user_errors
from backups.services import device_login, grants


class Command(BaseCommand):
    help = (
        "Connect a trakt account with a PIN / out-of-band code (-c CODE) or the device-code flow (--device), "
        "or refresh the grant of a connected account (no option)."
    )

    def add_arguments(self, parser):
        parser.add_argument("-u", "--user", dest="username", required=True, help="trakt username")
        how = parser.add_mutually_exclusive_group()
        how.add_argument("-c", "--code", help="the code trakt showed after authorizing the app")
        how.add_argument("--device", action="store_true", help="connect with a device code typed at trakt")
        parser.add_argument("--owner", help="Django user who owns a newly connected account (default: the only admin)")

    @user_errors
    def handle(self, *args, username, code=None, device=False, owner=None, **options):
        if code is not None or device:
            owner_user = grants.resolve_owner(owner)
            if device:
                account = self._device(owner_user, username)
            else:
                account = grants.connect_with_code(code, owner_user, expected_username=username)
            self.stdout.write(
                f"Connected the trakt account {account.username} (owner {account.owner.username}); "
                f"token valid until {account.token_expires_at:%Y-%m-%d %H:%M} UTC."
            )
            return
        account = find_account(username)
        # Refreshes unless another process replaced this very token while we waited for the lock.
        grants.refresh_grant(account, stale_access_token=account.access_token)
        self.stdout.write(
            f"Refreshed the grant of {account.username}; token valid until {account.token_expires_at:%Y-%m-%d %H:%M} UTC."
        )

    def _device(self, owner, username):
        login = device_login.start(username)
        self.stdout.write(f"Open {login.verification_url} and enter the code {login.user_code}")
        self.stdout.write(f"(signed in to trakt as {username}). Waiting for approval…")
        self.stdout.flush()
        step = device_login.wait_for_approval(login, owner, on_slow_down=self._slower)
        if step.state != "connected":
            raise CommandError(step.message.replace("Start again", "Run the command again"))
        return step.account

    def _slower(self, interval: int) -> None:
        self.stderr.write(f"trakt asked to poll more slowly; now every {interval} seconds.")
