/*
 * User cards: a click on a name in chat (or in the chatter list) opens who that is.
 * A persona: its bio, badges and narrative (loaded from the narrative API, "being written" on 204).
 * A person: join date; moderators also see their recent messages in this room.
 * Safety: everything from the server goes in with textContent; links are built from fixed paths.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-room]");
  if (!root || document.body.classList.contains("overlay")) return;
  var room = root.getAttribute("data-room");
  var COLOR_RE = /^#[0-9a-fA-F]{6}$/;
  var NARRATIVE_RETRIES = 5;
  var card = null;
  var opener = null;
  var generation = 0;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function close() {
    generation++;
    if (card && card.parentNode) card.parentNode.removeChild(card);
    card = null;
    if (opener && document.contains(opener)) opener.focus();
    opener = null;
  }

  function place(node, anchor) {
    var column = document.querySelector(".chat-column") || document.body;
    column.appendChild(node);
    var box = column.getBoundingClientRect();
    var at = anchor.getBoundingClientRect();
    var top = Math.max(8, Math.min(at.bottom - box.top + 6, box.height - node.offsetHeight - 8));
    node.style.top = top + "px";
  }

  function badgeRow(badges) {
    var row = el("div", "usercard-badges");
    (Array.isArray(badges) ? badges : []).slice(0, 8).forEach(function (badge) {
      var key = String(badge).toLowerCase().replace(/[^a-z0-9_-]/g, "");
      row.appendChild(el("span", "badge badge-" + key, String(badge).slice(0, 16)));
    });
    return row;
  }

  function dateLabel(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? "" : date.toLocaleDateString([], { year: "numeric", month: "long", day: "numeric" });
  }

  function loadNarrative(url, box, mine, attempt) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (mine !== generation) return null;
        if (response.status === 204) {
          box.textContent = "Their story is being written…";
          if (attempt < NARRATIVE_RETRIES) setTimeout(function () { loadNarrative(url, box, mine, attempt + 1); }, 2000 * (attempt + 1));
          return null;
        }
        if (!response.ok) {
          box.textContent = "No story yet: they have not been around long enough.";
          return null;
        }
        return response.json();
      })
      .then(function (data) {
        if (data && mine === generation) box.textContent = String(data.text || "");
      })
      .catch(function () {
        if (mine === generation) box.textContent = "Their story could not be loaded.";
      });
  }

  function render(data, mine) {
    var body = card.querySelector(".usercard-body");
    while (body.firstChild) body.removeChild(body.firstChild);
    var title = card.querySelector(".usercard-name");
    title.textContent = String(data.name);
    if (COLOR_RE.test(String(data.color))) title.style.color = data.color;
    body.appendChild(badgeRow(data.badges));
    card.setAttribute("data-kind", data.kind === "persona" ? "persona" : "person");
    if (data.kind === "persona") {
      body.appendChild(el("p", "usercard-kind", "A persona of the cast (an AI chatter)"));
      if (data.bio) body.appendChild(el("p", "usercard-bio", data.bio));
      body.appendChild(el("h4", "usercard-section", "Their story so far"));
      var story = el("p", "usercard-narrative", "Loading…");
      body.appendChild(story);
      if (typeof data.narrative_url === "string" && data.narrative_url.charAt(0) === "/") loadNarrative(data.narrative_url, story, mine, 0);
      if (typeof data.page_url === "string" && data.page_url.charAt(0) === "/") {
        var link = el("a", "usercard-link", "Open their page →");
        link.setAttribute("href", data.page_url);
        body.appendChild(link);
      }
    } else {
      var joined = dateLabel(data.joined);
      body.appendChild(el("p", "usercard-joined", joined ? "Joined " + joined : "A viewer"));
      if (Array.isArray(data.recent_messages)) {
        body.appendChild(el("h4", "usercard-section", "Recent messages here (" + (Number(data.message_count) || 0) + ")"));
        var list = el("ol", "usercard-messages");
        data.recent_messages.forEach(function (message) {
          var row = el("li", "");
          row.appendChild(el("span", "usercard-seq", "#" + message.seq));
          row.appendChild(document.createTextNode(" " + String(message.text)));
          list.appendChild(row);
        });
        if (!data.recent_messages.length) list.appendChild(el("li", "muted", "Nothing yet."));
        body.appendChild(list);
      }
      if (Array.isArray(data.moderation_actions)) {
        body.appendChild(el("h4", "usercard-section", "Moderation here"));
        var log = el("ol", "usercard-messages usercard-actions");
        data.moderation_actions.forEach(function (action) {
          var row = el("li", "");
          row.appendChild(el("strong", "", String(action.action)));
          var detail = " by " + String(action.by || "a moderator") + (action.at ? " · " + dateLabel(action.at) : "");
          if (action.until) detail += " · until " + new Date(action.until).toLocaleString();
          if (action.reason) detail += " — " + String(action.reason);
          row.appendChild(document.createTextNode(detail));
          log.appendChild(row);
        });
        if (!data.moderation_actions.length) log.appendChild(el("li", "muted", "None."));
        body.appendChild(log);
      }
    }
    var input = document.getElementById("chat-input");
    if (input) {
      var mention = el("button", "btn btn-ghost usercard-mention", "Mention");
      mention.type = "button";
      mention.addEventListener("click", function () {
        var prefix = input.value && !/\s$/.test(input.value) ? input.value + " " : input.value;
        input.value = prefix + "@" + data.name + " ";
        input.dispatchEvent(new Event("input"));
        close();
        input.focus();
      });
      body.appendChild(mention);
    }
  }

  function open(name, anchor) {
    close();
    opener = anchor;
    var mine = generation;
    card = el("div", "usercard");
    card.setAttribute("role", "dialog");
    card.setAttribute("aria-label", "About " + name);
    card.setAttribute("data-testid", "usercard");
    var head = el("header", "usercard-head");
    head.appendChild(el("h3", "usercard-name", name));
    var closer = el("button", "icon-btn usercard-close", "✕");
    closer.type = "button";
    closer.setAttribute("title", "Close");
    closer.addEventListener("click", close);
    head.appendChild(closer);
    card.appendChild(head);
    card.appendChild(el("div", "usercard-body", "Loading…"));
    place(card, anchor);
    closer.focus();
    fetch("/api/rooms/" + encodeURIComponent(room) + "/users/" + encodeURIComponent(name), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (mine !== generation) return null;
        if (response.status === 404) throw new Error("Nobody by that name is here any more.");
        if (!response.ok) throw new Error("Could not load this card.");
        return response.json();
      })
      .then(function (data) {
        if (data && mine === generation && card) render(data, mine);
      })
      .catch(function (error) {
        if (mine === generation && card) card.querySelector(".usercard-body").textContent = error.message;
      });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-name]") : null;
    if (target && (target.closest("#chat-messages") || target.closest("#chatters-list"))) {
      var name = target.getAttribute("data-name");
      if (name) {
        event.preventDefault();
        open(name, target);
        return;
      }
    }
    if (card && !card.contains(event.target)) close();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && card) close();
    if ((event.key === "Enter" || event.key === " ") && event.target.classList && event.target.classList.contains("chat-author")) {
      event.preventDefault();
      open(event.target.getAttribute("data-name"), event.target);
    }
  });
})();
