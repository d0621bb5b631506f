"""Narrative APIs and the profile page (SPEC 4.4, 6.4). Thin: parse, read, render.

200 with the text (`status` "ready") or "not_enough_history"; 204 while it is being written; 404 for
an unknown subject, and for a viewer's narrative asked by anyone but that viewer or staff (so the API
tells nobody which accounts exist). The persona page is personas' (memory never imports personas).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from chatter_site.lib.api import api_errors
from chatter_site.lib.errors import ChatterError, ErrorCode
from memory.selectors import NarrativeRead, SubjectType, narrative_subject_exists, persona_known, viewer_activity_get
from memory.services.narratives import narrative_read

RETRY_AFTER_SECONDS = 2
SUBJECT_KEY_MAX = 100  # Narrative.subject_key


def _no_store(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    # A narrative changes as it is written, and a viewer's is private: no cache keeps any answer.
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    return wrapper


def _not_found(subject_type: SubjectType, subject_key: str) -> ChatterError:
    return ChatterError(ErrorCode.NOT_FOUND, f"no such {subject_type}: {subject_key}")


def _subject_exists(subject_type: SubjectType, subject_key: str) -> bool:
    if subject_type == "persona":
        return persona_known(handle=subject_key)
    return narrative_subject_exists(subject_type=subject_type, subject_key=subject_key)


def _narrative_response(*, subject_type: SubjectType, subject_key: str) -> HttpResponse:
    # NUL can arrive from the URL (%00); PostgreSQL refuses to compare text with it (a 500).
    if len(subject_key) > SUBJECT_KEY_MAX or "\x00" in subject_key or not _subject_exists(subject_type, subject_key):
        raise _not_found(subject_type, subject_key)
    read: NarrativeRead = narrative_read(subject_type=subject_type, subject_key=subject_key)
    if read.status == "ready":
        response: HttpResponse = JsonResponse(
            {
                "subject": subject_key,
                "subject_type": subject_type,
                "status": "ready",
                "text": read.text,
                "generated_at": read.generated_at.isoformat() if read.generated_at else None,
            }
        )
    elif read.status == "not_enough_history":
        response = JsonResponse(
            {
                "subject": subject_key,
                "subject_type": subject_type,
                "status": "not_enough_history",
                "text": None,
                "generated_at": None,
                "detail": f"no narrative yet: {read.reason}",
            }
        )
    else:
        response = HttpResponse(status=204)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@require_GET
@_no_store
@api_errors
def api_persona_narrative(request: HttpRequest, handle: str) -> HttpResponse:
    return _narrative_response(subject_type="persona", subject_key=handle)


@require_GET
@_no_store
@api_errors
def api_viewer_narrative(request: HttpRequest, username: str) -> HttpResponse:
    user = request.user
    if not user.is_authenticated or not (user.is_staff or user.get_username() == username):
        raise _not_found("viewer", username)
    return _narrative_response(subject_type="viewer", subject_key=username)


@require_GET
@login_required
def profile_page(request: HttpRequest) -> HttpResponse:
    username = request.user.get_username()
    return render(
        request,
        "memory/profile.html",
        {
            "activity": viewer_activity_get(user=request.user),
            "narrative_url": reverse("memory-api-viewer-narrative", kwargs={"username": username}),
        },
    )
