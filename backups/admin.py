"""The admin panel: app credentials, accounts, backups and auth events beside django-q2's own pages.

Tokens and the client secret are never shown: the secret can be replaced, not read.
"""

from __future__ import annotations

from operator import attrgetter

from django import forms
from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from backups.forms import AdminLoginForm
from backups.models import Account, ApiToken, AppCredentials, AuthEvent, Backup, Restore
from backups.services import schedules
from backups.services.backup_run import queue_backup
from backups.services.disconnect import backup_under_way, disconnect
from backups.services.grants import ServiceError, refresh_grant
from backups.untrusted import isolated


admin.site.login_form = AdminLoginForm  # the same throttle of failed logins as the app's own login page
admin.site.site_header = admin.site.site_title = "trakt-backup administration"


def trakt_text_column(path: str, description: str):
    """A column (or read-only field) holding trakt's words, ``path`` as in ``ordering`` ("account__username"):
    isolated and with hidden characters visible, so "\\u202eecila" shows as "⟨U+202E⟩ecila", never as "alice".
    (Django shows an account elsewhere, titles and links, as ``str(account)``, which is visible too.)"""
    read = attrgetter(path.replace("__", "."))

    @admin.display(description=description, ordering=path)
    def column(obj):
        return isolated(read(obj))

    column.__name__ = path  # the cell's class, "field-username", as for the plain field
    return column


USERNAME = trakt_text_column("username", "username")
ACCOUNT = trakt_text_column("account__username", "account")
DETAIL = trakt_text_column("detail", "detail")


