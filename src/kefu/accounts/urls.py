from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.KefuLoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.KefuPasswordChangeView.as_view(), name="password_change"),
    path("tokens/", views.tokens_view, name="tokens"),
    path("desk/audit/", views.audit_view, name="audit"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token_view, name="revoke_token"),
    path("desk/settings/", views.settings_hub, name="settings"),
    path("desk/settings/users/", views.settings_users, name="settings_users"),
    path("desk/settings/users/new/", views.settings_user_new, name="settings_user_new"),
    path("desk/settings/users/<int:user_id>/", views.settings_user_edit, name="settings_user_edit"),
    path(
        "desk/settings/users/<int:user_id>/active/", views.settings_user_active, name="settings_user_active"
    ),
    path(
        "desk/settings/users/<int:user_id>/password/",
        views.settings_user_password,
        name="settings_user_password",
    ),
    path("desk/settings/teams/", views.settings_teams, name="settings_teams"),
    path("desk/settings/teams/<int:team_id>/", views.settings_team_edit, name="settings_team_edit"),
    path("desk/settings/presence/", views.presence_settings_view, name="presence_settings"),
]
