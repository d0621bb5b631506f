from django.apps import AppConfig


class ChatterSiteConfig(AppConfig):
    """Registered so the cross-app commands (`runchatter`) live beside the settings."""

    name = "chatter_site"
    verbose_name = "chatter"