class AppCredentialsForm(forms.ModelForm):
    client_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current one.",
    )

    class Meta:
        model = AppCredentials
        fields = ["client_id", "client_secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.pop("client_secret", None)
        if not self.instance.pk:
            self.fields["client_secret"].required = True

    def clean_client_secret(self):
        value = self.cleaned_data.get("client_secret", "")
        return value or (self.instance.client_secret if self.instance.pk else value)


@admin.register(AppCredentials)
class AppCredentialsAdmin(admin.ModelAdmin):
    form = AppCredentialsForm
    list_display = ["client_id", "secret_set", "updated"]

    @admin.display(boolean=True, description="secret set")
    def secret_set(self, obj: AppCredentials) -> bool:
        return bool(obj.client_secret)


class AuthEventInline(admin.TabularInline):
    model = AuthEvent
    extra = 0
    can_delete = False
    fields = ["created", "kind", "ok", DETAIL]
    readonly_fields = fields
    ordering = ["-created"]
    max_num = 0
    show_change_link = False


class AccountForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["owner", "backup_cron", "keep_last", "keep_monthly"]

    def clean_backup_cron(self) -> str:
        """Blank means the default schedule; anything else must pass the schedule service's check."""
        value = self.cleaned_data.get("backup_cron", "")
        try:
            return schedules.validate_cron(value) if value.strip() else ""
        except schedules.InvalidCron as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Deleting an account here deletes it for good: revoked at trakt, schedules and archives removed
    (``disconnect(account, delete_archives=True)``); one with a backup under way cannot be deleted."""

    form = AccountForm
    list_display = [USERNAME, "owner", "status", "token_valid_until", "backup_schedule", "last_backup", "keep_last",
                    "keep_monthly"]
    list_filter = ["status", "owner"]
    search_fields = ["username", "slug", "owner__username"]
    readonly_fields = [USERNAME, "slug", "trakt_id", "token_expires_at", "scope", "status", "status_detail",
                       "connected_at", "created"]
    fields = ["owner", *readonly_fields, "backup_cron", "keep_last", "keep_monthly"]
    inlines = [AuthEventInline]
    actions = ["back_up_now", "refresh_token_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner")

    @admin.display(description="token valid until", ordering="token_expires_at")
    def token_valid_until(self, obj: Account):
        return obj.token_expires_at

    @admin.display(description="backup schedule")
    def backup_schedule(self, obj: Account) -> str:
        return schedules.describe_cron(schedules.backup_cron(obj))

    @admin.display(description="last backup")
    def last_backup(self, obj: Account):
        last = obj.backups.order_by("-created").first()
        return f"{last.created:%Y-%m-%d %H:%M} {last.get_status_display()}" if last else "—"

    def save_model(self, request, obj, form, change):
        cron = obj.backup_cron
        super().save_model(request, obj, form, change)
        if "backup_cron" in form.changed_data:
            schedules.set_backup_cron(obj, cron, blank_means_default=True)

    def get_deleted_objects(self, objs, request):
        """Django's own refusal ("would require deleting protected objects") for accounts being backed up."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        busy = [f"{account}: a backup is under way; wait for it to finish" for account in objs
                if backup_under_way(account)]
        return deleted, counts, perms_needed, [*protected, *busy]

    def delete_model(self, request, obj):
        self._delete(request, obj)

    def delete_queryset(self, request, queryset):
        for account in queryset:
            self._delete(request, account)

    @staticmethod
    def _delete(request, account: Account) -> None:
        try:
            disconnect(account, delete_archives=True)
        except ServiceError as exc:  # a backup started since the confirmation page
            messages.error(request, str(exc))

    @admin.action(description="Back up now")
    def back_up_now(self, request, queryset):
        for account in queryset:
            try:
                queue_backup(account)
                messages.success(request, f"Backup of {account} queued.")
            except ServiceError as exc:
                messages.warning(request, str(exc))

    @admin.action(description="Refresh token now")
    def refresh_token_now(self, request, queryset):
        for account in queryset:
            try:
                refresh_grant(account, force=True)
                messages.success(request, f"Refreshed the token of {account}.")
            except ServiceError as exc:
                messages.error(request, str(exc))


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = ["created", ACCOUNT, "status", "trigger", "human_size", "total", "requests_made", "took",
                    "verify_ok", "pinned"]
    list_filter = ["status", "trigger", "pinned", "verify_ok", "account"]
    search_fields = ["account__username", "archive_name"]
    date_hierarchy = "created"
    readonly_fields = [f.name for f in Backup._meta.fields if f.name != "pinned"]
    list_select_related = ["account"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="size", ordering="size")
    def human_size(self, obj: Backup) -> str:
        return filesizeformat(obj.size) if obj.size else "—"

    @admin.display(description="items")
    def total(self, obj: Backup) -> int:
        return obj.total_items

    @admin.display(description="duration")
    def took(self, obj: Backup):
        return obj.duration or (timezone.now() - obj.started if obj.started and obj.is_active else "—")

    def delete_model(self, request, obj):
        from backups.services.retention import delete_backup

        delete_backup(obj)

    def delete_queryset(self, request, queryset):
        from backups.services.retention import delete_backup

        for backup in queryset.select_related("account"):
            delete_backup(backup)


@admin.register(Restore)
class RestoreAdmin(admin.ModelAdmin):
    """Restores, read only: each with its plan and what was written, per category (``categories``)."""

    list_display = ["created", ACCOUNT, "status", "trigger", "archive_name", "writes_made", "requests_made"]
    list_filter = ["status", "account"]
    search_fields = ["account__username", "archive_name", "error"]
    date_hierarchy = "created"
    readonly_fields = [f.name for f in Restore._meta.fields]
    list_select_related = ["account"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuthEvent)
class AuthEventAdmin(admin.ModelAdmin):
    list_display = ["created", ACCOUNT, "kind", "ok", DETAIL]
    list_filter = ["kind", "ok", "account"]
    search_fields = ["account__username", "detail"]
    list_select_related = ["account"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by their users on the API tokens page (shown once there); here they can be seen and
    revoked (deleted). Only the first characters show: the rest was never stored."""

    list_display = ["name", "user", "hint", "read_only", "created", "last_used"]
    list_filter = ["read_only"]
    search_fields = ["name", "user__username"]
    list_select_related = ["user"]
    fields = ["name", "user", "hint", "read_only", "created", "last_used"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
