"""Forms of the dashboard. They parse input; the services do the work."""

from __future__ import annotations

from datetime import time as dt_time

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.conf import settings
from django.core.exceptions import ValidationError

from backups import login_throttle
from backups.models import AppCredentials
from backups.services import schedules

class ThrottledLoginMixin:
    """Sign-in forms (the app's and the admin's) under django-axes' throttle: the attempts of one username from
    one address take turns (``login_throttle.one_at_a_time``), and a locked pair reads a sentence saying how long
    to wait instead of "wrong password"."""

    throttled_message = ("Too many failed sign-ins for %(username)s from your address. "
                         "Wait %(minutes)s, then try again.")

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        try:
            with login_throttle.one_at_a_time(self.request, username):
                return super().clean()
        except ValidationError:
            if getattr(self.request, "axes_locked_out", False):
                minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
                raise ValidationError(self.throttled_message, code="throttled", params={
                    "username": username, "minutes": f"{minutes} minute{'s' if minutes != 1 else ''}"}) from None
            raise


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
