"""The admin saves an account's schedule through the schedule service: checked the same way as on the
dashboard, and the django-q2 schedule follows."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from backups.models import Account
from backups.services import schedules
from tests.support import connect_account, find_all, signed_in

pytestmark = pytest.mark.django_db


def change_form(client, account: Account) -> dict:
    """The admin's change form of the account as the browser would send it back unchanged."""
    page = client.get(f"/admin/backups/account/{account.pk}/change/").content.decode()
    fields = {}
    for element in find_all(page, "#account_form input"):
        name = element.attrs.get("name")
        if name and element.attrs.get("type") not in ("submit", "checkbox"):
            fields[name] = element.attrs.get("value") or ""
    selected = find_all(page, "#account_form select option[selected]")
    fields["owner"] = selected[0].attrs["value"]  # the one select: the owner
    return fields


def test_a_schedule_saved_in_the_admin_moves_the_backup_schedule(trakt, alice):
    account = connect_account(trakt, "alice-trakt", alice)
    client = signed_in(alice)
    response = client.post(f"/admin/backups/account/{account.pk}/change/",
                           {**change_form(client, account), "backup_cron": " 15  3 * * 1 "})
    assert response.status_code == 302
    assert Schedule.objects.get(name=schedules.backup_schedule_name(account)).cron == "15 3 * * 1"


def test_a_bad_schedule_in_the_admin_is_refused_on_its_field(trakt, alice):
    account = connect_account(trakt, "alice-trakt", alice)
    client = signed_in(alice)
    response = client.post(f"/admin/backups/account/{account.pk}/change/",
                           {**change_form(client, account), "backup_cron": "* * * * *", "keep_last": "3"})
    assert response.status_code == 200 and "at most once an hour" in response.content.decode()
    account.refresh_from_db()
    assert account.backup_cron == "" and account.keep_last == 10
