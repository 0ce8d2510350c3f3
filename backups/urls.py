from django.urls import path

from backups import views

urlpatterns = [
    path("health", views.health, name="health"),
]
