"""chatter_site/settings.py reads as one place: the beat schedule, the task routes, the variables."""
from __future__ import annotations

import ast
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chatter_site.celery import app

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_FILE = ROOT / "chatter_site" / "settings.py"
ENV_HELPERS = {"env_int", "env_float"}
OUR_APPS = ("chat.", "personas.", "memory.", "scribe.", "streamctx.", "chatter_site.")


def _settings_tree() -> ast.Module:
    return ast.parse(SETTINGS_FILE.read_text())


def _settings_in(env: dict[str, str], expression: str) -> object:
    """Evaluate `expression` over a fresh import of the settings module under `env` (JSON back)."""
    code = f"import json, chatter_site.settings as s; print(json.dumps({expression}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _beat_interval_names() -> dict[str, str]:
    """Beat entry key → the settings name its interval is (the second argument of `_beat`)."""
    literal = next(
        node.value for node in _settings_tree().body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "CELERY_BEAT_SCHEDULE" for t in node.targets)
    )
    names = {}
    for call in ast.walk(literal):
        if isinstance(call, ast.Dict):
            for key, value in zip(call.keys, call.values):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Call):
                    names[key.value] = value.args[1].id
    return names


def _env_name_of(setting: str) -> str:
    """The environment variable a setting is read from (`X = env_float("CHATTER_…", …)`)."""
    for node in _settings_tree().body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == setting for t in node.targets):
            call = node.value
            assert isinstance(call, ast.Call) and getattr(call.func, "id", None) in ENV_HELPERS, (
                f"{setting} is not read from the environment by a strict helper"
            )
            return call.args[0].value
    raise AssertionError(f"{setting} is not assigned in settings.py")


def test_it_writes_the_beat_schedule_once_as_one_literal() -> None:
    assignments = [
        node for node in ast.walk(_settings_tree())
        if isinstance(node, (ast.Assign, ast.AugAssign))
        and any(
            "CELERY_BEAT_SCHEDULE" == getattr(target, "id", None)
            or "CELERY_BEAT_SCHEDULE" == getattr(getattr(target, "value", None), "id", None)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    updates = [
        node for node in ast.walk(_settings_tree())
        if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "CELERY_BEAT_SCHEDULE"
    ]
    assert len(assignments) == 1 and isinstance(assignments[0].value, ast.Dict)
    assert updates == []


def test_it_names_beat_entries_in_kebab_case_and_routes_their_tasks() -> None:
    for key, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert key == key.lower() and "_" not in key and " " not in key, key
        assert entry["task"] in settings.CELERY_TASK_ROUTES, entry["task"]
        assert 0 < entry["options"]["expires"] < entry["schedule"], key


def test_it_reads_every_beat_interval_from_the_environment() -> None:
    interval_names = _beat_interval_names()
    env_names = {key: _env_name_of(setting) for key, setting in interval_names.items()}
    # Distinct values, all above every helper's minimum, so each entry shows its own variable.
    values = {key: 4000.0 + n for n, key in enumerate(sorted(env_names))}
    env = {
        **os.environ,
        "CHATTER_CONVERSATION_MEMORY_BEAT": "1",
        **{env_names[key]: str(value) for key, value in values.items()},
    }
    schedule = _settings_in(env, "s.CELERY_BEAT_SCHEDULE")
    assert set(schedule) == set(interval_names)
    for key, value in values.items():
        assert schedule[key]["schedule"] == value, (key, env_names[key])
        assert value * 0.8 < schedule[key]["options"]["expires"] < value, key


def test_it_schedules_conversation_memories_only_when_asked() -> None:
    env = {**os.environ, "CHATTER_CONVERSATION_MEMORY_BEAT": "0"}
    assert "memory-conversation-memories" not in _settings_in(env, "list(s.CELERY_BEAT_SCHEDULE)")


def test_it_routes_every_task_by_its_exact_name_to_a_consumed_queue() -> None:
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.startswith(OUR_APPS)}
    routes = settings.CELERY_TASK_ROUTES
    assert ours and ours <= set(routes), sorted(ours - set(routes))
    assert not any("*" in name for name in routes)
    assert {route["queue"] for route in routes.values()} <= set(settings.CELERY_TASK_QUEUES_NAMES)
    for name in ours:
        queue = app.amqp.router.route({}, name, task_type=app.tasks[name])["queue"].name
        assert queue == routes[name]["queue"], name


def _env_without_renamed(**extra: str) -> dict[str, str]:
    from chatter_site.lib.env import RENAMED

    dropped = set(RENAMED) | set(RENAMED.values())
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **extra}


