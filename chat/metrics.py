"""Gateway telemetry: broadcast rate, connected clients, dropped messages, safety actions."""
from chatter_site.lib.metrics import counter, gauge, histogram

MESSAGES_INGESTED = counter("chatter_messages_ingested_total", "Messages persisted by the gateway", ("origin",))
MESSAGES_REFUSED = counter("chatter_messages_refused_total", "Messages refused by the gateway", ("code",))
SAFETY_ACTIONS = counter("chatter_safety_actions_total", "Safety gate actions", ("action", "reason"))
INGEST_SECONDS = histogram("chatter_ingest_seconds", "Time to validate, sanitise and persist one message")
INGEST_BATCH_SIZE = histogram(
    "chatter_ingest_batch_size", "People's sends group-committed together (chat.ingest)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
INGEST_LOCK_SECONDS = histogram(
    "chatter_ingest_lock_seconds", "Time to take the seqs and store one group commit (the room row lock is held at most this long)"
)
BROADCAST_MESSAGES = counter("chatter_broadcast_messages_total", "Messages written to viewer sockets (per viewer)")
BROADCAST_FRAMES = counter("chatter_broadcast_frames_total", "messages frames written to viewer sockets")
BROADCAST_DROPPED = counter("chatter_broadcast_dropped_total", "Bot messages shed from a live queue under backpressure")
BROADCAST_GAP_FILLS = counter("chatter_broadcast_gap_fills_total", "Times a hub fetched missing seqs from the database")
BROADCAST_FAILURES = counter("chatter_broadcast_failures_total", "Publishes to the channel layer or firehose that failed")
CONNECTED_CLIENTS = gauge("chatter_connected_clients", "Open viewer WebSockets")
RESUME_HELD_DROPPED = counter(
    "chatter_ws_resume_held_dropped_total", "Live messages not held for a socket during a resume (cap reached)"
)
RESUMES_REFUSED = counter("chatter_ws_resumes_refused_total", "resume frames refused by the per-socket rate")
RESUMES_WAITING = gauge("chatter_ws_resumes_waiting", "Resumes paused until their client reads what it was sent")
SIGNIN_REFUSED = counter("chatter_signin_refused_total", "Sign-ins refused while a name or address is locked out")
SCHEMA_READ_FAILURES = counter(
    "chatter_schema_read_failures_total", "Snapshots read back from Redis that failed their schema", ("schema",)
)
