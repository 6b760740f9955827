"""Websocket routes: the agent desk, the customer chat and the wall screen."""

from django.urls import path

from kefu.channels.consumers import ChatConsumer
from kefu.conversations.consumers import DeskConsumer
from kefu.wallboard.consumers import DisplayConsumer

websocket_urlpatterns = [
    path("ws/desk/", DeskConsumer.as_asgi()),
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/wallboard/", DisplayConsumer.as_asgi()),
]
