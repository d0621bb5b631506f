/*
 * The room page's side panels: what is on stream (context frames) and chat's trends (trends frames).
 * Loaded after render.js and before room.js; data goes in with textContent only.
 */
(function () {
  "use strict";

  var EVENT_LABELS = {
    big_laugh: "Big laugh", fail: "Fail", clutch: "Clutch", chat_question: "Chat question", scene_change: "Scene change"
  };

  /** options: rich (chatterRichText), contextEl, contextUpdatedEl, trendsEl, trendsUpdatedEl (each may be null). */
  function create(options) {
    var dom = window.chatterRender;
    var el = dom.el, clear = dom.clear, cssToken = dom.cssToken, timeLabel = dom.timeLabel;
    var rich = options.rich;
    var contextEl = options.contextEl, contextUpdatedEl = options.contextUpdatedEl;
    var trendsEl = options.trendsEl, trendsUpdatedEl = options.trendsUpdatedEl;

    function emoteNode(name) {
      return rich.emoteNode(name);
    }

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

    return { renderContext: renderContext, renderTrends: renderTrends };
  }

  window.chatterPanels = { create: create };
})();
