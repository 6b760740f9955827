from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("me/figures/", views.my_figures, name="my_figures"),
    path("settings/targets/", views.targets_settings, name="targets"),
    path("reports/", views.reports_view, name="reports"),
    path("reports/conversations/", views.drilldown_view, name="drilldown"),
]
