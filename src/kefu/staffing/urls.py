from django.urls import path

from . import views

app_name = "staffing"

urlpatterns = [
    path("staffing/", views.planner, name="planner"),
    path("staffing/me/", views.my_shifts, name="me"),
    path("staffing/settings/", views.staffing_settings, name="settings"),
]
