"""What every JSON API view shares: the error decorator and request bodies parsed into schemas.

Errors answer in the one documented shape `{"error": {"code": ..., "detail": ...}}` with the status of
chatter_site.lib.errors.HTTP_STATUS; what never reaches a view is shaped by ApiErrorMiddleware.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse, JsonResponse
from pydantic import TypeAdapter

from chatter_site.lib.errors import ChatterError, ErrorCode, schema_validate
from chatter_site.lib.untrusted_json import json_loads_untrusted

M = TypeVar("M")
_REQUIRED: Any = object()


def error_response(error: ChatterError) -> JsonResponse:
    return JsonResponse({"error": error.as_body()}, status=error.http_status)


def api_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view whose ChatterError becomes the API's JSON error answer."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ChatterError as error:
            return error_response(error)

    return wrapper


def json_body(request: HttpRequest, *, max_bytes: int | None = None, empty: Any = _REQUIRED) -> Any:
    """The request's JSON body (`empty` stands in for no body when given); ChatterError otherwise."""
    if max_bytes is not None and len(request.body) > max_bytes:
        raise ChatterError(ErrorCode.TOO_LARGE, f"request body over {max_bytes} bytes")
    if not request.body and empty is not _REQUIRED:
        return empty
    try:
        return json_loads_untrusted(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ChatterError(ErrorCode.INVALID, "the body must be JSON") from None


def body_parse(
    request: HttpRequest, schema: type[M] | TypeAdapter[M], *, max_bytes: int | None = None, empty: Any = _REQUIRED
) -> M:
    """The request's JSON body checked against a pydantic schema; ChatterError `invalid` otherwise."""
    return schema_validate(schema, json_body(request, max_bytes=max_bytes, empty=empty), root="body")
