"""Content-Security-Policy on every response (CHATTER_CSP; the default is in settings).

Scripts only from our own origin: every page's code lives in static/ files and page data travels in
`json_script` blocks (type application/json, never executed), so an injection that slipped past
the escaping (the scribe page's `innerHTML` of server-rendered Markdown is the one sink) still
cannot run. Styles allow inline `style` attributes (author colours); WebSockets go to this origin.
"""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
