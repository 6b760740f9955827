"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

from django.core.asgi import get_asgi_application

django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from kefu.core.outage import WebsocketHandshakeGuard  # noqa: E402
from kefu.core.threads import RequestThreads  # noqa: E402
from kefu.routing_ws import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": RequestThreads(django_asgi),
        # The guard answers a handshake whose session lookup met a database restart
        # with "come back soon" (1013) instead of a failed handshake (kefu.core.outage).
        "websocket": AllowedHostsOriginValidator(
            WebsocketHandshakeGuard(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
