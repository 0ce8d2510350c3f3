from django.conf import settings


def app(request):
    user = getattr(request, "user", None)  # none on a page for a request refused before the middleware (a 400)
    return {
        # Only for signed-in users: a stranger at the sign-in page learns nothing of which release runs here.
        "app_version": settings.VERSION if user is not None and user.is_authenticated else "",
        # Where the simulated trakt answers, when the banner is on (see DEMO_BANNER).
        "demo_trakt_url": settings.TRAKT_API_URL if settings.DEMO_BANNER else "",
    }
