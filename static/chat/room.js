/*
 * chatter room client (SPEC 4.3, 5): history from the page, live updates over the room WebSocket.
 *
 * Safety rule for this file: every piece of data from the server is put into the page with
 * textContent, createElement or setAttribute on a fixed attribute name. Never innerHTML.
 */
(function () {
  "use strict";

  var bootElement = document.getElementById("chat-bootstrap");
  var messagesEl = document.getElementById("chat-messages");
  if (!bootElement || !messagesEl) return;

  var boot = {};
  try {
    boot = JSON.parse(bootElement.textContent) || {};
  } catch (error) {
    boot = {};
  }

  // --- constants ----------------------------------------------------------------------------
  var MAX_MESSAGE_NODES = 300;
  var RESUME_MIN_INTERVAL_MS = 1000;
  var GAP_CHECK_MS = 2000;
  var GAP_MAX_STRIKES = 3; // resumes that bring nothing before the client stops waiting for a seq
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  var STABLE_CONNECTION_MS = 5000;
  var PING_INTERVAL_MS = 20000;
  var SILENCE_LIMIT_MS = 50000; // no frame at all for this long: the socket is dead, replace it
  var ACK_TIMEOUT_MS = 10000;
  var NOTICE_MS = 6000;
  var AT_BOTTOM_SLACK_PX = 32;
  var COLOR_RE = /^#[0-9a-fA-F]{6}$/;
  var SCROLLBACK_PAGE = 50;
  var SCROLLBACK_TRIGGER_PX = 80;
  var MAX_SCROLLBACK_NODES = 1500; // while reading history the list may grow to this; trimmed back at the bottom
  var REPLY_MEMORY = 3000; // messages remembered (id -> name and text) to show what a reply answers
  // Emotes (code -> image URL) and the link allow-list come from the server (static/chat/richtext.js).
  var rich = window.chatterRichText.create({ emotes: boot.emotes, allowedDomains: boot.allowedDomains });
  // The OBS overlay runs this same client with a few options (chat/views.py overlay_options).
  var overlay = boot.overlay && typeof boot.overlay === "object" ? boot.overlay : null;
  var BADGE_LABELS = {
    broadcaster: "Host", moderator: "Mod", mod: "Mod", staff: "Staff", admin: "Admin", bot: "Bot",
    persona: "Bot", vip: "VIP", subscriber: "Sub", verified: "✓"
  };
  var EVENT_LABELS = {
    big_laugh: "Big laugh", fail: "Fail", clutch: "Clutch", chat_question: "Chat question", scene_change: "Scene change"
  };

  var roomSlug = String(boot.room || document.querySelector("[data-room]").getAttribute("data-room"));
  if (overlay) MAX_MESSAGE_NODES = Math.max(1, Number(overlay.maxLines) || 12);
  var maxLength = Number(boot.maxLength) > 0 ? Number(boot.maxLength) : 500;

  // --- elements -----------------------------------------------------------------------------
  var statusEl = document.getElementById("chat-status");
  var pillEl = document.getElementById("chat-new-pill");
  var placeholderEl = document.getElementById("chat-placeholder");
  var formEl = document.getElementById("chat-form");
  var inputEl = document.getElementById("chat-input");
  var sendEl = document.getElementById("chat-send");
  var counterEl = document.getElementById("chat-counter");
  var noticeEl = document.getElementById("chat-notice");
  var contextEl = document.getElementById("context-panel");
  var contextUpdatedEl = document.getElementById("context-updated");
  var trendsEl = document.getElementById("trends-panel");
  var trendsUpdatedEl = document.getElementById("trends-updated");
  var replyBarEl = document.getElementById("chat-reply");
  var replyTextEl = document.getElementById("chat-reply-text");
  var replyCancelEl = document.getElementById("chat-reply-cancel");

  // --- state --------------------------------------------------------------------------------
  var socket = null;
  var me = null; // {name, is_staff} from hello
  var lastSeq = 0; // every seq <= lastSeq has been received (or given up on)
  var ahead = new Set(); // seqs received beyond a gap
  var renderQueue = [];
  var frameRequested = false;
  var lastRenderedSeq = 0;
  var messageNodeCount = 0;
  var stickToBottom = true;
  var unseenCount = 0;
  var known = new Map(); // message id -> {name, text}, for "replying to" lines
  var replyingTo = null; // {id, name, text} while composing a reply
  var oldestSeq = 0; // the oldest seq on screen, for scrollback
  var scrollbackLoading = false;
  var scrollbackDone = false;
  var scrolledBack = false; // the list holds history loaded by scrollback (it may pass the usual cap)
  var scrollbackCursor = 0; // the oldest seq scrollback has fetched (deleted lines are not shown)

  var attempt = 0;
  var reconnectTimer = null;
  var countdownTimer = null;
  var reconnectAt = 0;
  var connectedAt = 0;
  var lastFrameAt = 0;
  var heartbeatTimer = null;
  var roomGone = false;

  var lastResumeAt = 0;
  var resumeTimer = null;
  var gapTimer = null;
  var gapStrikes = 0;
  var gapMark = 0;

  // Messages typed but not yet seen coming back (the ack). Sent one at a time, so an error frame
  // always belongs to the one in flight. Insertion order is send order.
  var pending = new Map(); // client_id -> {text, sent}
  var inFlight = null;
  var ackTimer = null;
  var noticeTimer = null;

  // Moderation (SPEC 11): seqs a moderator deleted and the last seq a clear removed. A message that
  // arrives after its delete (a resume, a late broadcast) is then a tombstone too.
  var deletedSeqs = new Set();
  var clearedUpTo = 0;
  var banned = false;

  // Plugins (static/chat/moderation.js, …) push {decorateMessage(item, message), moderation(frame),
  // error(frame), closed(code)} here before this file runs; each hook is optional.
  var plugins = window.chatterRoomPlugins = window.chatterRoomPlugins || [];
  function callPlugins(hook) {
    var args = Array.prototype.slice.call(arguments, 1);
    for (var i = 0; i < plugins.length; i++) {
      if (typeof plugins[i][hook] !== "function") continue;
      try {
        plugins[i][hook].apply(plugins[i], args);
      } catch (error) {
        if (window.console) console.error("chatter plugin " + hook + " failed", error);
      }
    }
  }

  // --- small DOM helpers --------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function cssToken(value) {
    return String(value).toLowerCase().replace(/[^a-z0-9_-]/g, "").slice(0, 32) || "other";
  }

  function safeColor(value) {
    if (typeof value !== "string" || !COLOR_RE.test(value)) return null;
    var r = parseInt(value.slice(1, 3), 16), g = parseInt(value.slice(3, 5), 16), b = parseInt(value.slice(5, 7), 16);
    var luminance = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    if (luminance >= 0.22) return value;
    // Too dark to read on the dark theme: mix towards white, keeping the hue.
    var mix = function (c) { return Math.round(c + (255 - c) * 0.45).toString(16).padStart(2, "0"); };
    return "#" + mix(r) + mix(g) + mix(b);
  }

  function timeLabel(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function hashHue(text) {
    var hash = 0;
    for (var i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0;
    return Math.abs(hash) % 360;
  }

  function emoteNode(name) {
    return rich.emoteNode(name);
  }

  function codePoints(text) {
    return Array.from(text).length;
  }

  // --- message rendering --------------------------------------------------------------------
  function appendRichText(container, text) {
    rich.append(container, text);
  }

  function remember(message) {
    if (!message.id || known.has(String(message.id))) return;
    known.set(String(message.id), { name: String((message.author || {}).name || ""), text: String(message.text || "") });
    if (known.size > REPLY_MEMORY) known.delete(known.keys().next().value);
  }

  /** "Replying to @x: …" above a reply; the name from the message replied to, or the reply's own @. */
  function replyContext(message) {
    var parent = known.get(String(message.reply_to));
    var leading = /^@([A-Za-z0-9_]{2,32})/.exec(String(message.text || ""));
    var name = parent ? parent.name : leading ? leading[1] : "";
    var box = el("div", "chat-reply-context");
    box.appendChild(el("span", "chat-reply-arrow", "↪"));
    box.appendChild(document.createTextNode(name ? "Replying to " : "Replying to an earlier message"));
    if (name) {
      var who = el("span", "chat-reply-name", "@" + name);
      who.setAttribute("data-name", name);
      box.appendChild(who);
    }
    if (parent && parent.text) box.appendChild(el("span", "chat-reply-quote", parent.text.length > 80 ? parent.text.slice(0, 79) + "…" : parent.text));
    box.setAttribute("data-reply-to", String(message.reply_to));
    return box;
  }

  /** Highlights what concerns the signed-in viewer: mentions of them and their own lines. */
  function markPersonal(item) {
    if (!me || !me.name) return;
    var myName = String(me.name).toLowerCase();
    var mentions = item.querySelectorAll(".mention");
    for (var i = 0; i < mentions.length; i++) {
      if (mentions[i].textContent.slice(1).toLowerCase() === myName) {
        mentions[i].classList.add("mention-me");
        item.classList.add("is-mention");
      }
    }
    var author = item.querySelector(".chat-author");
    if (author && item.classList.contains("origin-human") && author.textContent === String(me.name)) {
      item.classList.add("is-own");
    }
  }

  function renderMessage(message) {
    var origin = cssToken(message.origin || "human");
    var item = el("li", "chat-message origin-" + origin);
    item.setAttribute("data-seq", String(message.seq));
    if (message.id) item.setAttribute("data-id", String(message.id));
    if (message.reply_to) {
      item.classList.add("is-reply");
      item.appendChild(replyContext(message));
    }

    var time = el("time", "chat-time", timeLabel(message.created_at));
    if (message.created_at) time.setAttribute("datetime", String(message.created_at));
    item.appendChild(time);

    var author = message.author || {};
    var badges = Array.isArray(author.badges) ? author.badges : [];
    if (badges.length) {
      var badgeBox = el("span", "chat-badges");
      badges.slice(0, 8).forEach(function (badge) {
        var name = String(badge);
        var key = cssToken(name);
        var pill = el("span", "badge badge-" + key, BADGE_LABELS[key] || name.slice(0, 12));
        pill.setAttribute("title", name);
        badgeBox.appendChild(pill);
      });
      item.appendChild(badgeBox);
    }

    var authorEl = el("span", "chat-author", author.name || "unknown");
    authorEl.setAttribute("data-name", String(author.name || ""));
    authorEl.setAttribute("role", "button");
    authorEl.setAttribute("tabindex", overlay ? "-1" : "0");
    var color = safeColor(author.color);
    if (color) {
      authorEl.style.color = color;
      authorEl.setAttribute("data-color", author.color);
    }
    item.appendChild(authorEl);
    item.appendChild(el("span", "chat-colon", ": "));

    var textEl = el("span", "chat-text");
    appendRichText(textEl, String(message.text || ""));
    item.appendChild(textEl);
    markPersonal(item);
    var flagText = flagExplanation(message.flags);
    if (flagText) {
      item.classList.add("is-flagged");
      var flag = el("span", "chat-flag", "⚑");
      flag.setAttribute("title", flagText);
      flag.setAttribute("aria-label", flagText);
      flag.setAttribute("role", "img");
      item.appendChild(flag);
    }
    if (boot.signedIn && !overlay && message.id) {
      var replyButton = el("button", "chat-action chat-action-reply", "↩");
      replyButton.type = "button";
      replyButton.setAttribute("title", "Reply");
      replyButton.setAttribute("aria-label", "Reply to " + (author.name || "this message"));
      item.appendChild(replyButton);
    }
    callPlugins("decorateMessage", item, message);
    return item;
  }

  // What the safety gate's flags (chat/safety) mean to a reader, shown when hovering the ⚑.
  var FLAG_TEXT = {
    link_risky: "This link points outside the room's list of allowed sites: it is shown as text, not as a link. Open it only if you trust it.",
    link: "Contains a link to an allowed site.",
    markup: "HTML in this message is shown as plain text.",
    masked: "A blocked word in this message was masked.",
    pii_redacted: "Personal details (an e-mail, phone number or address) were hidden."
  };

  function flagExplanation(flags) {
    if (!Array.isArray(flags) || !flags.length) return "";
    // An allow-listed link is drawn as a link (richtext.js): that alone is nothing to flag.
    var names = flags.filter(function (name) { return name !== "link"; });
    return names.map(function (name) { return FLAG_TEXT[name] || "Flagged by the safety filter (" + name + ")."; }).join(" ");
  }

  function isAtBottom() {
    return messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight <= AT_BOTTOM_SLACK_PX;
  }

  function scrollToBottom() {
    messagesEl.scrollTop = messagesEl.scrollHeight;
    stickToBottom = true;
    unseenCount = 0;
    pillEl.hidden = true;
  }

  function firstMessageNode() {
    var node = messagesEl.firstElementChild;
    while (node && !node.classList.contains("chat-message")) node = node.nextElementSibling;
    return node;
  }

  function insertLate(node, seq) {
    // A seq older than what is on screen (a gap being filled): put it in its place.
    var cursor = messagesEl.lastElementChild;
    while (cursor && cursor.classList.contains("chat-message") && Number(cursor.getAttribute("data-seq")) > seq) {
      cursor = cursor.previousElementSibling;
    }
    if (cursor && cursor.classList.contains("chat-message")) {
      messagesEl.insertBefore(node, cursor.nextSibling);
      return true;
    }
    if (messageNodeCount >= MAX_MESSAGE_NODES) return false; // older than everything kept: drop
    var first = firstMessageNode();
    messagesEl.insertBefore(node, first);
    return true;
  }

  function flushRender() {
    frameRequested = false;
    if (!renderQueue.length) return;
    var batch = renderQueue;
    renderQueue = [];
    batch.sort(function (a, b) { return a.seq - b.seq; });

    var wasAtBottom = stickToBottom;
    var fragment = document.createDocumentFragment();
    var added = 0;
    for (var i = 0; i < batch.length; i++) {
      var message = batch[i];
      var node = renderMessage(message);
      if (message.seq > lastRenderedSeq) {
        fragment.appendChild(node);
        lastRenderedSeq = message.seq;
        added++;
      } else if (insertLate(node, message.seq)) {
        added++;
      }
    }
    messagesEl.appendChild(fragment);
    messageNodeCount += added;

    trimTo(scrolledBack && !wasAtBottom ? MAX_SCROLLBACK_NODES : MAX_MESSAGE_NODES, wasAtBottom);

    if (wasAtBottom) {
      scrollToBottom();
    } else if (added) {
      unseenCount += added;
      pillEl.textContent = (unseenCount > 99 ? "99+" : unseenCount) + " new message" + (unseenCount === 1 ? "" : "s") + " ↓";
      pillEl.hidden = false;
    }
  }

  function trimTo(cap, atBottom) {
    if (messageNodeCount <= cap) return;
    if (placeholderEl && placeholderEl.parentNode) {
      placeholderEl.parentNode.removeChild(placeholderEl);
      placeholderEl = null;
    }
    var edge = document.getElementById("chat-history-edge");
    if (edge) edge.parentNode.removeChild(edge);
    scrollbackDone = false; // what is trimmed can be loaded again
    scrollbackCursor = 0;
    var removedHeight = 0;
    while (messageNodeCount > cap) {
      var oldest = firstMessageNode();
      if (!oldest) break;
      if (!atBottom) removedHeight += oldest.offsetHeight;
      messagesEl.removeChild(oldest);
      messageNodeCount--;
    }
    // Keep what the reader is looking at in place while the top of the list goes away.
    if (!atBottom && removedHeight) messagesEl.scrollTop = Math.max(0, messagesEl.scrollTop - removedHeight);
  }

  // --- scrollback: older messages from the messages API when the reader reaches the top --------
  function loadOlder() {
    if (overlay || scrollbackLoading || scrollbackDone) return;
    var first = firstMessageNode();
    var firstSeq = first ? Number(first.getAttribute("data-seq")) : 0;
    // Below the first line shown there may be deleted ones already fetched: start under them.
    var before = scrollbackCursor && scrollbackCursor < firstSeq ? scrollbackCursor : firstSeq;
    if (!before || before <= 1) {
      if (first) markHistoryStart();
      return;
    }
    scrollbackLoading = true;
    messagesEl.setAttribute("aria-busy", "true");
    var url = "/api/rooms/" + encodeURIComponent(roomSlug) + "/messages?before=" + before + "&limit=" + SCROLLBACK_PAGE;
    var again = false;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (items) {
        items = Array.isArray(items) ? items : [];
        if (firstMessageNode() !== first) return; // the list moved on meanwhile (trimmed, cleared)
        var shown = prependOlder(items, before, first);
        scrollbackCursor = items.length ? Number(items[0].seq) || before : before;
        if (items.length < SCROLLBACK_PAGE || scrollbackCursor <= 1) {
          scrollbackDone = true;
          markHistoryStart();
        } else if (!shown) {
          again = true; // a page of deleted lines only: fetch the one before it
        }
      })
      .catch(function () { /* offline or server busy: the next scroll to the top tries again */ })
      .then(function () {
        scrollbackLoading = false;
        messagesEl.removeAttribute("aria-busy");
        if (again) loadOlder();
      });
  }

  function prependOlder(items, before, first) {
    var fragment = document.createDocumentFragment();
    var added = 0;
    items.sort(function (a, b) { return a.seq - b.seq; });
    items.forEach(function (message) {
      if (!message || !(Number(message.seq) < before) || isTombstone(message)) return;
      remember(message);
      fragment.appendChild(renderMessage(message));
      added++;
    });
    if (!added) return 0;
    var heightBefore = messagesEl.scrollHeight;
    messagesEl.insertBefore(fragment, first);
    messageNodeCount += added;
    scrolledBack = true;
    // The reader keeps looking at the same lines; the older ones appear above them.
    messagesEl.scrollTop += messagesEl.scrollHeight - heightBefore;
    return added;
  }

  function markHistoryStart() {
    if (document.getElementById("chat-history-edge")) return;
    var edge = el("li", "chat-history-edge", "This is the start of the chat.");
    edge.id = "chat-history-edge";
    messagesEl.insertBefore(edge, messagesEl.firstChild);
  }

  function scheduleRender() {
    if (frameRequested) return;
    frameRequested = true;
    // Background tabs throttle rAF to zero; a timeout keeps the DOM (and the cap) moving there.
    if (document.hidden) setTimeout(flushRender, 250);
    else requestAnimationFrame(flushRender);
  }

  // --- seq bookkeeping ----------------------------------------------------------------------
  function advance() {
    while (ahead.has(lastSeq + 1)) {
      ahead.delete(lastSeq + 1);
      lastSeq += 1;
    }
  }

  /** Returns true when the message is new (not a seq already held). */
  function accept(message) {
    var seq = Number(message.seq);
    if (!Number.isInteger(seq) || seq < 1) return false;
    if (seq <= lastSeq || ahead.has(seq)) return false;
    if (seq === lastSeq + 1) {
      lastSeq = seq;
      advance();
    } else {
      ahead.add(seq);
    }
    return true;
  }

  function isTombstone(message) {
    var seq = Number(message.seq);
    return message.deleted === true || deletedSeqs.has(seq) || seq <= clearedUpTo;
  }

  function receiveMessages(items) {
    if (!Array.isArray(items)) return;
    var fresh = 0;
    for (var i = 0; i < items.length; i++) {
      var message = items[i];
      if (!message || typeof message !== "object") continue;
      if (message.client_id && pending.has(message.client_id)) acknowledge(message.client_id);
      if (isTombstone(message)) {
        // Deleted by a moderator: its seq counts (no gap to resume for), its words are never shown.
        accept(message);
        removeSeqs([Number(message.seq)]);
        continue;
      }
      if (accept(message)) {
        remember(message);
        if (overlay && overlay.hideBots && message.origin === "bot") continue;
        renderQueue.push(message);
        fresh++;
      }
    }
    if (renderQueue.length > MAX_MESSAGE_NODES * 2) {
      // A background tab gets no animation frames: keep only what the capped list would show.
      renderQueue.sort(function (a, b) { return a.seq - b.seq; });
      renderQueue = renderQueue.slice(-MAX_MESSAGE_NODES);
    }
    if (fresh) scheduleRender();
    if (ahead.size) requestResume();
  }

  // --- moderation ---------------------------------------------------------------------------
  function removeNode(node) {
    if (!node || !node.parentNode) return;
    node.parentNode.removeChild(node);
    messageNodeCount--;
  }

  function removeSeqs(seqs) {
    var doomed = new Set(seqs);
    renderQueue = renderQueue.filter(function (message) { return !doomed.has(Number(message.seq)); });
    doomed.forEach(function (seq) {
      removeNode(messagesEl.querySelector('.chat-message[data-seq="' + seq + '"]'));
    });
  }

  function onModeration(frame) {
    if (frame.action === "delete" && Array.isArray(frame.seqs)) {
      var seqs = frame.seqs.map(Number).filter(Number.isInteger);
      seqs.forEach(function (seq) { deletedSeqs.add(seq); });
      removeSeqs(seqs);
    } else if (frame.action === "clear") {
      clearedUpTo = Math.max(clearedUpTo, Number(frame.upto) || 0);
      renderQueue = renderQueue.filter(function (message) { return Number(message.seq) > clearedUpTo; });
      var shown = messagesEl.querySelectorAll(".chat-message");
      for (var i = 0; i < shown.length; i++) {
        if (Number(shown[i].getAttribute("data-seq")) <= clearedUpTo) removeNode(shown[i]);
      }
      unseenCount = 0;
      pillEl.hidden = true;
    }
    callPlugins("moderation", frame);
  }

  // --- resume -------------------------------------------------------------------------------
  function sendResume() {
    if (!isOpen()) return;
    lastResumeAt = Date.now();
    sendFrame({ type: "resume", after_seq: lastSeq });
    if (ahead.size) watchGap();
  }

  function requestResume() {
    if (resumeTimer || !isOpen()) return; // a closed socket resumes on its next hello
    var wait = Math.max(0, lastResumeAt + RESUME_MIN_INTERVAL_MS - Date.now());
    resumeTimer = setTimeout(function () {
      resumeTimer = null;
      if (ahead.size) sendResume();
    }, wait);
  }

  function watchGap() {
    if (gapTimer) return;
    gapMark = lastSeq;
    gapTimer = setTimeout(function () {
      gapTimer = null;
      if (!ahead.size) {
        gapStrikes = 0;
        return;
      }
      gapStrikes = lastSeq === gapMark ? gapStrikes + 1 : 0;
      if (gapStrikes >= GAP_MAX_STRIKES) {
        // The missing seqs never came (removed by a moderator): stop waiting for them.
        gapStrikes = 0;
        lastSeq = Math.min.apply(null, Array.from(ahead)) - 1;
        advance();
        if (!ahead.size) return;
      }
      requestResume();
    }, GAP_CHECK_MS);
  }

  // --- connection ---------------------------------------------------------------------------
  function isOpen() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function sendFrame(frame) {
    if (!isOpen()) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function setStatus(state, text) {
    if (!statusEl) return;
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = text;
  }

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    // The chatter list's frames are opt-in; the overlay has no list.
    return scheme + "//" + window.location.host + "/ws/rooms/" + encodeURIComponent(roomSlug) + "/" + (overlay ? "" : "?chatters=1");
  }

  function connect() {
    clearTimeout(reconnectTimer);
    clearInterval(countdownTimer);
    reconnectTimer = null;
    countdownTimer = null;
    if (roomGone) return;
    setStatus("connecting", attempt ? "reconnecting…" : "connecting…");
    var ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (error) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    connectedAt = 0;
    ws.onopen = function () {
      if (ws !== socket) return;
      lastFrameAt = Date.now();
      // "connected" waits for the hello: until then the page does not know where the room is.
      startHeartbeat();
    };
    ws.onmessage = function (event) {
      if (ws !== socket) return;
      lastFrameAt = Date.now();
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (frame && typeof frame === "object") handleFrame(frame);
    };
    ws.onclose = function (event) {
      if (ws !== socket) return;
      socketLost(event.code);
    };
  }

  function socketLost(code) {
    var lived = connectedAt ? Date.now() - connectedAt : 0;
    socket = null;
    stopHeartbeat();
    clearTimeout(resumeTimer);
    resumeTimer = null;
    clearTimeout(ackTimer);
    inFlight = null;
    pending.forEach(function (entry) { entry.sent = false; });
    if (code === 4404) {
      roomGone = true;
      setStatus("gone", "this room no longer exists");
      return;
    }
    if (code === 4403) {
      // Banned from this room: reconnecting would only be closed again.
      banned = true;
      roomGone = true;
      setStatus("banned", "banned from this chat");
      callPlugins("closed", code);
      return;
    }
    if (lived > STABLE_CONNECTION_MS) attempt = 0;
    // 4503: the server's database or Redis is down for a moment; the backoff below spaces the retries.
    scheduleReconnect(code === 4503 ? "server unavailable, " : "");
  }

  function dropSocket() {
    // A silent socket may take minutes to report its close; stop waiting for it.
    var ws = socket;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try { ws.close(); } catch (error) { /* already closing */ }
    socketLost(1006);
  }

  function scheduleReconnect(reason) {
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt));
    // Equal jitter: never below half the step, so a crowd of viewers spreads out after a restart.
    var delay = Math.max(BACKOFF_MIN_MS / 2, ceiling / 2 + Math.random() * ceiling / 2);
    attempt += 1;
    reconnectAt = Date.now() + delay;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
    var tick = function () {
      var seconds = Math.max(1, Math.ceil((reconnectAt - Date.now()) / 1000));
      setStatus("reconnecting", (reason || "") + "reconnecting in " + seconds + "s");
    };
    tick();
    clearInterval(countdownTimer);
    countdownTimer = setInterval(tick, 500);
  }

  function reconnectNow() {
    if (reconnectTimer && !roomGone) connect();
  }

  function startHeartbeat() {
    stopHeartbeat();
    heartbeatTimer = setInterval(function () {
      if (!isOpen()) return;
      if (Date.now() - lastFrameAt > SILENCE_LIMIT_MS) {
        dropSocket();
        return;
      }
      sendFrame({ type: "ping" });
    }, PING_INTERVAL_MS);
  }

  function stopHeartbeat() {
    clearInterval(heartbeatTimer);
    heartbeatTimer = null;
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "hello":
        onHello(frame);
        break;
      case "messages":
        receiveMessages(frame.items);
        break;
      case "context":
        renderContext(frame.context);
        break;
      case "trends":
        renderTrends(frame.trends);
        break;
      case "error":
        onError(frame);
        break;
      case "moderation":
        onModeration(frame);
        break;
      default:
        // Other modules (chatters.js, …) listen for the frames they own.
        document.dispatchEvent(new CustomEvent("chatter:frame", { detail: frame }));
        break;
    }
  }

  function onHello(frame) {
    connectedAt = Date.now();
    var before = me && me.name;
    me = frame.user && typeof frame.user === "object" ? frame.user : null;
    if (me && me.name && me.name !== before) {
      // History was drawn before the server said who this is.
      var shown = messagesEl.querySelectorAll(".chat-message");
      for (var i = 0; i < shown.length; i++) markPersonal(shown[i]);
    }
    setStatus("connected", "connected");
    document.dispatchEvent(new CustomEvent("chatter:hello", { detail: frame }));
    var serverSeq = Number(frame.last_seq) || 0;
    if (serverSeq > lastSeq || ahead.size) sendResume();
    pumpOutbox();
  }

  // --- sending ------------------------------------------------------------------------------
  function newClientId() {
    var cryptoApi = window.crypto || window.msCrypto;
    if (cryptoApi && typeof cryptoApi.randomUUID === "function") return cryptoApi.randomUUID();
    var bytes = new Uint8Array(16);
    if (cryptoApi && typeof cryptoApi.getRandomValues === "function") {
      cryptoApi.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function pumpOutbox() {
    if (inFlight !== null || !isOpen()) return;
    var next = null;
    pending.forEach(function (entry, clientId) {
      if (next === null && !entry.sent) next = clientId;
    });
    if (next === null) return;
    var entry = pending.get(next);
    entry.sent = true;
    inFlight = next;
    var frame = { type: "send", text: entry.text, client_id: next };
    if (entry.replyTo) frame.reply_to = entry.replyTo;
    sendFrame(frame);
    clearTimeout(ackTimer);
    ackTimer = setTimeout(function () {
      // No ack yet: let the next message go; this one is sent again after a reconnect.
      if (inFlight === next) {
        inFlight = null;
        showNotice("Still sending…", "info");
        pumpOutbox();
      }
    }, ACK_TIMEOUT_MS);
  }

  function acknowledge(clientId) {
    pending.delete(clientId);
    if (inFlight === clientId) {
      inFlight = null;
      clearTimeout(ackTimer);
      pumpOutbox();
    }
  }

  function onError(frame) {
    callPlugins("error", frame);
    var detail = typeof frame.detail === "string" && frame.detail ? frame.detail : "something went wrong";
    if (frame.code === "unavailable" && inFlight !== null) {
      // Nothing was stored; the same client_id is safe to send again once the server is back.
      var waiting = pending.get(inFlight);
      if (waiting) waiting.sent = false;
      inFlight = null;
      clearTimeout(ackTimer);
      setTimeout(pumpOutbox, 2000);
      showNotice("Chat is briefly unavailable; your message will be sent again.", "error", frame.code);
      return;
    }
    if (inFlight !== null) {
      var refused = pending.get(inFlight);
      pending.delete(inFlight);
      inFlight = null;
      clearTimeout(ackTimer);
      // Give the words back so a rate-limited viewer can simply press Enter again.
      if (refused && inputEl && !inputEl.value) {
        inputEl.value = refused.text;
        updateCounter();
      }
      pumpOutbox();
    }
    showNotice(detail, "error", frame.code);
  }

  function showNotice(text, kind, code) {
    if (!noticeEl) return;
    noticeEl.textContent = text;
    noticeEl.setAttribute("data-kind", kind || "info");
    if (code) noticeEl.setAttribute("data-code", cssToken(code));
    else noticeEl.removeAttribute("data-code");
    noticeEl.classList.add("is-visible");
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () {
      noticeEl.classList.remove("is-visible");
      noticeEl.textContent = "";
    }, NOTICE_MS);
  }

  // --- replies ------------------------------------------------------------------------------
  function startReply(item) {
    if (!inputEl || !replyBarEl || !item) return;
    var id = item.getAttribute("data-id");
    var authorEl = item.querySelector(".chat-author");
    if (!id || !authorEl) return;
    var name = authorEl.getAttribute("data-name") || authorEl.textContent;
    var memory = known.get(id);
    replyingTo = { id: id, name: name, text: memory ? memory.text : "" };
    clear(replyTextEl);
    replyTextEl.appendChild(document.createTextNode("Replying to "));
    replyTextEl.appendChild(el("strong", "chat-reply-name", "@" + name));
    if (replyingTo.text) replyTextEl.appendChild(el("span", "chat-reply-quote", replyingTo.text));
    replyBarEl.hidden = false;
    inputEl.focus();
  }

  function cancelReply() {
    replyingTo = null;
    if (replyBarEl) replyBarEl.hidden = true;
  }

  function updateCounter() {
    if (!inputEl) return;
    var length = codePoints(inputEl.value);
    var blank = inputEl.value.trim() === "";
    if (counterEl) {
      counterEl.textContent = length ? length + "/" + maxLength : "";
      counterEl.classList.toggle("is-near", length > maxLength * 0.9 && length <= maxLength);
      counterEl.classList.toggle("is-over", length > maxLength);
    }
    if (sendEl) sendEl.disabled = blank || length > maxLength;
  }

  function submitMessage(event) {
    event.preventDefault();
    var text = inputEl.value;
    if (text.trim() === "") return;
    if (codePoints(text) > maxLength) {
      showNotice("Messages can be at most " + maxLength + " characters.", "error", "too_large");
      return;
    }
    var replyTo = null;
    if (replyingTo) {
      replyTo = replyingTo.id;
      // As on Twitch, a reply names who it answers, so it also reads right without the context line.
      if (text.trim().toLowerCase().indexOf("@" + replyingTo.name.toLowerCase()) !== 0) text = "@" + replyingTo.name + " " + text;
      if (codePoints(text) > maxLength) {
        showNotice("Messages can be at most " + maxLength + " characters.", "error", "too_large");
        return;
      }
    }
    pending.set(newClientId(), { text: text, sent: false, replyTo: replyTo });
    cancelReply();
    inputEl.value = "";
    updateCounter();
    if (!isOpen()) showNotice("Not connected: your message will be sent when chat reconnects.", "info");
    pumpOutbox();
    inputEl.focus();
  }

  // --- side panels --------------------------------------------------------------------------
  function chip(text, className) {
    return el("span", "chip" + (className ? " " + className : ""), text);
  }

  function emptyState(container) {
    clear(container);
    container.appendChild(el("p", "empty-state", "Waiting for the stream…"));
  }

  function sectionTitle(text) {
    return el("h3", "panel-section-title", text);
  }

  function renderContext(context) {
    if (!contextEl) return;
    if (!context || typeof context !== "object") {
      emptyState(contextEl);
      return;
    }
    var transcript = typeof context.transcript === "string" ? context.transcript.trim() : "";
    var keywords = Array.isArray(context.keywords) ? context.keywords : [];
    var topics = Array.isArray(context.topics) ? context.topics : [];
    var events = Array.isArray(context.events) ? context.events : [];
    if (!transcript && !keywords.length && !topics.length && !events.length) {
      emptyState(contextEl);
      return;
    }
    var fragment = document.createDocumentFragment();

    var transcriptBox = el("div", "transcript");
    transcriptBox.appendChild(el("span", "transcript-label", "On stream"));
    var tail = transcript.length > 320 ? "…" + transcript.slice(-320).replace(/^\S*\s/, "") : transcript;
    transcriptBox.appendChild(el("p", "transcript-text", tail || "…"));
    fragment.appendChild(transcriptBox);

    if (topics.length || keywords.length) {
      var chips = el("div", "chip-row");
      topics.slice(0, 4).forEach(function (topic) { chips.appendChild(chip(String(topic), "chip-topic")); });
      keywords.slice(0, 12).forEach(function (word) { chips.appendChild(chip(String(word), "chip-keyword")); });
      fragment.appendChild(sectionTitle("Keywords"));
      fragment.appendChild(chips);
    }

    if (events.length) {
      fragment.appendChild(sectionTitle("Moments"));
      var list = el("ul", "event-list");
      events.slice().sort(function (a, b) { return String(b.at).localeCompare(String(a.at)); }).slice(0, 6)
        .forEach(function (event) {
          var kind = cssToken(event.kind || "event");
          var row = el("li", "event event-" + kind);
          var label = EVENT_LABELS[kind] || String(event.kind || "event").replace(/_/g, " ");
          row.appendChild(el("span", "event-kind", label));
          if (event.evidence) row.appendChild(el("span", "event-evidence", String(event.evidence)));
          var meta = timeLabel(event.at);
          var confidence = Number(event.confidence);
          if (!isNaN(confidence)) meta += (meta ? " · " : "") + Math.round(confidence * 100) + "%";
          row.appendChild(el("span", "event-meta", meta));
          list.appendChild(row);
        });
      fragment.appendChild(list);
    }

    clear(contextEl);
    contextEl.appendChild(fragment);
    if (contextUpdatedEl) contextUpdatedEl.textContent = context.at ? "updated " + timeLabel(context.at) : "";
  }

  function stat(value, label, className) {
    var box = el("div", "stat" + (className ? " " + className : ""));
    box.appendChild(el("span", "stat-value", value));
    box.appendChild(el("span", "stat-label", label));
    return box;
  }

  function renderTrends(trends) {
    if (!trendsEl) return;
    if (!trends || typeof trends !== "object") {
      emptyState(trendsEl);
      return;
    }
    var fragment = document.createDocumentFragment();
    var perMinute = Number(trends.messages_per_minute) || 0;
    var botShare = Math.max(0, Math.min(1, Number(trends.bot_share) || 0));
    var authors = Number(trends.active_authors) || 0;

    var stats = el("div", "stats");
    stats.appendChild(stat(perMinute >= 10 ? String(Math.round(perMinute)) : perMinute.toFixed(1), "msgs / min", "stat-rate"));
    stats.appendChild(stat(String(authors), "chatters"));
    stats.appendChild(stat(Math.round(botShare * 100) + "%", "bot share", "stat-bots"));
    fragment.appendChild(stats);

    var meter = el("div", "bot-meter");
    meter.setAttribute("role", "meter");
    meter.setAttribute("aria-label", "bot share");
    meter.setAttribute("aria-valuemin", "0");
    meter.setAttribute("aria-valuemax", "100");
    meter.setAttribute("aria-valuenow", String(Math.round(botShare * 100)));
    var fill = el("span", "bot-meter-fill");
    fill.style.width = (botShare * 100).toFixed(1) + "%";
    meter.appendChild(fill);
    fragment.appendChild(meter);

    var waves = Array.isArray(trends.emote_waves) ? trends.emote_waves : [];
    if (waves.length) {
      fragment.appendChild(sectionTitle("Emote waves"));
      var waveRow = el("div", "chip-row wave-row");
      waves.slice(0, 8).forEach(function (name) { waveRow.appendChild(emoteNode(String(name))); });
      fragment.appendChild(waveRow);
    }

    var terms = Array.isArray(trends.top_terms) ? trends.top_terms : [];
    if (terms.length) {
      fragment.appendChild(sectionTitle("Top terms"));
      var top = Math.max.apply(null, terms.map(function (t) { return Number(t.count) || 0; }).concat([1]));
      var list = el("ol", "term-list");
      terms.slice(0, 8).forEach(function (term) {
        var count = Number(term.count) || 0;
        var row = el("li", "term");
        var bar = el("span", "term-bar");
        bar.style.width = Math.max(4, (count / top) * 100).toFixed(1) + "%";
        row.appendChild(bar);
        var name = String(term.term);
        row.appendChild(rich.isEmote(name) ? emoteNode(name) : el("span", "term-name", name));
        row.appendChild(el("span", "term-count", String(count)));
        list.appendChild(row);
      });
      fragment.appendChild(list);
    } else if (!perMinute) {
      fragment.appendChild(el("p", "empty-state empty-state-inline", "Chat is quiet right now."));
    }

    clear(trendsEl);
    trendsEl.appendChild(fragment);
    if (trendsUpdatedEl) trendsUpdatedEl.textContent = trends.at ? "updated " + timeLabel(trends.at) : "";
  }

  // --- start --------------------------------------------------------------------------------
  messagesEl.style.overflowAnchor = "none"; // the list keeps its own place when trimming
  messagesEl.addEventListener("scroll", function () {
    stickToBottom = isAtBottom();
    if (stickToBottom) {
      unseenCount = 0;
      pillEl.hidden = true;
      if (scrolledBack) {
        scrolledBack = false;
        trimTo(MAX_MESSAGE_NODES, true);
        messagesEl.scrollTop = messagesEl.scrollHeight;
      }
    } else if (messagesEl.scrollTop < SCROLLBACK_TRIGGER_PX) {
      loadOlder();
    }
  }, { passive: true });
  messagesEl.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".chat-action-reply") : null;
    if (button) startReply(button.closest(".chat-message"));
  });
  if (replyCancelEl) replyCancelEl.addEventListener("click", cancelReply);
  if (inputEl) {
    inputEl.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && replyingTo && !event.defaultPrevented) cancelReply();
    });
  }
  pillEl.addEventListener("click", scrollToBottom);

  if (formEl && inputEl) {
    formEl.addEventListener("submit", submitMessage);
    inputEl.addEventListener("input", updateCounter);
    updateCounter();
  }

  var history = Array.isArray(boot.history) ? boot.history.slice() : [];
  history.sort(function (a, b) { return a.seq - b.seq; });
  if (history.length) {
    // Tombstones keep history gap-free; only live gaps are worth a resume.
    lastSeq = Number(history[history.length - 1].seq) || 0;
    history.forEach(remember);
    renderQueue = history.filter(function (message) {
      return message.deleted !== true && !(overlay && overlay.hideBots && message.origin === "bot");
    });
    flushRender();
  }
  renderContext(boot.context);
  renderTrends(boot.trends);

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) reconnectNow();
  });

  window.chatterClient = {
    lastSeq: function () { return lastSeq; },
    socket: function () { return socket; },
    isBanned: function () { return banned; },
    me: function () { return me; },
    room: function () { return roomSlug; },
    rich: rich,
  };

  connect();
})();
