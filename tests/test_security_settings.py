"""Production settings pass Django's deployment checks; the defaults stay usable on a LAN without TLS."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import ROOT

PRODUCTION = {
    "USE_HTTPS": "true",
    "ALLOWED_HOSTS": "backup.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://backup.example.com",
    "SITE_URL": "https://backup.example.com",
}


def check_deploy(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    environment.update(DJANGO_SETTINGS_MODULE="trakt_web.settings", DATA_DIR=str(tmp_path), **env)
    environment.pop("DEBUG", None)
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = check_deploy(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_what_is_missing_without_https(tmp_path):
    result = check_deploy(tmp_path)
    assert result.returncode != 0
    for check in ("security.W004", "security.W012", "security.W016"):  # HSTS, secure session and CSRF cookies
        assert check in result.stdout + result.stderr


def test_production_headers(client, admin_user, settings):
    settings.SECURE_SSL_REDIRECT = False
    response = client.get("/login/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "'unsafe-inline'" not in policy
