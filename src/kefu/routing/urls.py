from django.urls import path

from . import views

app_name = "routing"

urlpatterns = [
    path("supervisor/", views.supervisor_view, name="supervisor"),
    path("settings/routing/", views.routing_rules_view, name="settings_rules"),
    path(
        "settings/routing/<int:rule_id>/<str:action>/",
        views.routing_rule_action_view,
        name="settings_rule_action",
    ),
]
