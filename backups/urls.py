from django.urls import path

from backups import views, views_import, views_restore, views_staff

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("health", views.health, name="health"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("first-run/", views.first_run, name="first_run"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("setup/", views.app_setup, name="app_setup"),
    path("connect/", views.connect, name="connect"),
    path("connect/device/", views.connect_device, name="connect_device"),
    path("connect/device/start", views.connect_device_start, name="connect_device_start"),
    path("connect/device/poll", views.connect_device_poll, name="connect_device_poll"),
    path("connect/pin/", views.connect_pin, name="connect_pin"),
    path("connect/redirect/", views.connect_redirect, name="connect_redirect"),
    path("connect/callback", views.oauth_callback, name="oauth_callback"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
    path("accounts/<int:pk>/events/", views.account_events, name="account_events"),
    path("accounts/<int:pk>/backup", views.backup_now, name="backup_now"),
    path("accounts/<int:pk>/schedule", views.account_schedule, name="account_schedule"),
    path("accounts/<int:pk>/verify", views.account_verify, name="account_verify"),
    path("accounts/<int:pk>/disconnect/", views.account_disconnect, name="account_disconnect"),
    path("backups/<int:pk>/download", views.backup_download, name="backup_download"),
    path("backups/<int:pk>/status", views.backup_status, name="backup_status"),
    path("backups/<int:pk>/restore/", views_restore.restore_start, name="restore_start"),
    path("restores/<int:pk>/", views_restore.restore_detail, name="restore_detail"),
    path("restores/<int:pk>/status", views_restore.restore_status, name="restore_status"),
    path("restores/<int:pk>/apply", views_restore.restore_apply, name="restore_apply"),
    path("import/", views_import.import_export_page, name="import_export"),
    path("staff/doctor/", views_staff.doctor_page, name="doctor"),
]
