from django.contrib import admin
from django.urls import include, path

from backups.api import api
from backups.site_url import same_site_next

urlpatterns = [
    # The admin's own sign-in and sign-out, with `next` held to this site's paths as on the app's pages.
    path("admin/login/", same_site_next(admin.site.login)),
    path("admin/logout/", same_site_next(admin.site.admin_view(admin.site.logout))),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("backups.urls")),
]
