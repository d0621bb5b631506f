from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    verbose_name = "Memory"

    def ready(self) -> None:
        from chatter_site.lib.metrics import scrape_gauges_register
        from memory.reflection.jobs import reflection_gauges

        scrape_gauges_register(reflection_gauges)
