/*
 * Message text → DOM: emotes as images, allow-listed links as links, @mentions as clickable names.
 * Shared by the room page, the pop-out chat and the overlay (loaded before room.js).
 *
 * Safety: text goes in with createTextNode; only fixed attribute names are set; an href is built
 * with the URL parser and kept only for http(s) to an allow-listed host without credentials.
 */
(function () {
  "use strict";

  var MENTION_RE = /(^|[^\w@])@([A-Za-z0-9_]{2,32})/g;
  var URLISH_RE = /^(?:https?:\/\/\S+|(?:www\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}(?:[/?#]\S*)?)$/i;
  var TRAILING_RE = /[.,;:!?'")\]}*]+$/;

  function hostAllowed(host, allowed) {
    host = host.toLowerCase().replace(/\.$/, "");
    for (var i = 0; i < allowed.length; i++) {
      var domain = allowed[i];
      if (host === domain || host.slice(-domain.length - 1) === "." + domain) return true;
    }
    return false;
  }

  function create(options) {
    var emotes = options && options.emotes && typeof options.emotes === "object" ? options.emotes : {};
    var allowed = (options && Array.isArray(options.allowedDomains) ? options.allowedDomains : [])
      .map(function (d) { return String(d).toLowerCase().replace(/^\*?\./, "").replace(/\.$/, ""); })
      .filter(Boolean);

    function isEmote(word) {
      return Object.prototype.hasOwnProperty.call(emotes, word);
    }

    function emoteNode(code) {
      if (!isEmote(code)) {
        var pill = document.createElement("span");
        pill.className = "emote emote-text";
        pill.textContent = code;
        return pill;
      }
      var img = document.createElement("img");
      img.className = "emote";
      img.setAttribute("src", String(emotes[code]));
      img.setAttribute("alt", code);
      img.setAttribute("title", code);
      img.setAttribute("draggable", "false");
      // The bundled images are square: the space is kept while they load, so lines do not jump.
      img.setAttribute("width", "56");
      img.setAttribute("height", "56");
      return img;
    }

    /** An allow-listed link for `word`, or null. Returns [anchor, trailing text]. */
    function linkFor(word) {
      if (!allowed.length || !URLISH_RE.test(word)) return null;
      var trailing = "";
      var trimmed = word.replace(TRAILING_RE, function (tail) { trailing = tail; return ""; });
      if (!trimmed) return null;
      var url;
      try {
        url = new URL(/^https?:\/\//i.test(trimmed) ? trimmed : "https://" + trimmed);
      } catch (error) {
        return null;
      }
      if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username || url.password) return null;
      if (!hostAllowed(url.hostname, allowed)) return null;
      var anchor = document.createElement("a");
      anchor.className = "chat-link";
      anchor.setAttribute("href", url.href);
      anchor.setAttribute("target", "_blank");
      anchor.setAttribute("rel", "noopener noreferrer nofollow");
      anchor.textContent = trimmed;
      return [anchor, trailing];
    }

    function append(container, text) {
      var buffer = "";
      function flush() {
        if (buffer) container.appendChild(document.createTextNode(buffer));
        buffer = "";
      }
      var parts = String(text).split(/(\s+)/);
      for (var i = 0; i < parts.length; i++) {
        var part = parts[i];
        if (!part) continue;
        if (isEmote(part)) {
          flush();
          container.appendChild(emoteNode(part));
          continue;
        }
        var link = part.indexOf(".") !== -1 ? linkFor(part) : null;
        if (link) {
          flush();
          container.appendChild(link[0]);
          buffer += link[1];
          continue;
        }
        if (part.indexOf("@") === -1) {
          buffer += part;
          continue;
        }
        var cursor = 0;
        var match;
        MENTION_RE.lastIndex = 0;
        while ((match = MENTION_RE.exec(part)) !== null) {
          var at = match.index + match[1].length;
          buffer += part.slice(cursor, at);
          flush();
          var mention = document.createElement("span");
          mention.className = "mention";
          mention.setAttribute("data-name", match[2]);
          mention.textContent = "@" + match[2];
          container.appendChild(mention);
          cursor = at + 1 + match[2].length;
        }
        buffer += part.slice(cursor);
      }
      flush();
    }

    return { append: append, emoteNode: emoteNode, isEmote: isEmote, codes: function () { return Object.keys(emotes); } };
  }

  window.chatterRichText = { create: create };
})();
