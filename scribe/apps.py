from django.apps import AppConfig


class ScribeConfig(AppConfig):
    name = "scribe"
    verbose_name = "Scribe"

    def ready(self) -> None:
        from scribe import receivers  # noqa: F401  (connects to chat's message signal)
