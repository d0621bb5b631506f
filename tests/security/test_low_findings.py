"""The review's low findings, one behaviour each (issue 14)."""
from __future__ import annotations

import ipaddress

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


# --- /metrics ------------------------------------------------------------------------------------------
def test_it_refuses_metrics_to_a_remote_client_behind_a_local_proxy(settings):
    settings.METRICS_TOKEN = "metrics-token"
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    proxied = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert Client().get("/metrics", **proxied).status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token", **proxied).status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200  # the host itself


def test_it_answers_403_not_500_to_a_non_ascii_bearer(settings):
    settings.METRICS_TOKEN = "metrics-token"
    response = Client(raise_request_exception=False).get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer tökén".encode().decode("latin-1")
    )
    assert response.status_code == 403


# --- a moderator's regex rule ---------------------------------------------------------------------------
def test_it_bounds_the_time_a_backtracking_regex_rule_takes():
    import threading

    from chat.safety import BlockRule, safety_check

    rules = (BlockRule(term="(a|aa)+$", match="regex", action="drop"),)
    results = []
    worker = threading.Thread(target=lambda: results.append(safety_check("a" * 60 + "!", origin="human", rules=rules)), daemon=True)
    worker.start()
    worker.join(timeout=20)  # without a time limit: 2**40 steps, hours
    assert results, "the gate stalled on a backtracking rule"
    assert results[0].action == "drop"  # fail closed: a message that stalls a drop rule is not let through
    assert safety_check("hello there", origin="human", rules=rules).action == "allow"


def test_it_refuses_to_save_a_regex_rule_with_nested_quantifiers():
    from django.core.exceptions import ValidationError

    from chat.models import BlockedTerm

    for pattern in ("(a+)+$", r"(\w+\s?)*$", "([unclosed"):
        with pytest.raises(ValidationError) as refused:
            BlockedTerm(term=pattern, match="regex", action="drop").full_clean()
        assert "term" in refused.value.message_dict
    BlockedTerm(term=r"b[a4]d\s*w[o0]rd", match="regex", action="drop").full_clean()


# --- admin actions need the matching permission -------------------------------------------------------
def test_it_offers_staff_with_view_permission_only_no_action_that_changes_anything():
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    viewer_staff = UserFactory(is_staff=True)
    viewer_staff.user_permissions.add(
        *Permission.objects.filter(codename__startswith="view_", content_type__app_label__in=("chat", "memory", "personas", "scribe"))
    )
    client = Client()
    client.force_login(viewer_staff)
    for path, action in (
        ("/admin/chat/room/", "go_live"),
        ("/admin/chat/room/", "go_offline"),
        ("/admin/memory/memoryitem/", "delete_memories"),
        ("/admin/memory/narrative/", "regenerate"),
        ("/admin/personas/persona/", "preview_line"),
        ("/admin/scribe/scribedocument/", "stop_scribes"),
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert f'value="{action}"' not in page.content.decode(), f"{path} offers {action} to view-only staff"


def test_it_gives_scribe_rights_by_permission_not_by_being_staff():
    from django.contrib.auth.models import Permission

    from scribe.selectors import user_can_edit_scribe, user_can_run_scribe
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    assert not user_can_run_scribe(user=staff) and not user_can_edit_scribe(user=staff)
    staff.user_permissions.add(Permission.objects.get(codename="change_scribedocument"))
    staff = type(staff).objects.get(pk=staff.pk)  # permissions are cached per instance
    assert user_can_edit_scribe(user=staff) and not user_can_run_scribe(user=staff)
    assert user_can_run_scribe(user=UserFactory(is_staff=True, is_superuser=True))


# --- replay stand-ins ---------------------------------------------------------------------------------------
def test_it_never_posts_a_replayed_line_as_a_real_account_holding_the_replay_name():
    from chat.replay import replay_user_get_or_create, replay_user_is_marked
    from tests.factories import UserFactory

    squatter = UserFactory(username="replay_mallory")  # made before the prefix was reserved, or by staff
    stand_in = replay_user_get_or_create(name="mallory")
    assert stand_in.pk != squatter.pk and stand_in.username == "replay_mallory+1"
    assert replay_user_is_marked(stand_in) and not replay_user_is_marked(squatter)
    assert replay_user_get_or_create(name="mallory").pk == stand_in.pk  # and it is reused next time


def test_it_refuses_the_replay_prefix_at_sign_up():
    data = {"username": "replay_bob", "password1": "correct horse battery", "password2": "correct horse battery"}
    response = Client().post("/accounts/signup/", data, REMOTE_ADDR="198.51.100.200")
    assert response.status_code == 200 and "replay_" in response.content.decode()
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="replay_bob").exists()


# --- the scribe's Markdown ------------------------------------------------------------------------------------
def test_it_renders_a_long_paragraph_of_unclosed_emphasis_in_linear_time():
    import time

    from scribe.rendering import render_markdown

    text = " *a" * 22_000  # 64 kB: the old regexes took ~13 s on it (0.8 s at 16 kB, quadratic)
    started = time.perf_counter()
    html = render_markdown(text)
    assert time.perf_counter() - started < 3  # measured 0.03 s
    assert "<em>" not in html and html.count("*a") == 22_000


def test_it_renders_each_version_once():
    from scribe.rendering import render_cache, render_markdown

    text = "# Cached\n\n**once** per version\n"
    render_markdown(text)
    hits = render_cache.hits
    assert render_markdown(text) == "<h1>Cached</h1>\n<p><strong>once</strong> per version</p>"
    assert render_cache.hits == hits + 1


# --- run_stream_context --audio URL -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "allowed"),
    [("https://stream.example/live.m3u8", "http,https,tls,tcp"), ("rtmp://ingest.example/live", "rtmp,rtmps,tls,tcp"), ("srt://ingest.example:9000", "srt,udp")],
)
def test_it_limits_the_protocols_ffmpeg_may_follow_from_a_url(monkeypatch, uri, allowed):
    import av

    from chatter_site.lib.errors import ChatterError
    from streamctx.audio.decode import _container_open

    opened = {}

    def fake_open(target, **kwargs):
        opened.update(kwargs, target=target)
        raise av.error.InvalidDataError(1094995529, "stop here")

    monkeypatch.setattr(av, "open", fake_open)
    with pytest.raises(ChatterError):
        _container_open(uri)
    assert opened["options"]["protocol_whitelist"] == allowed


def test_it_keeps_a_local_playlist_to_local_files(tmp_path):
    import http.server
    import threading

    from chatter_site.lib.errors import ChatterError
    from streamctx.audio.decode import _container_open

    hits = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    playlist = tmp_path / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://127.0.0.1:{server.server_address[1]}/seg0.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(ChatterError):
        _container_open(str(playlist))
    server.shutdown()
    assert hits == []
