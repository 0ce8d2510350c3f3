"""Forms of the dashboard. They parse input; the services do the work."""

from __future__ import annotations

import hashlib
import math
import time
from datetime import time as dt_time

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

from backups.models import AppCredentials
from backups.services import schedules

# Failed sign-ins allowed per username and address within the window.
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW = 15 * 60


def _client_address(request) -> str:
    return (request.META.get("REMOTE_ADDR") or "unknown") if request is not None else "unknown"


def _failures_key(username: str, address: str) -> str:
    # Hashed: usernames may hold anything, cache keys may not.
    digest = hashlib.sha256(f"{username.casefold()}\n{address}".encode()).hexdigest()
    return f"login-failures:{digest}"


class ThrottledLoginMixin:
    """Refuses to even try a password after repeated failures for a username from one address.

    The failures are kept in the cache, which is the database: shared by every
    web process, so restarting one or spreading requests over several does not
    reset the count.
    """

    throttled_message = ("Too many failed sign-ins for %(username)s from your address. "
                         "Wait %(minutes)s, then try again.")

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        key = _failures_key(username, _client_address(self.request))
        now = time.time()
        failures = [t for t in cache.get(key, []) if t > now - LOGIN_FAILURE_WINDOW]
        if len(failures) >= LOGIN_FAILURE_LIMIT:
            minutes = max(1, math.ceil((failures[0] + LOGIN_FAILURE_WINDOW - now) / 60))
            raise ValidationError(
                self.throttled_message,
                code="throttled",
                params={"username": username, "minutes": f"{minutes} minute{'s' if minutes != 1 else ''}"},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            if self.cleaned_data.get("password"):
                failures.append(now)
                cache.set(key, failures[-LOGIN_FAILURE_LIMIT:], LOGIN_FAILURE_WINDOW)
            raise
        cache.delete(key)
        return cleaned


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """For ``admin.site.login_form``: the admin's own sign-in page is throttled the same way."""


class FirstUserForm(UserCreationForm):
    """The first account of an installation: its administrator."""

    email = forms.EmailField(required=False, help_text="Optional: where failure notices can go.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        user.email = self.cleaned_data.get("email", "")
        user.is_staff = user.is_superuser = True
        if commit:
            user.save()
        return user


class AppSetupForm(forms.Form):
    client_id = forms.CharField(label="Client ID", max_length=200, strip=True)
    client_secret = forms.CharField(
        label="Client Secret", max_length=500, required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, current: AppCredentials | None = None, **kwargs):
        self.current = current
        initial = kwargs.pop("initial", None) or {}
        if current is not None:
            initial.setdefault("client_id", current.client_id)
        super().__init__(*args, initial=initial, **kwargs)
        if current is not None:
            self.fields["client_secret"].help_text = "A secret is set. Leave this empty to keep it."

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("client_secret"):
            if self.current is None or not self.current.client_secret:
                self.add_error("client_secret", "Paste the Client Secret that trakt shows for your app.")
            else:
                cleaned["client_secret"] = self.current.client_secret
        return cleaned


class ExpectedUserForm(forms.Form):
    username = forms.CharField(
        label="trakt username (optional)", max_length=200, required=False, strip=True,
        help_text="If you fill this in, a code for any other trakt account is refused.",
    )


class CodeForm(ExpectedUserForm):
    code = forms.CharField(label="Code from trakt", max_length=200, strip=True,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))

    field_order = ["code", "username"]


class ScheduleForm(forms.Form):
    """How often an account is backed up: a preset (at a time of day) or a cron expression. A form that sends
    only ``cron`` (the dashboard before 0.2.0, or a script) means a custom expression."""

    frequency = forms.ChoiceField(label="Back up", choices=list(schedules.FREQUENCIES.items()), required=False)
    weekday = forms.TypedChoiceField(label="on", coerce=int, initial=6, required=False,
                                     choices=[(n, name) for n, name in enumerate(schedules.WEEKDAYS)])
    day = forms.TypedChoiceField(label="on day", coerce=int, initial=1, required=False,
                                 choices=[(n, n) for n in range(1, schedules.MONTH_DAYS + 1)])
    time = forms.TimeField(label="at", initial=dt_time(3, 0), required=False,
                           widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}))
    # The service validates (length, fields, at most hourly) and says what is wrong.
    cron = forms.CharField(label="Cron expression", required=False, strip=True,
                           widget=forms.TextInput(attrs={"spellcheck": "false", "size": 14}))

    def preset(self) -> schedules.Preset:
        """The preset asked for (call after is_valid); InvalidCron when it cannot be one."""
        data = self.cleaned_data
        frequency = data.get("frequency") or "custom"  # a form with the cron field only
        when = data.get("time")
        if when is None and frequency != "custom":
            raise schedules.InvalidCron("Give the time of day of the backup, for example 03:30.")
        weekday, day = data.get("weekday"), data.get("day")
        return schedules.Preset(frequency, when or dt_time(3, 0), weekday=6 if weekday in (None, "") else weekday,
                                day=day or 1, cron=data.get("cron", ""))

    @classmethod
    def for_cron(cls, cron: str, prefix: str) -> "ScheduleForm":
        preset = schedules.preset_of(cron)
        return cls(prefix=prefix, initial={"frequency": preset.frequency, "time": preset.time,
                                           "weekday": preset.weekday, "day": preset.day, "cron": cron})


class DisconnectForm(forms.Form):
    KEEP, DELETE = "keep", "delete"
    archives = forms.ChoiceField(
        label="Its archives",
        choices=[
            (KEEP, "Keep its archives: they stay listed and downloadable."),
            (DELETE, "Delete the account and all its archives from this server."),
        ],
        initial=KEEP,
        widget=forms.RadioSelect,
    )
