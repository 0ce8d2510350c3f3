"""The dashboard's views: thin, they parse input and call the services.

Every object is looked up through ``backups.access``; every change is a POST
(CSRF-protected by Django's middleware); every failure a user can meet is
shown as a sentence that says what happened and what to do.
"""

from __future__ import annotations

import secrets
import time

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousFileOperation
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Count, Prefetch
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_q.models import Schedule

from backups import sealed_session, storage
from backups.access import accounts_for_user, get_account_for_user, get_backup_for_user, permission_required
from backups.forms import (
    AppSetupForm, CodeForm, DisconnectForm, ExpectedUserForm, FirstUserForm, LoginForm, ScheduleForm,
)
from backups.models import Account, AppCredentials, Backup, ConnectAttempt
from backups.services import connect_limits, device_login, grants, schedules
from backups.services.backup_run import queue_backup
from backups.services.disconnect import BackupUnderWay, backup_under_way, disconnect
from backups.services import integrity
from backups.services.grants import NotConfigured, ServiceError
from backups.site_url import absolute_url, is_same_site_path, unset_address_settings
from backups.untrusted import visible

TRAKT_NEW_APP_URL = "https://trakt.tv/oauth/applications/new"
RECENT_BACKUPS = 5  # per account on the dashboard; the account page pages through all of them
BACKUPS_PER_PAGE = 20
EVENTS_PER_PAGE = 50

DEVICE_SESSION_KEY = "device_login"
REDIRECT_SESSION_KEY = "oauth_redirect"
REDIRECT_PENDING_SECONDS = 10 * 60  # a redirect connect not answered by then has expired


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says: send them to the app's icon."""
    return redirect(static("img/icon.svg"), permanent=True)


