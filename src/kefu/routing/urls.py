from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "routing"

urlpatterns = [
    # The supervisor page grew into the wallboard (kefu.wallboard, docs/wallboard.md).
    path("supervisor/", RedirectView.as_view(url="/desk/wallboard/", permanent=False, query_string=True)),
    path("settings/routing/", views.routing_rules_view, name="settings_rules"),
    path(
        "settings/routing/<int:rule_id>/<str:action>/",
        views.routing_rule_action_view,
        name="settings_rule_action",
    ),
]
