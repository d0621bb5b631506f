from django.apps import AppConfig


class StreamctxConfig(AppConfig):
    name = "streamctx"