def health(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


# -- first run and signing in -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def first_run(request: HttpRequest) -> HttpResponse:
    """Create the installation's first user (an admin). Gone for good once any user exists."""
    User = get_user_model()
    if User.objects.exists():
        raise Http404("This installation has its admin already: sign in instead.")
    form = FirstUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            if User.objects.exists():  # someone else was quicker
                raise Http404("This installation has its admin already: sign in instead.")
            user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if AppCredentials.current() is not None:  # set up already (`make demo`, or a restored database)
            messages.success(request, f"Welcome, {user.username}: you are this installation's admin. "
                                      "The trakt API app is set up: connect a trakt account.")
            return redirect("connect_device")
        messages.success(request, f"Welcome, {user.username}: you are this installation's admin. "
                                  "Next, set up the trakt API app.")
        return redirect("app_setup")
    return render(request, "front/first_run.html", {"form": form, "address_unset": unset_address_settings()})


class SameSiteRedirectMixin:
    """``next`` is followed only to a path of this site, whatever the Host header says (Django's own check
    accepts the request's host, which a client can forge while ALLOWED_HOSTS is ``*``)."""

    def get_redirect_url(self) -> str:
        target = super().get_redirect_url()
        return target if is_same_site_path(target) else ""


class LoginView(SameSiteRedirectMixin, auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(SameSiteRedirectMixin, auth_views.LogoutView):
    pass


logout_view = LogoutView.as_view()


# -- the trakt API app ------------------------------------------------------------------------


def callback_url(request: HttpRequest) -> str:
    """This installation's redirect URI: under SITE_URL when set (behind a proxy), else under this request's."""
    return absolute_url(reverse("oauth_callback"), request)


@login_required
@permission_required("backups.change_appcredentials", to="change the trakt app's credentials")
@require_http_methods(["GET", "POST"])
def app_setup(request: HttpRequest) -> HttpResponse:
    current = AppCredentials.current()
    form = AppSetupForm(request.POST or None, current=current)
    if request.method == "POST" and form.is_valid():
        try:
            setup = grants.set_up_app(form.cleaned_data["client_id"], form.cleaned_data["client_secret"])
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            tell = messages.success if setup.checked else messages.warning
            tell(request, f"The trakt app is saved. {setup.note} Now connect a trakt account.")
            return redirect("connect_device")
    return render(request, "front/app_setup.html", {
        "form": form,
        "current": current,
        "new_app_url": TRAKT_NEW_APP_URL,
        "redirect_uris": [settings.TRAKT_OOB_REDIRECT_URI, callback_url(request)],
        "address_unset": unset_address_settings(),
    })


# -- connecting a trakt account -----------------------------------------------------------------


def _connect_context(request: HttpRequest, method: str, **extra) -> dict:
    return {"method": method, "configured": AppCredentials.current() is not None, **extra}


def _expected_username(value: str | None) -> str | None:
    return (value or "").strip()[:200] or None


def _connected(request: HttpRequest, account: Account) -> HttpResponse:
    messages.success(request, f"Connected the trakt account {account.username}. Its first backup can start now.")
    return redirect(reverse("dashboard") + f"#account-{account.pk}")


@login_required
def connect(request: HttpRequest) -> HttpResponse:
    return redirect("connect_device")


def _device_login(request: HttpRequest) -> device_login.DeviceLogin | None:
    return device_login.DeviceLogin.from_dict(sealed_session.get(request, DEVICE_SESSION_KEY))


def _keep_device_login(request: HttpRequest, device: device_login.DeviceLogin) -> None:
    sealed_session.put(request, DEVICE_SESSION_KEY, device.as_dict())
    request.session.save()  # now, not after trakt answers: a second tab polling at once sees this poll


@login_required
@require_GET
def connect_device(request: HttpRequest) -> HttpResponse:
    device = _device_login(request)
    form = ExpectedUserForm(initial={"username": request.GET.get("username", "")[:200]})
    qr = None
    if device is not None and device.expired():
        sealed_session.pop(request, DEVICE_SESSION_KEY)
        messages.error(request, device_login.EXPIRED_MESSAGE)
        device = None
    if device is not None:
        qr = segno.make(device.verification_url, error="m").svg_inline(
            scale=5, border=2, dark="#000", light="#fff", omitsize=True)
        form = ExpectedUserForm(initial={"username": device.username or ""})
    return render(request, "connect/device.html", _connect_context(request, "device", device=device, qr=qr, form=form))


@login_required
@require_POST
def connect_device_start(request: HttpRequest) -> HttpResponse:
    form = ExpectedUserForm(request.POST)
    sealed_session.pop(request, DEVICE_SESSION_KEY)
    if not form.is_valid():
        return render(request, "connect/device.html", _connect_context(request, "device", form=form))
    try:
        connect_limits.take(request.user, ConnectAttempt.Kind.DEVICE)
        device = device_login.start(_expected_username(form.cleaned_data["username"]))
    except NotConfigured:
        return render(request, "connect/device.html", _connect_context(request, "device", form=form, configured=False))
    except ServiceError as exc:
        form.add_error(None, str(exc))
        return render(request, "connect/device.html", _connect_context(request, "device", form=form))
    sealed_session.put(request, DEVICE_SESSION_KEY, device.as_dict())
    return redirect("connect_device")


@login_required
@require_POST
def connect_device_poll(request: HttpRequest) -> JsonResponse:
    """One poll of trakt for the browser's device login; the service never polls faster than trakt's interval."""
    device = _device_login(request)
    if device is None:
        return JsonResponse({"state": "invalid", "done": True,
                             "message": "There is no device login under way. Start again to get a code."})
    step = device_login.poll(device, request.user, before_asking=lambda moved: _keep_device_login(request, moved))
    if step.done:
        sealed_session.pop(request, DEVICE_SESSION_KEY)
    else:
        sealed_session.put(request, DEVICE_SESSION_KEY, device.as_dict())
    # The page shows the message as text; a trakt username in it has its hidden characters visible.
    answer = {"state": step.state, "done": step.done, "message": visible(step.message)}
    if step.state == "wait":
        answer["wait"] = step.wait
    if not step.done:
        answer["interval"] = device.interval
    if step.state == "connected":
        messages.success(request, f"Connected the trakt account {step.account.username}. "
                                  "Its first backup can start now.")
        answer["redirect"] = reverse("dashboard") + f"#account-{step.account.pk}"
    return JsonResponse(answer)


@login_required
@require_http_methods(["GET", "POST"])
def connect_pin(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST or None, initial={"username": request.GET.get("username", "")[:200]})
    configured = AppCredentials.current() is not None
    if request.method == "POST" and form.is_valid():
        try:
            connect_limits.take(request.user, ConnectAttempt.Kind.PIN)
            account = grants.connect_with_code(
                form.cleaned_data["code"], request.user,
                expected_username=_expected_username(form.cleaned_data["username"]),
                redirect_uri=settings.TRAKT_OOB_REDIRECT_URI,
            )
        except NotConfigured:
            configured = False
        except ServiceError as exc:
            form.add_error("code" if not isinstance(exc, grants.WrongAccount) else "username", str(exc))
        else:
            return _connected(request, account)
    authorize = None
    if configured:
        # The state never comes back to us with an out-of-band code; trakt still wants one.
        authorize = grants.authorize_url(settings.TRAKT_OOB_REDIRECT_URI, secrets.token_urlsafe(16))
    return render(request, "connect/pin.html",
                  _connect_context(request, "pin", form=form, authorize_url=authorize, configured=configured))


@login_required
@require_http_methods(["GET", "POST"])
def connect_redirect(request: HttpRequest) -> HttpResponse:
    form = ExpectedUserForm(request.POST or None, initial={"username": request.GET.get("username", "")[:200]})
    configured = AppCredentials.current() is not None
    if request.method == "POST" and form.is_valid() and configured:
        try:
            connect_limits.take(request.user, ConnectAttempt.Kind.REDIRECT)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            return _start_redirect(request, _expected_username(form.cleaned_data["username"]))
    return render(request, "connect/redirect.html", _connect_context(
        request, "redirect", form=form, configured=configured, callback_url=callback_url(request)))


def _start_redirect(request: HttpRequest, username: str | None) -> HttpResponse:
    state = secrets.token_urlsafe(24)
    verifier, challenge = grants.pkce_pair()
    redirect_uri = callback_url(request)
    sealed_session.put(request, REDIRECT_SESSION_KEY, {
        "state": state, "verifier": verifier, "redirect_uri": redirect_uri, "username": username,
        "started": time.time(),
    })
    return redirect(grants.authorize_url(redirect_uri, state, challenge))


def _pending_redirect(request: HttpRequest) -> tuple[dict | None, str]:
    """The connect this callback answers, taken out of the session; or None and the reason. A callback whose
    state does not match leaves the pending connect as it is (anyone can send a browser here)."""
    pending = sealed_session.get(request, REDIRECT_SESSION_KEY)
    state = request.GET.get("state", "")
    if pending is None or not state or not secrets.compare_digest(state, str(pending.get("state"))):
        return None, ("The answer from trakt does not match a sign-in started from this browser (the state differs, "
                      "or it was used already). Nothing was stored. Start again from this page.")
    sealed_session.pop(request, REDIRECT_SESSION_KEY)
    if time.time() - float(pending.get("started") or 0) > REDIRECT_PENDING_SECONDS:
        return None, ("This sign-in was started more than ten minutes ago and has expired. Nothing was stored. "
                      "Start again from this page.")
    return pending, ""


@login_required
@require_GET
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """trakt sends the browser back here with ?code=…&state=… (or ?error=…)."""
    pending, problem = _pending_redirect(request)
    if pending is None:
        return render(request, "connect/callback_error.html", {
            "title": "This sign-in did not start here", "message": problem}, status=400)
    if request.GET.get("error"):
        denied = request.GET["error"] == "access_denied"
        return render(request, "connect/callback_error.html", {
            "title": "trakt did not connect the account",
            "message": "You denied the request at trakt. Start again if that was a mistake." if denied else
                       f"trakt answered with an error ({request.GET['error'][:100]}). Start again.",
        }, status=400)
    try:
        account = grants.connect_with_code(
            request.GET.get("code", ""), request.user, expected_username=pending.get("username"),
            redirect_uri=pending["redirect_uri"], code_verifier=pending["verifier"],
        )
    except ServiceError as exc:
        return render(request, "connect/callback_error.html", {
            "title": "The account could not be connected", "message": str(exc),
            "not_configured": isinstance(exc, NotConfigured),
        }, status=400)
    return _connected(request, account)


# -- the dashboard ------------------------------------------------------------------------------


def _with_schedules(accounts: list[Account]) -> list[Account]:
    """Schedule words and next run of every account, in one query for all of them."""
    names = {schedules.backup_schedule_name(a): a for a in accounts}
    next_runs = dict(Schedule.objects.filter(name__in=names).values_list("name", "next_run"))
    for name, account in names.items():
        account.cron = schedules.backup_cron(account)
        account.cron_words = schedules.describe_schedule(account.cron)
        account.schedule_form = ScheduleForm.for_cron(account.cron, prefix=f"a{account.pk}")
        account.next_backup_at = next_runs.get(name)
    return accounts


def _dashboard_accounts(request: HttpRequest) -> list[Account]:
    recent = Backup.objects.select_related("same_as").order_by("-created", "-id")[:RECENT_BACKUPS]
    accounts = list(
        accounts_for_user(request)
        .annotate(backup_count=Count("backups"))
        .prefetch_related(Prefetch("backups", queryset=recent, to_attr="recent_backups"))
    )
    for account in accounts:
        account.last_backup = account.recent_backups[0] if account.recent_backups else None
    return _with_schedules(accounts)


def _render_dashboard(request: HttpRequest, schedule_errors: dict | None = None, status: int = 200) -> HttpResponse:
    accounts = _dashboard_accounts(request)
    for account in accounts:  # a schedule that could not be saved is shown as it was sent, with the reason
        account.schedule_form, account.schedule_error = (schedule_errors or {}).get(
            account.pk, (account.schedule_form, None))
    return render(request, "front/dashboard.html", {
        "accounts": accounts,
        "configured": AppCredentials.current() is not None,
    }, status=status)


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return _render_dashboard(request)


@login_required
@require_GET
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request, pk, read=True)
    _with_schedules([account])
    backups = account.backups.select_related("same_as").order_by("-created", "-id")
    page = Paginator(backups, BACKUPS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "accounts/detail.html", {
        "account": account, "page": page, "is_owner": account.owner_id == request.user.pk,
    })


@login_required
@require_GET
def account_events(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request, pk, read=True)
    page = Paginator(account.auth_events.all(), EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "accounts/events.html", {"account": account, "page": page})


def _back_to(request: HttpRequest, account: Account) -> HttpResponse:
    """Back where the form was (the dashboard or the account's page), at the account."""
    target = request.POST.get("next", "")
    if not is_same_site_path(target):
        target = reverse("dashboard") + f"#account-{account.pk}"
    return redirect(target)


@login_required
@require_POST
def backup_now(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request, pk)
    full = request.POST.get("full") == "1"  # fetch everything, carry nothing over from the previous archive
    try:
        backup = queue_backup(account, Backup.Trigger.MANUAL, full=full)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        if backup.status == Backup.Status.SUCCESS:
            messages.success(request, f"The backup of {account.username} is done.")
        elif backup.status == Backup.Status.FAILED:
            messages.error(request, f"The backup of {account.username} failed: {backup.error}")
        else:
            messages.success(request, f"The backup of {account.username} has started; it shows its progress below.")
    return _back_to(request, account)


@login_required
@require_POST
def account_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request, pk)
    form = ScheduleForm(request.POST, prefix=f"a{account.pk}")
    try:
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise schedules.InvalidCron(f"{form.fields[field].label}: {errors[0]}")
        cron = schedules.set_backup_cron(account, form.preset().to_cron())
    except schedules.InvalidCron as exc:
        if request.POST.get("next"):  # from the account's page
            messages.error(request, str(exc))
            return _back_to(request, account)
        return _render_dashboard(request, {account.pk: (form, str(exc))}, status=400)
    messages.success(request, f"{account.username} is now backed up {schedules.describe_schedule(cron)} "
                              f"({timezone.get_current_timezone_name()} time).")
    return _back_to(request, account)


