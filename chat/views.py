"""Pages and JSON APIs of the chat app (SPEC 4.4). Thin: parse, call a selector/service, render."""
from __future__ import annotations

import ipaddress
import secrets

from django.conf import settings
from django.contrib.auth import login, views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from chat import moderation, selectors, signin
from chat.forms import SignupForm
from chat.signin import SignInForm
from chatter_site.lib.api import api_errors, json_body
from chatter_site.lib.clientaddr import request_client_ip
from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.metrics import render_latest
from chatter_site.lib.redis import redis_client

INITIAL_HISTORY = 50
MAX_PAGE = 500


def _int_param(request: HttpRequest, name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ChatterError(ErrorCode.INVALID, f"{name} must be an integer") from None
    if not minimum <= value <= maximum:
        raise ChatterError(ErrorCode.INVALID, f"{name} must be between {minimum} and {maximum}")
    return value


# --- pages -----------------------------------------------------------------------------------
@require_GET
def room_list(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/room_list.html", {"rooms": selectors.rooms_list()})


def _room_bootstrap(request: HttpRequest, room, *, history: list[dict]) -> dict:
    """What the room client (static/chat/room.js) starts from."""
    return {
        "room": room.slug,
        "history": history,
        "context": selectors.context_latest(room=room),
        "trends": selectors.trends_latest(room=room),
        "signedIn": request.user.is_authenticated,
        "maxLength": settings.CHAT_MAX_MESSAGE_LENGTH,
        "emotes": selectors.room_emotes(room=room),
        "allowedDomains": list(settings.CHAT_ALLOWED_LINK_DOMAINS),
    }


@require_GET
def room_page(request: HttpRequest, slug: str, popout: bool = False) -> HttpResponse:
    """The chat page; `popout` is the same chat alone in a small window (`/rooms/<slug>/chat/`)."""
    try:
        room = selectors.room_get(slug=slug)
    except ChatterError:
        return render(request, "chat/room_missing.html", {"slug": slug}, status=404)
    history = selectors.messages_recent(room=room, limit=INITIAL_HISTORY)
    return render(
        request,
        "chat/room.html",
        {"room": room, "history": history, "popout": popout, "bootstrap": _room_bootstrap(request, room, history=history)},
    )


class SignInView(auth_views.LoginView):
    """The site's sign-in, throttled per name and per address (chat.signin)."""

    form_class = SignInForm

    def form_invalid(self, form) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response


# Overlay query options: name -> (default, minimum, maximum). Seconds of 0 never fade.
OVERLAY_OPTIONS = {"font": (28, 12, 96), "fade": (30, 0, 3600), "lines": (12, 1, 100), "bots": (1, 0, 1)}


def overlay_options(request: HttpRequest) -> dict[str, int]:
    return {
        name: _int_param(request, name, default, minimum=minimum, maximum=maximum)
        for name, (default, minimum, maximum) in OVERLAY_OPTIONS.items()
    }


@require_GET
def room_overlay(request: HttpRequest, slug: str) -> HttpResponse:
    """The chat for OBS's browser source: transparent, large text, lines that fade, no input."""
    try:
        room = selectors.room_get(slug=slug)
        options = overlay_options(request)
    except ChatterError as error:
        return HttpResponse(f"{error.message}\n", status=error.http_status, content_type="text/plain; charset=utf-8")
    history = selectors.messages_recent(room=room, limit=options["lines"])
    bootstrap = _room_bootstrap(request, room, history=history)
    bootstrap.update(
        signedIn=False,  # the overlay never posts, even in a signed-in browser
        overlay={"maxLines": options["lines"], "hideBots": not options["bots"], "fade": options["fade"]},
    )
    return render(request, "chat/overlay.html", {"room": room, "options": options, "bootstrap": bootstrap})


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and (wait := signin.signup_wait(request=request)) > 0:
        form = SignupForm(initial={"username": request.POST.get("username", "")})
        context = {"form": form, "refusal": signin.signup_refusal(wait)}
        return render(request, "registration/signup.html", context, status=429)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        signin.signup_record(request=request)
        login(request, user)
        next_url = request.GET.get("next", "")
        if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            return redirect(next_url)
        return redirect("chat-home")
    return render(request, "registration/signup.html", {"form": form})


# --- JSON API --------------------------------------------------------------------------------
@require_GET
def api_rooms(request: HttpRequest) -> JsonResponse:
    return JsonResponse(selectors.rooms_list(), safe=False)


@require_GET
@api_errors
def api_room_messages(request: HttpRequest, slug: str) -> JsonResponse:
    """`?after=N` pages forward (resume, exports); `?before=N` pages back (the page's scrollback)."""
    room = selectors.room_get(slug=slug)
    limit = _int_param(request, "limit", 100, minimum=1, maximum=MAX_PAGE)
    if request.GET.get("before") not in (None, ""):
        if request.GET.get("after") not in (None, ""):
            raise ChatterError(ErrorCode.INVALID, "give after or before, not both")
        before = _int_param(request, "before", 0, minimum=1, maximum=2**62)
        return JsonResponse(selectors.messages_before(room=room, before_seq=before, limit=limit), safe=False)
    after = _int_param(request, "after", 0, minimum=0, maximum=2**62)
    return JsonResponse(selectors.messages_after(room=room, after_seq=after, limit=limit), safe=False)


@require_GET
@api_errors
def api_room_user(request: HttpRequest, slug: str, name: str) -> JsonResponse:
    room = selectors.room_get(slug=slug)
    card = selectors.user_card(room=room, name=name, viewer=request.user) if len(name) <= 150 and "\x00" not in name else None
    if card is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"nobody called {name[:150]!r} here")
    return JsonResponse(card)


@require_GET
@api_errors
def api_room_context(request: HttpRequest, slug: str) -> HttpResponse:
    room = selectors.room_get(slug=slug)
    context = selectors.context_latest(room=room)
    return JsonResponse(context) if context else HttpResponse(status=204)


@require_GET
@api_errors
def api_room_trends(request: HttpRequest, slug: str) -> HttpResponse:
    room = selectors.room_get(slug=slug)
    trends = selectors.trends_latest(room=room)
    return JsonResponse(trends) if trends else HttpResponse(status=204)


@require_http_methods(["POST"])
@api_errors
def api_room_moderation(request: HttpRequest, slug: str) -> JsonResponse:
    """SPEC 11: one moderator action; the answer is its log record."""
    room = selectors.room_get(slug=slug)
    if not moderation.room_moderator_is(user=request.user, room=room):
        raise ChatterError(ErrorCode.FORBIDDEN, "only this room's moderators can do that")
    action = moderation.moderation_apply(room=room, actor=request.user, data=json_body(request))
    return JsonResponse(moderation.action_record(action, room_slug=room.slug))


@require_http_methods(["GET", "POST"])
@api_errors
def api_room_report(request: HttpRequest, slug: str) -> HttpResponse:
    """POST: a signed-in viewer reports a message `{"seq": N, "reason": ..., "note": ...}` (201, queued
    for moderators in admin). GET: the viewer's own reports in this room."""
    if request.method == "GET" and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    room = selectors.room_get(slug=slug)
    if request.method == "GET":
        return JsonResponse({"reports": moderation.reports_of(room=room, reporter=request.user)})
    report = moderation.message_report(room=room, reporter=request.user, data=json_body(request))
    return JsonResponse(moderation.report_record(report), status=201)


# --- operations ------------------------------------------------------------------------------
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Cheap liveness: the process answers, the database and Redis respond."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # report, don't raise: this page exists to say what is down
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        redis_client().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)


def _is_loopback(request: HttpRequest) -> bool:
    # The client's address by the WebSocket guard's rule: behind a proxy on this host every peer is
    # loopback, and only CHATTER_TRUSTED_PROXIES tells the real client apart.
    try:
        return ipaddress.ip_address(request_client_ip(request) or "").is_loopback
    except ValueError:
        return False


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: open to loopback, otherwise only with the bearer token."""
    if not _is_loopback(request):
        token = settings.METRICS_TOKEN
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        # Bytes: compare_digest refuses non-ASCII str (a 500 for any header a client cares to send).
        if not token or not secrets.compare_digest(supplied.encode("utf-8", "surrogateescape"), token.encode()):
            return HttpResponse("metrics need a bearer token\n", status=403, content_type="text/plain")
    return HttpResponse(render_latest(), content_type="text/plain; version=0.0.4; charset=utf-8")
