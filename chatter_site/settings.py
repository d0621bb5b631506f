"""chatter settings: everything comes from the environment (see the README's table).

Unset variables fall back to the embedded defaults: SQLite, the embedded Redis started by
`runchatter` (its address read from the runtime directory), filesystem storage.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chatter_site.lib.env import (
    env_bool,
    env_choice,
    env_float,
    env_header,
    env_int,
    env_list,
    env_networks,
    env_raw,
    env_secret_key,
    env_str,
    env_url,
)
from chatter_site.lib.runtime import development_secret_key, read_services, runtime_dir, var_dir

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = var_dir()
RUNTIME_DIR = runtime_dir()
EMBEDDED = read_services()

# CHATTER_ENV=production: the secret key only from the environment, debug refused, and the HTTPS
# settings (secure cookies, HSTS, SSL redirect) on unless CHATTER_HTTPS says otherwise.
CHATTER_ENV = env_choice("CHATTER_ENV", ("development", "production"), "development")
PRODUCTION = CHATTER_ENV == "production"
DEBUG = env_bool("CHATTER_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured(
        f"{env_raw('CHATTER_DEBUG')[0]} must be off when CHATTER_ENV=production: debug pages leak settings and code"
    )


def _secret_key() -> str:
    """From the environment; in development else the key `runchatter` keeps in var/ (outside git),
    else one for this process only (its sessions end with it)."""
    if PRODUCTION:
        return env_secret_key("CHATTER_SECRET_KEY")
    return env_str("CHATTER_SECRET_KEY") or development_secret_key() or secrets.token_urlsafe(50)


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("CHATTER_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "chatter_site",
    "chatter_site.jobs",
    "chat",
    "streamctx",
    "memory",
    "scribe",
    "personas",
]

MIDDLEWARE = [
    "chatter_site.lib.api_errors.ApiErrorMiddleware",  # errors under /api/ as JSON, whoever raised them
    "django.middleware.security.SecurityMiddleware",
    "chatter_site.lib.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatter_site.urls"
ASGI_APPLICATION = "chatter_site.asgi.application"
WSGI_APPLICATION = "chatter_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
DATABASES: dict[str, Mapping[str, Any]]
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("CHATTER_DB_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
        )
    }
else:  # the directory is made by chatter_site.apps, before anything connects
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # Daphne, workers and beat all write: WAL, a busy timeout and IMMEDIATE transactions
            # keep them from failing with "database is locked".
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis (broker, channel layer, rate limits, latest context) ---------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix")) or EMBEDDED.get("redis_url")
# Nothing runs without Redis; until one is known, point at an address that fails with a clear
# message (see chatter_site.lib.redis) rather than silently at some other server.
REDIS_CONFIGURED = REDIS_URL is not None
if REDIS_URL is None:
    REDIS_URL = "redis://127.0.0.1:1/0"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py's 5 s socket timeout equals the layer's blocking-pop wait, so an idle
            # receive would time out every 5 s; give the socket room.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": "chatter:layer",
            # Hub channels carry every message of a room to a Daphne process; give them room.
            "capacity": 2000,
            "expiry": 30,
            "group_expiry": 3600,
        },
    },
    # Document pages' sockets get a channel-layer instance of their own: in each Daphne process the chat
    # hub's receive loop holds the default layer's receive lock while it waits on its own channel, which
    # would hold up these sockets' frames.
    "scribe": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": "chatter:scribe-layer",
            "capacity": 200,
            "expiry": 30,
            "group_expiry": 3600,
        },
    },
}

# --- Chat gateway ---------------------------------------------------------------------------
CHAT_MAX_MESSAGE_LENGTH = 500
CHAT_MAX_FRAME_BYTES = env_int("CHATTER_WS_MAX_FRAME_BYTES", 16 * 1024, minimum=1024)
# Daphne itself closes the socket (1009) above this: frames that large are abuse, not mistakes.
# autobahn applies it to the frames the server sends as well: keep it above the largest of those
# (a resume page, a broadcast batch of CHATTER_BROADCAST_QUEUE_LIMIT messages, a scribe document).
CHAT_TRANSPORT_MAX_BYTES = env_int("CHATTER_WS_TRANSPORT_MAX_BYTES", 4 * 1024 * 1024, minimum=64 * 1024)
# chatter_site.lib.wsguard, in front of every WebSocket: a socket whose unsent output passes this many
# bytes (a viewer that stopped reading) is closed (4408) and resumes by seq when it reconnects; one
# address may hold this many sockets across all Daphne processes (counted in Redis; 0 = no limit;
# beyond it the socket is closed with 4429). Loopback is exempt by default (benchmarks, a local
# proxy); behind a proxy or load balancer list it in CHATTER_TRUSTED_PROXIES so its clients are
# counted by their X-Forwarded-For address instead of all as the proxy.
CHAT_WS_SEND_BUFFER_BYTES = env_int("CHATTER_WS_SEND_BUFFER_BYTES", 1024 * 1024, minimum=64 * 1024)
CHAT_WS_MAX_PER_IP = env_int("CHATTER_WS_MAX_PER_IP", 20, minimum=0)
# A resume is bounded so a slow reader in a busy room cannot grow a Daphne process: live messages
# held while it pages (beyond: dropped, the client resumes again by seq), pages per resume, resumes
# per socket per minute, and how long one page waits for the client to read the previous ones.
CHAT_WS_RESUME_HELD_MAX = env_int("CHATTER_WS_RESUME_HELD_MAX", 1000, minimum=1)
CHAT_WS_RESUME_MAX_PAGES = env_int("CHATTER_WS_RESUME_MAX_PAGES", 25, minimum=1)
CHAT_WS_RESUMES_PER_MINUTE = env_int("CHATTER_WS_RESUMES_PER_MINUTE", 30, minimum=1)
# An open socket re-reads its session before a send at most this often: after sign-out or a
# password change it stops posting (sign-out also closes the session's sockets at once).
CHAT_WS_SESSION_RECHECK_SECONDS = env_float("CHATTER_WS_SESSION_RECHECK_SECONDS", 5.0, minimum=0.0)
CHAT_WS_RESUME_DRAIN_SECONDS = env_float("CHATTER_WS_RESUME_DRAIN_SECONDS", 10.0, minimum=0.1)
CHAT_WS_LIMIT_EXEMPT = env_networks("CHATTER_WS_LIMIT_EXEMPT", "127.0.0.0/8,::1")
TRUSTED_PROXIES = env_networks("CHATTER_TRUSTED_PROXIES", "")
CHAT_RATE_LIMIT_COUNT = env_int("CHATTER_RATE_LIMIT_COUNT", 5, minimum=1)
CHAT_RATE_LIMIT_WINDOW = env_int("CHATTER_RATE_LIMIT_WINDOW", 10, minimum=1)
# People's sends are group-committed per room (chat.ingest) on a pool of this many threads per
# Daphne, one batch per room at a time: more threads only help a process serving several busy rooms.
CHAT_INGEST_THREADS = env_int("CHATTER_INGEST_THREADS", 4, minimum=1)
CHAT_CONVERSATION_IDLE_MINUTES = env_int("CHATTER_CONVERSATION_IDLE_MINUTES", 30, minimum=1)
CHAT_ALLOWED_LINK_DOMAINS = env_list(
    "CHATTER_ALLOWED_LINK_DOMAINS", "twitch.tv,youtube.com,youtu.be,wikipedia.org,github.com"
)
CHAT_BROADCAST_INTERVAL = env_int("CHATTER_BROADCAST_INTERVAL_MS", 50, minimum=5) / 1000
# A room's live queue above this sheds its oldest bot messages (they stay in the database).
CHAT_BROADCAST_QUEUE_LIMIT = env_int("CHATTER_BROADCAST_QUEUE_LIMIT", 2000, minimum=10)
CHAT_FIREHOSE_MAXLEN = env_int("CHATTER_FIREHOSE_MAXLEN", 10000, minimum=100)
CHAT_HISTORY_PAGE = 200
METRICS_TOKEN = env_str("CHATTER_METRICS_TOKEN")
# chat.signin: failed sign-ins (site and admin) per username and per address within the window
# lock that name or address out until the window lets one go; new accounts per address per hour.
SIGNIN_FAILURES_PER_USERNAME = env_int("CHATTER_SIGNIN_FAILURES_PER_USERNAME", 5, minimum=1)
SIGNIN_FAILURES_PER_ADDRESS = env_int("CHATTER_SIGNIN_FAILURES_PER_ADDRESS", 20, minimum=1)
SIGNIN_LOCKOUT_SECONDS = env_int("CHATTER_SIGNIN_LOCKOUT_SECONDS", 900, minimum=1)
SIGNUP_PER_ADDRESS = env_int("CHATTER_SIGNUP_PER_ADDRESS", 5, minimum=1)
# Called by `runchatter` on an empty database; each app adds its own demo seed here.
CHATTER_DEMO_SEEDERS = ["chat.services.demo_room_seed"]

# --- Stream context ---------------------------------------------------------------------------
STREAMCTX_WINDOW_SECONDS = env_int("CHATTER_STREAMCTX_WINDOW", 45, minimum=20, maximum=60)
STREAMCTX_CADENCE_SECONDS = env_float("CHATTER_STREAMCTX_CADENCE", 2.0, minimum=0.2)
STREAMCTX_HISTORY = env_int("CHATTER_STREAMCTX_HISTORY", 1000, minimum=10)
STREAMCTX_DEMO_SCRIPT = BASE_DIR / "streamctx" / "scripts" / "demo.txt"
# How runchatter (which imports no app) asks whether a stream source has the demo room.
CHATTER_STREAM_OWNER_READER = "streamctx.services.stream_source_owner"

# --- Personas (the fast loop) -----------------------------------------------------------------
PERSONA_TICK_SECONDS = env_float("CHATTER_PERSONA_TICK_SECONDS", 1.0, minimum=1.0)
PERSONA_JITTER_SECONDS = env_float("CHATTER_PERSONA_JITTER_SECONDS", 1.5, minimum=0.0)
PERSONA_STALE_SECONDS = env_float("CHATTER_PERSONA_STALE_SECONDS", 12.0, minimum=1.0)
PERSONA_LLM_TIMEOUT = env_float("CHATTER_PERSONA_LLM_TIMEOUT", 6.0, minimum=0.5)
PERSONA_MEMORY_TOP_K = env_int("CHATTER_PERSONA_MEMORY_TOP_K", 5, minimum=0)
CHATTER_DEMO_SEEDERS.append("personas.demo_cast.demo_cast_seed")

# --- Memory (Mem0), reflection, conversation memories, narratives ---------------------------------
# Vector store for Mem0: chroma://host:port (default: the Chroma server runchatter starts),
# qdrant://host:port, or a postgres:// URL for pgvector.
MEMORY_VECTOR_STORE_URL = env_str("CHATTER_VECTOR_STORE") or EMBEDDED.get("chroma_url")
MEMORY_COLLECTION = env_str("CHATTER_MEMORY_COLLECTION", "chatter_memories")
MEMORY_DIR = VAR_DIR / "mem0"
MEMORY_SEARCH_TIMEOUT = env_float("CHATTER_MEMORY_SEARCH_TIMEOUT", 0.5, minimum=0.05)
MEMORY_JOKE_FADE_DAYS = env_int("CHATTER_MEMORY_JOKE_FADE_DAYS", 21, minimum=1)
# Retries 4, 8, 16, 32, 64 s apart (plus jitter): a job rides out a two-minute LLM outage before it
# becomes a dead letter.
REFLECTION_MAX_ATTEMPTS = env_int("CHATTER_REFLECTION_MAX_ATTEMPTS", 6, minimum=1)
REFLECTION_BACKOFF_SECONDS = env_float("CHATTER_REFLECTION_BACKOFF_SECONDS", 4.0, minimum=0.1)
REFLECTION_FLUSH_SECONDS = env_float("CHATTER_REFLECTION_FLUSH_SECONDS", 15.0, minimum=1.0)
REFLECTION_BATCH_MESSAGES = env_int("CHATTER_REFLECTION_BATCH_MESSAGES", 25, minimum=1)
REFLECTION_FOLD_BACKLOG = env_int("CHATTER_REFLECTION_FOLD_BACKLOG", 10, minimum=1)
REFLECTION_LEASE_SECONDS = env_int("CHATTER_REFLECTION_LEASE_SECONDS", 300, minimum=10)
DRIFT_INTERVAL_SECONDS = env_float("CHATTER_DRIFT_INTERVAL", 900.0, minimum=10.0)
CONVERSATION_MEMORY_INACTIVE_HOURS = env_float("CHATTER_MEMORY_INACTIVE_HOURS", 2.0, minimum=0.0)
CONVERSATION_MEMORY_BEAT = env_bool("CHATTER_CONVERSATION_MEMORY_BEAT", False)
NARRATIVE_TTL_DAYS = env_int("CHATTER_NARRATIVE_TTL_DAYS", 7, minimum=1)
NARRATIVE_MIN_MEMORIES = env_int("CHATTER_NARRATIVE_MIN_MEMORIES", 3, minimum=0)
CONVERSATION_MEMORY_INTERVAL = env_float("CHATTER_CONVERSATION_MEMORY_INTERVAL", 3600.0, minimum=60.0)
NARRATIVE_REFRESH_INTERVAL = env_float("CHATTER_NARRATIVE_REFRESH_INTERVAL", 7 * 86400.0, minimum=3600.0)
# Witnessed messages are noted for reflection by this beat, off the chat path (personas/witness.py).
REFLECTION_WITNESS_SECONDS = env_float("CHATTER_REFLECTION_WITNESS_SECONDS", 2.0, minimum=1.0)

# --- Scribe (living documents, SPEC 7) ----------------------------------------------------------
# Turns folded into one update at most (a burst becomes one update; more loop).
SCRIBE_BATCH_MAX_TURNS = env_int("CHATTER_SCRIBE_BATCH_MAX_TURNS", 200, minimum=1, maximum=2000)
# The per-document lock's TTL; renewed while an update runs, so a dead worker frees it this fast.
SCRIBE_LOCK_TTL_SECONDS = env_float("CHATTER_SCRIBE_LOCK_TTL", 10.0, minimum=1.0)
SCRIBE_LLM_TIMEOUT = env_float("CHATTER_SCRIBE_LLM_TIMEOUT", 60.0, minimum=1.0)
SCRIBE_LLM_MAX_TOKENS = env_int("CHATTER_SCRIBE_LLM_MAX_TOKENS", 4096, minimum=256)
SCRIBE_MAX_DOCUMENT_CHARS = env_int("CHATTER_SCRIBE_MAX_DOCUMENT_CHARS", 60000, minimum=1000)
# An answer shorter than this share of the previous version is taken as truncated and refused.
SCRIBE_MIN_KEEP_RATIO = env_float("CHATTER_SCRIBE_MIN_KEEP_RATIO", 0.6, minimum=0.0)
SCRIBE_RETRY_BACKOFF_SECONDS = env_int("CHATTER_SCRIBE_RETRY_BACKOFF", 2, minimum=1)
SCRIBE_MAX_RETRIES = env_int("CHATTER_SCRIBE_MAX_RETRIES", 5, minimum=0)
SCRIBE_SWEEP_INTERVAL = env_float("CHATTER_SCRIBE_SWEEP_INTERVAL", 30.0, minimum=1.0)

# --- Celery: queues, routes, the beat schedule ----------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CHATTER_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Every queue below is consumed by the runner's worker (chatter_site.lib.runner); a deployment that
# splits workers by queue must still cover them all.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ("default", "llm", "reflection", "scribe")
# Every task by its exact name (tests/test_settings.py fails on a task missing here). `default` is
# fast bookkeeping; `llm` is a persona's line or drift (waits on the model); `reflection` is memory
# writing; `scribe` is document updates.
CELERY_TASK_ROUTES = {
    "chat.tasks.trends_snapshot_task": {"queue": "default"},
    "chat.tasks.conversations_close_idle_task": {"queue": "default"},
    "chat.tasks.message_ingest_task": {"queue": "default"},
    "personas.tasks.cast_tick_all_task": {"queue": "default"},
    "personas.tasks.cast_tick_task": {"queue": "default"},
    "personas.tasks.persona_mentions_task": {"queue": "default"},
    "personas.tasks.drift_reflect_all_task": {"queue": "default"},
    "personas.tasks.witnessed_collect_task": {"queue": "default"},
    "personas.tasks.persona_generate_task": {"queue": "llm"},
    "personas.tasks.persona_drift_task": {"queue": "llm"},
    "memory.tasks.reflection_flush_task": {"queue": "default"},
    "memory.tasks.memories_fade_task": {"queue": "default"},
    "memory.tasks.reflection_run_task": {"queue": "reflection"},
    "memory.tasks.conversation_memories_enqueue_task": {"queue": "reflection"},
    "memory.tasks.narratives_refresh_active_task": {"queue": "reflection"},
    "scribe.tasks.scribe_update_task": {"queue": "scribe"},
    "scribe.tasks.scribe_sweep_task": {"queue": "scribe"},
    # A generic job's attempt goes to its kind's queue (JobKind.queue); this is the fallback.
    "chatter_site.jobs.tasks.job_run_task": {"queue": "reflection"},
    "chatter_site.jobs.tasks.jobs_sweep_task": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(RUNTIME_DIR / "celerybeat-schedule")
# Intervals in seconds that only the beat uses; the others are read with their app's settings above.
TRENDS_INTERVAL = env_float("CHATTER_TRENDS_INTERVAL", 5.0, minimum=1.0)
CONVERSATION_SWEEP_INTERVAL = env_float("CHATTER_CONVERSATION_SWEEP_INTERVAL", 60.0, minimum=1.0)
MEMORY_FADE_INTERVAL = env_float("CHATTER_MEMORY_FADE_INTERVAL", 6 * 3600.0, minimum=60.0)
JOBS_SWEEP_SECONDS = env_float("CHATTER_JOBS_SWEEP_SECONDS", 30.0, minimum=1.0)


def _beat(task: str, seconds: float) -> dict:
    """Every `seconds`; a run not started by then expires, so a backlog never piles up."""
    return {"task": task, "schedule": seconds, "options": {"expires": seconds * 0.9}}


CELERY_BEAT_SCHEDULE = {
    "chat-trends-snapshot": _beat("chat.tasks.trends_snapshot_task", TRENDS_INTERVAL),
    "chat-conversations-close-idle": _beat("chat.tasks.conversations_close_idle_task", CONVERSATION_SWEEP_INTERVAL),
    "personas-cast-tick": _beat("personas.tasks.cast_tick_all_task", PERSONA_TICK_SECONDS),
    "personas-witnessed-collect": _beat("personas.tasks.witnessed_collect_task", REFLECTION_WITNESS_SECONDS),
    "personas-drift": _beat("personas.tasks.drift_reflect_all_task", DRIFT_INTERVAL_SECONDS),
    "memory-reflection-flush": _beat("memory.tasks.reflection_flush_task", REFLECTION_FLUSH_SECONDS),
    "memory-narratives-refresh": _beat("memory.tasks.narratives_refresh_active_task", NARRATIVE_REFRESH_INTERVAL),
    "memory-jokes-fade": _beat("memory.tasks.memories_fade_task", MEMORY_FADE_INTERVAL),
    **(
        {"memory-conversation-memories": _beat("memory.tasks.conversation_memories_enqueue_task", CONVERSATION_MEMORY_INTERVAL)}
        if CONVERSATION_MEMORY_BEAT
        else {}
    ),
    "scribe-sweep": _beat("scribe.tasks.scribe_sweep_task", SCRIBE_SWEEP_INTERVAL),
    # Durable jobs (chatter_site.lib.jobs): expired leases, due retries and lost sends of every kind.
    "jobs-sweep": _beat("chatter_site.jobs.tasks.jobs_sweep_task", JOBS_SWEEP_SECONDS),
}

# --- Storage --------------------------------------------------------------------------------
CHATTER_S3_BUCKET = env_str("CHATTER_S3_BUCKET")
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
if CHATTER_S3_BUCKET:
    _s3_options = {"bucket_name": CHATTER_S3_BUCKET}
    if _s3_endpoint := env_str("AWS_S3_ENDPOINT_URL"):
        _s3_options["endpoint_url"] = _s3_endpoint
    _documents = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}
else:
    _documents = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT / "documents")},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "documents": _documents,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- LLM (chatter_site.lib.llm: the openai client against any OpenAI-compatible endpoint) -----
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", schemes=("http", "https"))
# Neither set → the offline provider that `runchatter` starts, found in the runtime directory (a
# process started before the runner looks again per call). The runner hands its children that
# address explicitly; recognising it keeps them offline too.
LLM_OFFLINE = not (OPENAI_API_KEY or OPENAI_BASE_URL) or (
    OPENAI_BASE_URL is not None and OPENAI_BASE_URL == EMBEDDED.get("openai_base_url")
)
if LLM_OFFLINE:
    OPENAI_BASE_URL = EMBEDDED.get("openai_base_url")
    OPENAI_API_KEY = "offline"
CHATTER_LLM_MODEL = env_str("CHATTER_LLM_MODEL", "gpt-4o-mini")
CHATTER_EMBED_MODEL = env_str("CHATTER_EMBED_MODEL", "text-embedding-3-small")
# Embeddings from another server than chat (llama.cpp serves them from a second instance); unset:
# the chat endpoint. Same API key.
CHATTER_EMBED_BASE_URL = env_url("CHATTER_EMBED_BASE_URL", schemes=("http", "https"))
# Sent as `dimensions` with every embedding request, and the size of Mem0's vectors: it must be a
# size the embedding model produces (text-embedding-3-* shorten to any size). 0: `dimensions` is not
# sent and the size is the model's own (llama.cpp, Ollama, most local servers ignore or refuse it).
# A size the existing vector collection does not hold needs a new CHATTER_MEMORY_COLLECTION.
CHATTER_EMBED_DIMS = env_int("CHATTER_EMBED_DIMS", 256, minimum=0, maximum=8192)
if 0 < CHATTER_EMBED_DIMS < 8:
    raise ImproperlyConfigured(f"CHATTER_EMBED_DIMS must be 0 (the model's own size) or 8..8192, got {CHATTER_EMBED_DIMS}")
CHATTER_LLM_TIMEOUT = env_float("CHATTER_LLM_TIMEOUT", 10.0, minimum=0.1)  # seconds, per attempt
CHATTER_LLM_MAX_RETRIES = env_int("CHATTER_LLM_MAX_RETRIES", 1, minimum=0, maximum=5)
CHATTER_LLM_CONCURRENCY = env_int("CHATTER_LLM_CONCURRENCY", 4, minimum=1)  # parallel calls per process
CHATTER_WHISPER_MODEL = env_str("CHATTER_WHISPER_MODEL", "base")
CHATTER_WHISPER_DEVICE = env_str("CHATTER_WHISPER_DEVICE", "cpu")
CHATTER_WHISPER_COMPUTE_TYPE = env_str("CHATTER_WHISPER_COMPUTE_TYPE", "int8")
CHATTER_WHISPER_THREADS = env_int("CHATTER_WHISPER_THREADS", 2, minimum=1)
CHATTER_WHISPER_BEAM_SIZE = env_int("CHATTER_WHISPER_BEAM_SIZE", 1, minimum=1)
CHATTER_WHISPER_LANGUAGE = env_str("CHATTER_WHISPER_LANGUAGE", "en")
CHATTER_WHISPER_CHUNK_SECONDS = env_float("CHATTER_WHISPER_CHUNK_SECONDS", 8.0, minimum=1.0)
CHATTER_WHISPER_FULL_WINDOW = env_bool("CHATTER_WHISPER_FULL_WINDOW", False)
# When the model is given the end of the transcript as a prompt: only for audio carried over from a
# cut in mid-speech (default), always, or never. bench/asr_real_speech.py measured why.
CHATTER_WHISPER_PROMPT = env_choice("CHATTER_WHISPER_PROMPT", ("carry", "always", "off"), "carry")

# --- Auth, i18n, security -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "chat-login"
LOGIN_REDIRECT_URL = "chat-home"
LOGOUT_REDIRECT_URL = "chat-home"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# chatter_site.lib.csp: the Content-Security-Policy header of every response ("" turns it off).
# Scripts only from this origin; inline style attributes carry author colours.
CONTENT_SECURITY_POLICY = env_str(
    "CHATTER_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
HTTPS = env_bool("CHATTER_HTTPS", PRODUCTION)
if not DEBUG and HTTPS:
    SECURE_SSL_REDIRECT = True
    # A load balancer's health check and an in-network Prometheus scrape speak plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("CHATTER_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CHATTER_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("CHATTER_HSTS_PRELOAD", True)
    # Behind a TLS-terminating proxy that sets (and strips from clients) this header; `off` when
    # Daphne terminates TLS itself, or a client could claim HTTPS.
    SECURE_PROXY_SSL_HEADER = env_header("CHATTER_PROXY_SSL_HEADER", "X-Forwarded-Proto: https")
CSRF_TRUSTED_ORIGINS = env_list("CHATTER_CSRF_TRUSTED_ORIGINS", "")

# --- Logging: key=value lines carrying the correlation id -------------------------------------
LOG_LEVEL = env_str("CHATTER_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "corr": {"()": "chatter_site.lib.correlation.CorrelationFilter"},
        "known_harmless": {"()": "chatter_site.lib.logfilters.DropKnownHarmless"},
    },
    "formatters": {
        "kv": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s corr=%(corr)s %(message)s"},
        # runchatter shows these lines on its console (chatter_site.lib.console_events)
        "event": {"format": "chatter-event: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "kv", "filters": ["corr"]},
        "events": {"class": "logging.StreamHandler", "formatter": "event"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "chatter.events": {"handlers": ["events"], "level": "INFO", "propagate": False},
        # Mem0 falls back without spaCy (we do not install its nlp extra) and says so on every load.
        "mem0.utils.spacy_models": {"level": "ERROR"},
        "mem0.memory.main": {"filters": ["known_harmless"]},
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},  # openai 3.5x logs every request at INFO here
    },
}
