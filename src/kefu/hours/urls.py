from django.urls import path

from . import views

app_name = "hours"

urlpatterns = [
    path("settings/hours/", views.hours_settings, name="settings"),
]
