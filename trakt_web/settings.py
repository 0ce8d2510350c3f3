"""Settings for trakt-backup, read from the environment (see the README: Deployment, "Environment variables")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from trakt_web import __version__, keys, private
from trakt_web.env import envbool, envfloat, envint, envlist, envnetworks, envpath, envstr, envurl

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = __version__

DATA_DIR = envpath("DATA_DIR", str(BASE_DIR / "data"))
private.private_folder(DATA_DIR)  # 0700 when created here; an existing one is checked (backups/checks.py)
ARCHIVE_DIR = envpath("ARCHIVE_DIR", str(DATA_DIR / "archives"))

SECRET_KEY = envstr("SECRET_KEY") or keys.secret_key(DATA_DIR)
# Fernet keys for tokens and the client secret, newest first (comma separated in the environment).
_ENV_ENCRYPTION_KEYS = [key.strip() for key in envstr("ENCRYPTION_KEY").split(",") if key.strip()]
ENCRYPTION_KEYS = _ENV_ENCRYPTION_KEYS or keys.encryption_keys(DATA_DIR)
# Running processes re-read this file when it changes (after rotate_encryption_key); None with ENCRYPTION_KEY.
ENCRYPTION_KEY_FILE = None if _ENV_ENCRYPTION_KEYS else DATA_DIR / "encryption.key"
# When the keys above were read: forked workers compare the file against this, not against their first use.
ENCRYPTION_KEY_FILE_MTIME = ENCRYPTION_KEY_FILE.stat().st_mtime if ENCRYPTION_KEY_FILE else None

DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = envurl("SITE_URL", "")  # every absolute URL the app hands out, when set (backups/site_url.py)
# An anonymous request (the sign-in and first-run forms) with a larger body is refused (413) before it is read.
ANONYMOUS_MAX_BODY = envint("ANONYMOUS_MAX_BODY", 64 * 1024, minimum=1024)

# Behind a TLS-terminating reverse proxy: secure cookies, HSTS and the proxy header.
USE_HTTPS = envbool("USE_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = USE_HTTPS
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", USE_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^health$"]  # the container's HEALTHCHECK speaks plain HTTP to itself
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if USE_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = USE_HTTPS
# Preloading is a commitment to HTTPS for the whole domain: opt in explicitly.
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if envbool("TRUST_PROXY_HEADERS", USE_HTTPS):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The reverse proxies whose X-Forwarded-For names the client (the sign-in throttle counts per client address).
TRUSTED_PROXIES = envnetworks("TRUSTED_PROXIES")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "axes",
    "backups",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "backups.middleware.AuthProxyMiddleware",
    "backups.middleware.PrivateResponsesMiddleware",
    "backups.middleware.AnonymousBodyLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "backups.middleware.FirstRunMiddleware",
    "backups.middleware.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the sign-in page's 429
]

ROOT_URLCONF = "trakt_web.urls"
WSGI_APPLICATION = "trakt_web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "backups.context_processors.app",
            ],
        },
    },
]

DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    SQLITE_PATH = envpath("SQLITE_PATH", str(DATA_DIR / "db.sqlite3"))
    if SQLITE_PATH.parent.is_dir():
        private.create_private_file(SQLITE_PATH)  # before SQLite creates it, readable by all (0644)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                # Writers wait up to a minute for the write lock (a token refresh holds it for its request).
                "timeout": 60,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=60000;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A database cache: shared by the web server and the workers without another service.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "trakt_backup_cache",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttle (django-axes; see backups/login_throttle.py): failures per (username, client address).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "backups.login_throttle.client_address"
AXES_USERNAME_CALLABLE = "backups.login_throttle.normalized_username"
AXES_LOCKOUT_CALLABLE = "backups.login_throttle.lockout_response"
AXES_VERBOSE = False

# Sign-in by an authenticating reverse proxy (backups/middleware.py, AuthProxyMiddleware): off without a header.
AUTH_PROXY_HEADER = envstr("AUTH_PROXY_HEADER")  # e.g. Remote-User
AUTH_PROXY_TRUSTED = envnetworks("AUTH_PROXY_TRUSTED")
AUTH_PROXY_CREATE_USERS = envbool("AUTH_PROXY_CREATE_USERS", False)

# Prometheus metrics at /metrics (backups/metrics.py): off unless one of these is set.
METRICS_TOKEN = envstr("METRICS_TOKEN")
METRICS_ALLOW = envnetworks("METRICS_ALLOW")

# Connects started from the web per minute (PIN exchanges, device codes, redirects): backups/services/connect_limits.py
CONNECT_LIMIT_PER_USER = envint("CONNECT_LIMIT_PER_USER", 10, minimum=1)
CONNECT_LIMIT_PER_INSTALLATION = envint("CONNECT_LIMIT_PER_INSTALLATION", 50, minimum=1)

# Wrong API tokens one client address may send in 10 minutes before the API answers 429 (backups/api_auth.py)
API_FAILED_TOKEN_LIMIT = envint("API_FAILED_TOKEN_LIMIT", 20, minimum=1)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = envpath("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if envbool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# Where finished archives are kept: "local" (ARCHIVE_DIR) or "s3" (any S3-compatible bucket).
# Archives are always built in ARCHIVE_DIR first; with s3 they are uploaded when complete.
ARCHIVE_STORAGE = envstr("ARCHIVE_STORAGE", "local").strip().lower()
# STORAGES["archives"] is the one place backups/storage.py finds them.
if ARCHIVE_STORAGE == "local":
    STORAGES["archives"] = {"BACKEND": "backups.storage.ArchiveFolder"}  # always ARCHIVE_DIR, read when used
    S3_REDIRECT_DOWNLOADS = False
elif ARCHIVE_STORAGE == "s3":
    STORAGES["archives"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": envstr("S3_BUCKET") or "trakt-backup",
            "endpoint_url": envstr("S3_ENDPOINT_URL") or None,
            "access_key": envstr("S3_ACCESS_KEY_ID") or None,
            "secret_key": envstr("S3_SECRET_ACCESS_KEY") or None,
            "region_name": envstr("S3_REGION") or None,
            "location": envstr("S3_PREFIX", "archives"),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": envint("S3_URL_EXPIRE", 300, minimum=10),
            "file_overwrite": True,
            "addressing_style": envstr("S3_ADDRESSING_STYLE") or None,
            # Not the guess from ".tar.gz" (tar + Content-Encoding: gzip), which makes browsers unpack the
            # download into a bare .tar; and a download, never a page.
            "object_parameters": {"ContentType": "application/gzip", "ContentDisposition": "attachment"},
        },
    }
    S3_REDIRECT_DOWNLOADS = envbool("S3_REDIRECT_DOWNLOADS", True)
else:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"Unexpected value ARCHIVE_STORAGE={ARCHIVE_STORAGE}, use local or s3")

# trakt
TRAKT_API_URL = envurl("TRAKT_API_URL", "https://api.trakt.tv")
TRAKT_AUTH_URL = envurl("TRAKT_AUTH_URL", "https://auth.trakt.tv")
# A banner on every page says the app talks to a simulated trakt (the emulator, `make demo`); by default shown
# when trakt's API is on this machine, where the real trakt never is.
DEMO_BANNER = envbool("DEMO_BANNER", urlsplit(TRAKT_API_URL).hostname in ("127.0.0.1", "localhost", "::1"))
TRAKT_TIMEOUT = envint("TRAKT_TIMEOUT", 30, minimum=1)
# Items per write of a restore (trakt meets thousands at once with 500s; its own importer sends 50).
RESTORE_BATCH = envint("RESTORE_BATCH", 100, minimum=1)
# An import of trakt's export: at most this many bytes inflated in all, and no file inflating more than this many
# times its compressed size (a heavy real export of 100,000 plays is a few hundred MB of JSON, at ratios under 30).
IMPORT_MAX_BYTES = envint("IMPORT_MAX_BYTES", 2 * 1024**3, minimum=1024)
IMPORT_MAX_RATIO = envint("IMPORT_MAX_RATIO", 200, minimum=2)
# The largest export a browser may upload (bytes); uploads are streamed to a temporary file, never held in memory.
IMPORT_MAX_UPLOAD = envint("IMPORT_MAX_UPLOAD", 512 * 1024**2, minimum=1024)
TRAKT_MAX_RETRIES = envint("TRAKT_MAX_RETRIES", 6, minimum=0)
# First retry delay in seconds; doubles with each retry (with jitter), capped at a minute.
TRAKT_BACKOFF = envfloat("TRAKT_BACKOFF", 0.5, minimum=0)
# Client-side budget of GETs per account, kept below trakt's 1000 per 5 minutes.
TRAKT_RATE_LIMIT = envint("TRAKT_RATE_LIMIT", 900, minimum=1)
TRAKT_RATE_PERIOD = envint("TRAKT_RATE_PERIOD", 300, minimum=1)
# Requests in flight at once per backup (through the rate limiter).
TRAKT_CONCURRENCY = envint("TRAKT_CONCURRENCY", 4, minimum=1)
# A page of 250 items is well under a megabyte; an answer bigger than this (after decompression) is refused
# before it fills memory.
TRAKT_MAX_RESPONSE_BYTES = envint("TRAKT_MAX_RESPONSE_BYTES", 32 * 1024 * 1024, minimum=1024 * 1024)
# A backup whose content equals the previous one shares its archive file instead of storing it twice.
DEDUP_IDENTICAL_BACKUPS = envbool("DEDUP_IDENTICAL_BACKUPS", True)
# A full backup (no carry-over) at least this often, whatever the schedule.
FULL_BACKUP_DAYS = envint("FULL_BACKUP_DAYS", 30, minimum=1)
TRAKT_OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"

# django-q2: the ORM broker by default, Redis when REDIS_URL is set.
REDIS_URL = envstr("REDIS_URL")
BACKUP_TIMEOUT = envint("BACKUP_TIMEOUT", 3600, minimum=60)
# A running backup silent this long (its process was killed, the machine restarted) is given up as failed.
BACKUP_HEARTBEAT_TIMEOUT = envint("BACKUP_HEARTBEAT_TIMEOUT", 600, minimum=60)
Q_CLUSTER = {
    "name": "trakt-backup",
    "workers": envint("WORKERS", 2, minimum=1),
    "timeout": BACKUP_TIMEOUT,
    "retry": BACKUP_TIMEOUT + 600,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 500,
    "ack_failures": True,
    "poll": 2,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Notifications (backup failed, account must be reconnected, large drop in data)
NOTIFY_EMAILS = envlist("NOTIFY_EMAILS", [])
APPRISE_URLS = envstr("APPRISE_URLS", "").split()
DROP_ALERT_PERCENT = envint("DROP_ALERT_PERCENT", 10, minimum=1)
DROP_ALERT_MIN_ITEMS = envint("DROP_ALERT_MIN_ITEMS", 20, minimum=1)
EMAIL_HOST = envstr("EMAIL_HOST") or "localhost"
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "trakt-backup@localhost")
# Email is sent only when a mail server is configured.
EMAIL_ENABLED = bool(envstr("EMAIL_HOST"))

# Exception reports never show a token or a secret, whatever the variable holding it is called.
DEFAULT_EXCEPTION_REPORTER_FILTER = "backups.logging.SecretsExceptionReporterFilter"

LOG_FILE = envstr("LOG_FILE", str(DATA_DIR / "trakt-backup.log"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "backups.logging.RedactSecretsFilter"}},
    # One line per record: newlines and other control characters in a message are escaped (log forging).
    "formatters": {"plain": {"class": "backups.logging.OneLineFormatter",
                             "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
        **(
            {"file": {"class": "logging.handlers.RotatingFileHandler", "filename": LOG_FILE, "maxBytes": 5_000_000,
                      "backupCount": 3, "formatter": "plain", "filters": ["redact"], "delay": True}}
            if LOG_FILE else {}
        ),
    },
    "root": {"handlers": ["console", *(["file"] if LOG_FILE else [])], "level": envstr("LOG_LEVEL", "INFO")},
    # axes logs every failed sign-in at INFO; its warnings (a lockout) stay
    "loggers": {"django": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
