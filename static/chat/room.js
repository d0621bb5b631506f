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
  var ACK_TIMEOUT_MS = 10000;
  var NOTICE_MS = 6000;
  // Emotes (code -> image URL) and the link allow-list come from the server (static/chat/richtext.js).
  var rich = window.chatterRichText.create({ emotes: boot.emotes, allowedDomains: boot.allowedDomains });
  // The OBS overlay runs this same client with a few options (chat/views.py overlay_options).
  var overlay = boot.overlay && typeof boot.overlay === "object" ? boot.overlay : null;

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
  var me = null; // {name, is_staff} from hello
  var lastSeq = 0; // every seq <= lastSeq has been received (or given up on)
  var ahead = new Set(); // seqs received beyond a gap
  var replyingTo = null; // {id, name, text} while composing a reply

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

  // --- the parts (static/chat/render.js, list.js, panels.js, connection.js) ------------------
  var el = window.chatterRender.el;
  var clear = window.chatterRender.clear;
  var cssToken = window.chatterRender.cssToken;
  var codePoints = window.chatterRender.codePoints;
  var render = window.chatterRender.create({
    rich: rich,
    overlay: overlay,
    signedIn: boot.signedIn,
    me: function () { return me; },
    callPlugins: callPlugins,
  });
  var list = window.chatterMessageList.create({
    messagesEl: messagesEl,
    pillEl: pillEl,
    placeholderEl: placeholderEl,
    roomSlug: roomSlug,
    overlay: overlay,
    maxNodes: MAX_MESSAGE_NODES,
    renderMessage: render.renderMessage,
    remember: render.remember,
    isTombstone: isTombstone,
  });
  var panels = window.chatterPanels.create({
    rich: rich,
    contextEl: contextEl,
    contextUpdatedEl: contextUpdatedEl,
    trendsEl: trendsEl,
    trendsUpdatedEl: trendsUpdatedEl,
  });
  var connection = window.chatterConnection.create({
    url: socketUrl,
    setStatus: setStatus,
    onFrame: handleFrame,
    onLost: function () {
      clearTimeout(resumeTimer);
      resumeTimer = null;
      clearTimeout(ackTimer);
      inFlight = null;
      pending.forEach(function (entry) { entry.sent = false; });
    },
    onBanned: function (code) {
      banned = true;
      callPlugins("closed", code);
    },
  });


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
    var fresh = [];
    for (var i = 0; i < items.length; i++) {
      var message = items[i];
      if (!message || typeof message !== "object") continue;
      if (message.client_id && pending.has(message.client_id)) acknowledge(message.client_id);
      if (isTombstone(message)) {
        // Deleted by a moderator: its seq counts (no gap to resume for), its words are never shown.
        accept(message);
        list.removeSeqs([Number(message.seq)]);
        continue;
      }
      if (accept(message)) {
        render.remember(message);
        if (overlay && overlay.hideBots && message.origin === "bot") continue;
        fresh.push(message);
      }
    }
    list.enqueue(fresh);
    if (ahead.size) requestResume();
  }

  // --- moderation ---------------------------------------------------------------------------
  function onModeration(frame) {
    if (frame.action === "delete" && Array.isArray(frame.seqs)) {
      var seqs = frame.seqs.map(Number).filter(Number.isInteger);
      seqs.forEach(function (seq) { deletedSeqs.add(seq); });
      list.removeSeqs(seqs);
    } else if (frame.action === "clear") {
      clearedUpTo = Math.max(clearedUpTo, Number(frame.upto) || 0);
      list.clearUpTo(clearedUpTo);
    }
    callPlugins("moderation", frame);
  }

  // --- resume -------------------------------------------------------------------------------
  function sendResume() {
    if (!connection.isOpen()) return;
    lastResumeAt = Date.now();
    connection.send({ type: "resume", after_seq: lastSeq });
    if (ahead.size) watchGap();
  }

  function requestResume() {
    if (resumeTimer || !connection.isOpen()) return; // a closed socket resumes on its next hello
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

  function handleFrame(frame) {
    switch (frame.type) {
      case "hello":
        onHello(frame);
        break;
      case "messages":
        receiveMessages(frame.items);
        break;
      case "context":
        panels.renderContext(frame.context);
        break;
      case "trends":
        panels.renderTrends(frame.trends);
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
    connection.connected();
    var before = me && me.name;
    me = frame.user && typeof frame.user === "object" ? frame.user : null;
    if (me && me.name && me.name !== before) {
      // History was drawn before the server said who this is.
      var shown = messagesEl.querySelectorAll(".chat-message");
      for (var i = 0; i < shown.length; i++) render.markPersonal(shown[i]);
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
    if (inFlight !== null || !connection.isOpen()) return;
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
    connection.send(frame);
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
    var memory = render.known.get(id);
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
    if (!connection.isOpen()) showNotice("Not connected: your message will be sent when chat reconnects.", "info");
    pumpOutbox();
    inputEl.focus();
  }

  // --- start --------------------------------------------------------------------------------
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
    history.forEach(render.remember);
    list.show(history.filter(function (message) {
      return message.deleted !== true && !(overlay && overlay.hideBots && message.origin === "bot");
    }));
  }
  panels.renderContext(boot.context);
  panels.renderTrends(boot.trends);

  window.addEventListener("online", connection.reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) connection.reconnectNow();
  });

  window.chatterClient = {
    lastSeq: function () { return lastSeq; },
    socket: connection.socket,
    isBanned: function () { return banned; },
    me: function () { return me; },
    room: function () { return roomSlug; },
    rich: rich,
  };

  connection.connect();
})();