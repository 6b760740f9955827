from django.urls import path

from . import views

app_name = "sla"

urlpatterns = [
    path("settings/sla/", views.sla_settings_view, name="settings"),
    path("settings/sla/new/", views.sla_policy_save_view, name="create"),
    path("settings/sla/<int:policy_id>/", views.sla_policy_save_view, name="save"),
    path("settings/sla/<int:policy_id>/delete/", views.sla_policy_delete_view, name="delete"),
]
