from django.conf import settings


def app(request):
    return {"app_version": settings.VERSION}
