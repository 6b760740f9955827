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
    path("desk/settings/presence/", views.presence_settings_view, name="presence_settings"),
]