@login_required
@require_http_methods(["GET", "POST"])
def account_disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request, pk)
    form = DisconnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        delete_archives = form.cleaned_data["archives"] == DisconnectForm.DELETE
        username = account.username
        try:
            disconnect(account, delete_archives)
        except BackupUnderWay as exc:
            messages.error(request, str(exc))
            return redirect("account_disconnect", pk=account.pk)
        if delete_archives:
            messages.success(request, f"Disconnected {username} and deleted its archives.")
        else:
            messages.success(request, f"Disconnected {username}. Its archives are kept below; "
                                      "connect it again at any time to resume its backups.")
        return redirect("dashboard")
    running = backup_under_way(account)
    return render(request, "accounts/disconnect.html", {
        "account": account, "form": form, "running": running, "backup_count": account.backups.count(),
    })


# -- backups ---------------------------------------------------------------------------------------


def served_archive_key(backup: Backup) -> str | None:
    """The storage key of the backup's archive, if it has one and it is there."""
    if backup.status != Backup.Status.SUCCESS or not backup.archive_key or backup.verify_ok is False:
        return None  # a damaged archive is never served as good
    try:
        return backup.archive_key if storage.exists(backup.archive_key) else None
    except SuspiciousFileOperation:
        return None


@login_required
@require_GET
def backup_download(request: HttpRequest, pk: int) -> HttpResponse:
    backup = get_backup_for_user(request, pk)
    key = served_archive_key(backup)
    if key is None:
        return render(request, "backups/missing.html", {"backup": backup}, status=404)
    return archive_response(backup, key)


