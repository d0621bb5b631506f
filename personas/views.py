"""A persona's public page: who it is (its bio and favourite emotes, from personas), what chat saw
of it and its narrative (from memory). Thin: read, render."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from memory.selectors import PersonaProfile, persona_profile_get
from memory.views.narratives import SUBJECT_KEY_MAX
from personas.selectors import persona_by_handle


@require_GET
def persona_page(request: HttpRequest, handle: str) -> HttpResponse:
    if len(handle) > SUBJECT_KEY_MAX:
        return render(request, "personas/persona.html", {"handle": handle, "profile": None}, status=404)
    persona = persona_by_handle(handle=handle)
    profile = persona_profile_get(handle=persona.handle if persona else handle)
    if profile is None and persona is not None:  # configured, but it has not spoken yet
        profile = PersonaProfile(
            handle=persona.handle, name=persona.handle, color=persona.color, badges=list(persona.badges or []), lines=[], line_count=0
        )
    if profile is None:
        return render(request, "personas/persona.html", {"handle": handle, "profile": None}, status=404)
    return render(
        request,
        "personas/persona.html",
        {
            "handle": profile.handle,
            "profile": profile,
            "bio": persona.bio if persona else "",
            "emotes": [str(name) for name in (persona.emotes if persona else [])][:8],
            "narrative_url": reverse("memory-api-persona-narrative", kwargs={"handle": profile.handle}),
        },
    )
