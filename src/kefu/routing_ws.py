"""Websocket routes: the agent desk and the customer chat."""

from django.urls import path

from kefu.channels.consumers import ChatConsumer
from kefu.conversations.consumers import DeskConsumer

websocket_urlpatterns = [
    path("ws/desk/", DeskConsumer.as_asgi()),
    path("ws/chat/", ChatConsumer.as_asgi()),
]
