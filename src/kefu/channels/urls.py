"""Customer-facing pages of the channels app (the web chat) and the channels settings pages."""

from django.urls import path

from . import views

urlpatterns = [
    path("chat", views.chat_page, name="chat_page"),
    path("chat/token", views.chat_token, name="chat_token"),
    path("chat/upload", views.chat_upload, name="chat_upload"),
    path("chat/rate", views.chat_rate, name="chat_rate"),
    path("desk/settings/channels/", views.settings_channels, name="channel_settings"),
    path("desk/settings/channels/new/", views.settings_channel_new, name="channel_settings_new"),
    path(
        "desk/settings/channels/<int:channel_id>/", views.settings_channel_edit, name="channel_settings_edit"
    ),
    path(
        "desk/settings/channels/<int:channel_id>/secret/",
        views.settings_channel_rotate,
        name="channel_settings_rotate",
    ),
    path("chat/state", views.chat_state, name="chat_state"),
    path("chat/leave-message", views.chat_leave_message, name="chat_leave_message"),
]
