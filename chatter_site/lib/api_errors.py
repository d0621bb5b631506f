"""Every error under /api/ in the one documented shape: `{"error": {"code": ..., "detail": ...}}`.

The API views answer ChatterError that way themselves (chatter_site.lib.api.api_errors); what they never see is answered by Django
before or around them: an unknown path (404), a wrong method (405 from require_GET/require_POST),
a failed CSRF check (403), a bad Host header or an oversized body (400), a crash (500). Those come
as HTML or an empty body; this middleware turns them into the same JSON a client already parses.
It sits first in MIDDLEWARE so it sees every response, including other middleware's refusals.
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

from chatter_site.lib.errors import code_for_status

API_PREFIX = "/api/"


def _detail(request: HttpRequest, response: HttpResponse) -> str:
    status = response.status_code
    if status == 404:
        return f"no API at {request.path}"
    if status == 405:
        return f"{request.method} is not allowed here; allowed: {response.get('Allow', 'none')}"
    if status == 403:
        return "forbidden (a POST from a browser needs the CSRF token)"
    if status >= 500:
        return "the server failed; the error is logged"
    return (response.reason_phrase or "error").lower()


class ApiErrorMiddleware(MiddlewareMixin):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or not request.path.startswith(API_PREFIX):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response  # the view's own error, already in shape
        status = response.status_code
        code = code_for_status(status).value
        body = JsonResponse({"error": {"code": code, "detail": _detail(request, response)}}, status=status)
        if getattr(response, "streaming", False):
            return body
        # The body is swapped in place: every header and cookie other middleware set (security
        # headers, CSP, a refreshed CSRF or session cookie) stays on the answer.
        response.content = body.content
        response["Content-Type"] = body["Content-Type"]
        if "Content-Length" in response:
            response["Content-Length"] = str(len(response.content))
        return response
