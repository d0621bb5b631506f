"""Stream-context telemetry: ASR latency, real-time factor, publish cadence, event rates."""
from chatter_site.lib.metrics import counter, gauge, histogram

ASR_SECONDS = histogram("chatter_streamctx_asr_seconds", "Wall time to transcribe one audio chunk")
ASR_REAL_TIME_FACTOR = gauge("chatter_streamctx_asr_rtf", "Transcription time / audio time of the last chunk", ("room",))
PUBLISH_INTERVAL = histogram(
    "chatter_streamctx_publish_interval_seconds", "Time between two published contexts of a room",
    buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5, 10),
)
PUBLISHED = counter("chatter_streamctx_published_total", "Stream contexts published", ("reason",))
EVENTS = counter("chatter_streamctx_events_total", "Stream events detected", ("kind",))
TAKEOVERS = counter("chatter_streamctx_takeovers_total", "Sources that stopped because another took the room over")
PUBLISH_SKIPPED = counter("chatter_streamctx_publish_skipped_total", "Contexts not published because Redis or the database was unreachable")
ASR_DROPPED_WORDS = counter(
    "chatter_streamctx_asr_dropped_words_total",
    "Words the model returned but the transcript left out (punctuation, script, loop, echo, carried)", ("reason",),
)
ASR_RETRIES = counter("chatter_streamctx_asr_retries_total", "Chunks decoded again without the prompt (echo, loop or nothing heard in speech)")
ASR_SPEECH_UNPUBLISHED = counter(
    "chatter_streamctx_asr_speech_unpublished_total", "Chunks that VAD calls speech from which nothing was published"
)
