from django.apps import AppConfig

from chat.presence import card_source_register, cast_source_register


class PersonasConfig(AppConfig):
    name = "personas"
    verbose_name = "Personas"

    def ready(self) -> None:
        from personas import receivers  # noqa: F401  (connects to chat's message signal)
        from personas.selectors import cast_public, persona_card

        cast_source_register(cast_public)  # the cast in each room's chatter list
        card_source_register(persona_card)  # a persona's card when a viewer clicks its name
