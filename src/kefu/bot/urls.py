from django.urls import path

from . import views

app_name = "bot"

urlpatterns = [
    path("bot/", views.overview_view, name="overview"),
    path("bot/unanswered/<int:turn_id>/draft/", views.draft_view, name="draft"),
    path("settings/bot/", views.settings_view, name="settings"),
    path("settings/bot/<int:setting_id>/delete/", views.delete_setting_view, name="delete"),
]
