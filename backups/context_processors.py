from django.conf import settings


def app(request):
    return {
        "app_version": settings.VERSION,
        # Where the simulated trakt answers, when the banner is on (see DEMO_BANNER).
        "demo_trakt_url": settings.TRAKT_API_URL if settings.DEMO_BANNER else "",
    }
