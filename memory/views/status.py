"""GET /api/memory/reflection/status: reflection queue depth, lag and failures (staff only, JSON)."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chat.views import json_errors
from chatter_site.lib.errors import ChatterError
from memory.selectors import reflection_status


@require_GET
@never_cache
@json_errors
def reflection_status_view(request: HttpRequest) -> JsonResponse:
    if not (request.user.is_authenticated and request.user.is_active and request.user.is_staff):
        raise ChatterError("forbidden", "staff only")
    return JsonResponse(reflection_status())
