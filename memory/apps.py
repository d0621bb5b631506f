from django.apps import AppConfig

from chatter_site.lib.metrics import scrape_gauges_register


class MemoryConfig(AppConfig):
    name = "memory"
    verbose_name = "Memory"

    def ready(self) -> None:
        # Imported here: the selectors import models, which load only once the registry is ready.
        from memory.jobs import memory_job_kinds_register
        from memory.selectors import reflection_gauges

        scrape_gauges_register(reflection_gauges)
        memory_job_kinds_register()
