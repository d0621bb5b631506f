from django.apps import AppConfig


class JobsConfig(AppConfig):
    """The generic durable-job table (logic in chatter_site.lib.jobs); imports no other app, so every
    app may use it, as it may use chat."""

    name = "chatter_site.jobs"
    label = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"
