"""Settings for the textbook Channels chat of bench/baseline_chat.py.

The app's settings, with the channel layer the textbook chat was measured on (RedisPubSubChannelLayer,
one channel per consumer) and the baseline's own ASGI application.
"""
from chatter_site.settings import *  # noqa: F403
from chatter_site.settings import REDIS_URL

ASGI_APPLICATION = "bench.baseline_chat.application"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "chatter:bench:baseline"},
    }
}
