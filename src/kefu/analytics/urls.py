from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("me/figures/", views.my_figures, name="my_figures"),
    path("settings/targets/", views.targets_settings, name="targets"),
]
