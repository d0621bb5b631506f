"""ASGI entry point: Daphne serves HTTP and the WebSocket routes of every app."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatter_site.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry loaded)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chat.routing import websocket_urlpatterns as chat_websockets  # noqa: E402
from chatter_site.lib.wsguard import WebSocketGuard  # noqa: E402
from chatter_site.lib.wsoutage import RefuseDuringOutage  # noqa: E402
from scribe.routing import websocket_urlpatterns as scribe_websockets  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The guard is outermost: a flood of refused origins still counts against its address.
        # Inside the guard, around the session load: a database outage closes with 4503, not HTTP 500.
        "websocket": WebSocketGuard(
            RefuseDuringOutage(
                AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(chat_websockets + scribe_websockets)))
            )
        ),
    }
)
