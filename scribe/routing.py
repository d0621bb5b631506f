from django.urls import path

from scribe.consumers import ScribeConsumer

websocket_urlpatterns = [
    path("ws/scribe/<int:document_id>/", ScribeConsumer.as_asgi()),
]
