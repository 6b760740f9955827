"""Customer-facing pages of the channels app: the web chat."""

from django.urls import path

from . import views

urlpatterns = [
    path("chat", views.chat_page, name="chat_page"),
    path("chat/token", views.chat_token, name="chat_token"),
    path("chat/upload", views.chat_upload, name="chat_upload"),
    path("chat/rate", views.chat_rate, name="chat_rate"),
    path("chat/state", views.chat_state, name="chat_state"),
    path("chat/leave-message", views.chat_leave_message, name="chat_leave_message"),
]
