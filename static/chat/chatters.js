/*
 * The chatter list and viewer count of the room page, from the server's `chatters` frames
 * (chat/presence.py): who is connected, grouped as moderators, the cast and viewers.
 * Safety: names are put in with textContent only.
 */
(function () {
  "use strict";

  var toggle = document.getElementById("chatters-toggle");
  var drawer = document.getElementById("chatters-drawer");
  var list = document.getElementById("chatters-list");
  var closeButton = document.getElementById("chatters-close");
  if (!drawer || !list) return;

  var COLOR_RE = /^#[0-9a-fA-F]{6}$/;
  var last = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function nameButton(name, color) {
    var button = el("button", "chatter-name", name);
    button.type = "button";
    button.setAttribute("data-name", name);
    if (typeof color === "string" && COLOR_RE.test(color)) button.style.color = color;
    return button;
  }

  function group(title, names, total, key) {
    var section = el("section", "chatters-group chatters-" + key);
    var head = el("h4", "chatters-group-title");
    head.appendChild(el("span", "", title));
    head.appendChild(el("span", "chatters-group-count", String(total)));
    section.appendChild(head);
    var ul = el("ul", "chatters-names");
    names.forEach(function (entry) {
      var li = el("li", "");
      li.appendChild(typeof entry === "string" ? nameButton(entry) : nameButton(String(entry.name), entry.color));
      ul.appendChild(li);
    });
    if (total > names.length) ul.appendChild(el("li", "chatters-more", "and " + (total - names.length) + " more"));
    section.appendChild(ul);
    return section;
  }

  function setCount(count) {
    var text = count >= 1000 ? (count / 1000).toFixed(count >= 10000 ? 0 : 1) + "K" : String(count);
    var nodes = document.querySelectorAll(".viewer-count-value");
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = text;
    var pills = document.querySelectorAll(".viewer-count");
    for (var j = 0; j < pills.length; j++) pills[j].hidden = false;
    if (toggle) toggle.setAttribute("title", count + (count === 1 ? " viewer" : " viewers") + " · users in chat");
  }

  function render(frame) {
    var counts = frame.counts && typeof frame.counts === "object" ? frame.counts : {};
    var moderators = Array.isArray(frame.moderators) ? frame.moderators : [];
    var viewers = Array.isArray(frame.viewers) ? frame.viewers : [];
    var cast = Array.isArray(frame.cast) ? frame.cast : [];
    var viewerCount = Math.max(0, Number(frame.viewer_count) || 0);
    setCount(viewerCount);

    var fragment = document.createDocumentFragment();
    var signedIn = (Number(counts.moderators) || 0) + (Number(counts.viewers) || 0);
    var anonymous = Math.max(0, viewerCount - signedIn);
    fragment.appendChild(el("p", "chatters-summary", viewerCount + (viewerCount === 1 ? " viewer" : " viewers") +
      (anonymous ? " · " + anonymous + " not signed in" : "")));
    if (moderators.length) fragment.appendChild(group("Moderators", moderators, Number(counts.moderators) || moderators.length, "moderators"));
    if (cast.length) fragment.appendChild(group("The cast", cast, Number(counts.cast) || cast.length, "cast"));
    fragment.appendChild(group("Viewers", viewers, Number(counts.viewers) || viewers.length, "viewers"));
    while (list.firstChild) list.removeChild(list.firstChild);
    list.appendChild(fragment);
  }

  function setOpen(open) {
    drawer.hidden = !open;
    if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open && closeButton) closeButton.focus();
  }

  document.addEventListener("chatter:frame", function (event) {
    var frame = event.detail;
    if (!frame || frame.type !== "chatters") return;
    last = frame;
    render(frame);
  });
  if (toggle) toggle.addEventListener("click", function () { setOpen(drawer.hidden); });
  if (closeButton) closeButton.addEventListener("click", function () { setOpen(false); if (toggle) toggle.focus(); });
  drawer.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false);
  });

  window.chatterChatters = { last: function () { return last; } };
})();