def test_it_still_reads_an_old_name_and_warns_with_the_new_one() -> None:
    code = "import chatter_site.settings as s; print(s.ALLOWED_HOSTS, s.DEBUG)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        env=_env_without_renamed(DJANGO_ALLOWED_HOSTS="old.example.com", DJANGO_DEBUG="1"),
    )
    assert done.stdout.strip() == "['old.example.com'] True"
    assert "DJANGO_ALLOWED_HOSTS is deprecated and will stop working in chatter 2.0: set CHATTER_ALLOWED_HOSTS instead" in done.stderr
    assert "DJANGO_DEBUG is deprecated" in done.stderr and "set CHATTER_DEBUG instead" in done.stderr


def test_it_prefers_the_new_name_and_stays_quiet_when_it_is_set(monkeypatch, caplog) -> None:
    from chatter_site.lib import env

    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.setenv("CHATTER_ALLOWED_HOSTS", "new.example.com")
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "old.example.com")
    with caplog.at_level(logging.WARNING, logger="chatter.settings"):
        assert env.env_list("CHATTER_ALLOWED_HOSTS") == ["new.example.com"]
    assert caplog.records == []


def test_it_names_the_old_variable_when_its_value_is_bad(monkeypatch) -> None:
    from chatter_site.lib import env

    monkeypatch.delenv("CHATTER_DEBUG", raising=False)
    monkeypatch.setenv("DJANGO_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG must be a boolean"):
        env.env_bool("CHATTER_DEBUG")


def test_it_warns_once_per_process_for_an_old_name(monkeypatch, caplog) -> None:
    from chatter_site.lib import env

    monkeypatch.setattr(env, "_warned", set())
    monkeypatch.delenv("CHATTER_CSRF_TRUSTED_ORIGINS", raising=False)
    monkeypatch.setenv("DJANGO_CSRF_TRUSTED_ORIGINS", "https://chat.example.com")
    with caplog.at_level(logging.WARNING, logger="chatter.settings"):
        for _ in range(3):
            assert env.env_list("CHATTER_CSRF_TRUSTED_ORIGINS") == ["https://chat.example.com"]
    assert [record.getMessage() for record in caplog.records] == [
        "DJANGO_CSRF_TRUSTED_ORIGINS is deprecated and will stop working in chatter 2.0: set CHATTER_CSRF_TRUSTED_ORIGINS instead"
    ]


def test_it_changes_nothing_outside_when_settings_are_imported(tmp_path) -> None:
    code = (
        "import os; before = dict(os.environ); import chatter_site.settings as s; "
        "print(sorted(set(os.environ.items()) ^ set(before.items())), s.SECRET_KEY != '')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEM0_", "DATABASE_URL"))}
    env.update(CHATTER_VAR_DIR=str(tmp_path / "var"), CHATTER_RUNTIME_DIR=str(tmp_path / "run"))
    env.pop("CHATTER_SECRET_KEY", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] True"
    assert list(tmp_path.iterdir()) == []  # no var/, no secret key file, no static root


def test_it_prepares_local_state_when_the_apps_are_ready(tmp_path) -> None:
    """A fresh clone's `manage.py migrate` (SQLite, no runner) finds its directories made."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEM0_DIR", "MEM0_TELEMETRY")}
    env.update(CHATTER_VAR_DIR=str(tmp_path / "var"), CHATTER_RUNTIME_DIR=str(tmp_path / "run"))
    code = "import os, django; django.setup(); print(os.environ['MEM0_TELEMETRY'], os.environ['MEM0_DIR'])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**env, "DJANGO_SETTINGS_MODULE": "chatter_site.settings"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", str(tmp_path / "var" / "mem0")]
    assert (tmp_path / "var").is_dir() and (tmp_path / "var" / "static").is_dir()


def test_it_lists_every_variable_once_in_the_readmes_configuration_table() -> None:
    import re

    from chatter_site.lib.env import RENAMED

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = [
        name for row in table.splitlines() if row.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    ]
    read = set(re.findall(r"env_\w+\(\s*\"([A-Z0-9_]+)\"", SETTINGS_FILE.read_text()))
    assert sorted({name for name in listed if listed.count(name) > 1}) == []
    assert sorted(read - set(listed) - {"AWS_S3_ENDPOINT_URL"}) == []  # that one is boto3's, named with S3
    assert set(RENAMED.values()).isdisjoint(listed)  # old names only in the note above the table
