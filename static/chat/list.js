/*
 * The room's message list (room.js draws into it): batched rendering in seq order, the cap on
 * lines kept, the "new messages" pill, and scrollback from the messages API at the top.
 * Loaded after render.js and before room.js.
 */
(function () {
  "use strict";

  var AT_BOTTOM_SLACK_PX = 32;
  var SCROLLBACK_PAGE = 50;
  var SCROLLBACK_TRIGGER_PX = 80;
  var MAX_SCROLLBACK_NODES = 1500; // while reading history the list may grow to this; trimmed back at the bottom

  /**
   * options: messagesEl, pillEl, placeholderEl (or null), roomSlug, overlay (or null), maxNodes,
   * renderMessage(message), remember(message), isTombstone(message).
   */
  function create(options) {
    var el = window.chatterRender.el;
    var messagesEl = options.messagesEl;
    var pillEl = options.pillEl;
    var placeholderEl = options.placeholderEl;
    var roomSlug = options.roomSlug;
    var overlay = options.overlay;
    var maxNodes = options.maxNodes;
    var renderMessage = options.renderMessage;
    var remember = options.remember;
    var isTombstone = options.isTombstone;

    var renderQueue = [];
    var frameRequested = false;
    var lastRenderedSeq = 0;
    var messageNodeCount = 0;
    var stickToBottom = true;
    var unseenCount = 0;
    var scrollbackLoading = false;
    var scrollbackDone = false;
    var scrolledBack = false; // the list holds history loaded by scrollback (it may pass the usual cap)
    var scrollbackCursor = 0; // the oldest seq scrollback has fetched (deleted lines are not shown)

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
      if (messageNodeCount >= maxNodes) return false; // older than everything kept: drop
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

      trimTo(scrolledBack && !wasAtBottom ? MAX_SCROLLBACK_NODES : maxNodes, wasAtBottom);

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

    function enqueue(messages) {
      for (var i = 0; i < messages.length; i++) renderQueue.push(messages[i]);
      if (renderQueue.length > maxNodes * 2) {
        // A background tab gets no animation frames: keep only what the capped list would show.
        renderQueue.sort(function (a, b) { return a.seq - b.seq; });
        renderQueue = renderQueue.slice(-maxNodes);
      }
      if (messages.length) scheduleRender();
    }

    /** A moderator's clear: every line up to `upto` goes, queued or shown. */
    function clearUpTo(upto) {
      renderQueue = renderQueue.filter(function (message) { return Number(message.seq) > upto; });
      var shown = messagesEl.querySelectorAll(".chat-message");
      for (var i = 0; i < shown.length; i++) {
        if (Number(shown[i].getAttribute("data-seq")) <= upto) removeNode(shown[i]);
      }
      unseenCount = 0;
      pillEl.hidden = true;
    }

    /** The page's history, drawn at once. */
    function show(messages) {
      renderQueue = messages;
      flushRender();
    }

    messagesEl.style.overflowAnchor = "none"; // the list keeps its own place when trimming
    messagesEl.addEventListener("scroll", function () {
      stickToBottom = isAtBottom();
      if (stickToBottom) {
        unseenCount = 0;
        pillEl.hidden = true;
        if (scrolledBack) {
          scrolledBack = false;
          trimTo(maxNodes, true);
          messagesEl.scrollTop = messagesEl.scrollHeight;
        }
      } else if (messagesEl.scrollTop < SCROLLBACK_TRIGGER_PX) {
        loadOlder();
      }
    }, { passive: true });
    pillEl.addEventListener("click", scrollToBottom);

    return { enqueue: enqueue, removeSeqs: removeSeqs, clearUpTo: clearUpTo, show: show };
  }

  window.chatterMessageList = { create: create };
})();
