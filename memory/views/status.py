"""GET /api/memory/reflection/status: reflection queue depth, lag and failures (staff only, JSON)."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chatter_site.lib.api import api_errors
from chatter_site.lib.errors import ChatterError, ErrorCode
from memory.selectors import reflection_status


@require_GET
@never_cache
@api_errors
def reflection_status_view(request: HttpRequest) -> JsonResponse:
    if not (request.user.is_authenticated and request.user.is_active and request.user.is_staff):
        raise ChatterError(ErrorCode.FORBIDDEN, "staff only")
    return JsonResponse(reflection_status())
