/*
 * Chat lines into the page for the room client (room.js): badges, colours, replies, the ⚑ explained.
 * Loaded after richtext.js and before room.js. Same safety rule as room.js: textContent,
 * createElement, setAttribute on fixed attribute names; never innerHTML.
 */
(function () {
  "use strict";

  var COLOR_RE = /^#[0-9a-fA-F]{6}$/;
  var REPLY_MEMORY = 3000; // messages remembered (id -> name and text) to show what a reply answers
  var BADGE_LABELS = {
    broadcaster: "Host", moderator: "Mod", mod: "Mod", staff: "Staff", admin: "Admin", bot: "Bot",
    persona: "Bot", vip: "VIP", subscriber: "Sub", verified: "✓"
  };

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

  function codePoints(text) {
    return Array.from(text).length;
  }

  /**
   * options: rich (chatterRichText), overlay (its options or null), signedIn, me() (the viewer from
   * hello, or null), callPlugins(hook, ...) (room.js's plugin hooks).
   */
  function create(options) {
    var rich = options.rich;
    var overlay = options.overlay;
    var callPlugins = options.callPlugins;
    var known = new Map(); // message id -> {name, text}, for "replying to" lines

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
      var me = options.me();
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
      if (options.signedIn && !overlay && message.id) {
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

    return { known: known, remember: remember, markPersonal: markPersonal, renderMessage: renderMessage };
  }

  window.chatterRender = { create: create, el: el, clear: clear, cssToken: cssToken, timeLabel: timeLabel, codePoints: codePoints };
})();