def archive_response(backup: Backup, key: str) -> HttpResponse:
    """The archive under ``key`` as the backup's download (the page's and the API's)."""
    signed = storage.signed_url(key, backup.download_name)
    if signed:  # S3: the bucket serves it, with a link that expires in minutes
        return redirect(signed)
    return FileResponse(storage.open_archive(key), as_attachment=True, filename=backup.download_name,
                        content_type="application/gzip")


@login_required
@require_POST
def account_verify(request: HttpRequest, pk: int) -> HttpResponse:
    """Re-check every archive of the account against its checksums and manifest."""
    account = get_account_for_user(request, pk)
    findings = integrity.verify_all(account)
    bad = [f for f in findings if f.problems]
    name, total = account.username, len(findings)
    if bad:
        which = (f"The archive of {name} is" if total == 1
                 else f"{len(bad)} of the {total} archives of {name} {'is' if len(bad) == 1 else 'are'}")
        messages.error(request, f"{which} damaged or missing: marked below and not offered for download.")
    elif total == 0:
        messages.info(request, f"{name} has no archive to check yet.")
    elif total == 1:
        messages.success(request, f"The archive of {name} matches its checksums.")
    else:
        messages.success(request, f"All {total} archives of {name} match their checksums.")
    return _back_to(request, account)


@login_required
@require_GET
def backup_status(request: HttpRequest, pk: int) -> JsonResponse:
    """A backup's progress and its table row, polled by the dashboard while it runs."""
    backup = get_backup_for_user(request, pk)
    context = {"backup": backup, "account": backup.account}
    row = render_to_string("backups/_row.html", context, request=request)
    summary = render_to_string("backups/_summary.html", context, request=request)
    return JsonResponse({
        "status": backup.status,
        "active": backup.is_active,
        "categories_done": backup.categories_done,
        "categories_total": backup.categories_total,
        "pages_fetched": backup.pages_fetched,
        "html": row,
        "summary": summary.strip(),
    })
