/*
 * Composing: the emote picker and @-autocomplete for the chat input.
 * Names come from the chatter list (chatters.js) and the authors on screen; emotes from the room's set.
 */
(function () {
  "use strict";

  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var suggest = document.getElementById("chat-suggest");
  var picker = document.getElementById("emote-picker");
  var pickerToggle = document.getElementById("emote-picker-toggle");
  if (!form || !input || !window.chatterClient) return;

  var rich = window.chatterClient.rich;
  var MAX_SUGGESTIONS = 8;
  var active = -1;
  var options = [];
  var token = null; // {start, end} of the @word being completed

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function insertAtCursor(text) {
    var start = input.selectionStart == null ? input.value.length : input.selectionStart;
    var end = input.selectionEnd == null ? start : input.selectionEnd;
    var before = input.value.slice(0, start);
    var after = input.value.slice(end);
    var padded = (before && !/\s$/.test(before) ? " " : "") + text + (after && /^\s/.test(after) ? "" : " ");
    input.value = before + padded + after;
    var caret = (before + padded).length;
    input.setSelectionRange(caret, caret);
    input.dispatchEvent(new Event("input"));
    input.focus();
  }

  // --- emote picker ----------------------------------------------------------------------------
  function buildPicker() {
    if (!picker || picker.childNodes.length) return;
    var grid = el("div", "emote-grid");
    rich.codes().forEach(function (code) {
      var button = el("button", "emote-choice");
      button.type = "button";
      button.setAttribute("title", code);
      button.setAttribute("data-emote", code);
      button.appendChild(rich.emoteNode(code));
      grid.appendChild(button);
    });
    if (!grid.childNodes.length) grid.appendChild(el("p", "muted", "This room has no emotes."));
    picker.appendChild(el("h4", "emote-picker-title", "Emotes"));
    picker.appendChild(grid);
  }

  function setPicker(open) {
    if (!picker || !pickerToggle) return;
    if (open) buildPicker();
    picker.hidden = !open;
    pickerToggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  if (picker && pickerToggle) {
    pickerToggle.addEventListener("click", function () { setPicker(picker.hidden); });
    picker.addEventListener("click", function (event) {
      var choice = event.target.closest ? event.target.closest("[data-emote]") : null;
      if (!choice) return;
      insertAtCursor(choice.getAttribute("data-emote"));
      setPicker(false);
    });
    document.addEventListener("click", function (event) {
      if (!picker.hidden && !picker.contains(event.target) && event.target !== pickerToggle) setPicker(false);
    });
  }

  // --- @-autocomplete --------------------------------------------------------------------------
  function knownNames() {
    var seen = new Map();
    function add(name) {
      name = String(name || "");
      if (/^[A-Za-z0-9_]{2,32}$/.test(name) && !seen.has(name.toLowerCase())) seen.set(name.toLowerCase(), name);
    }
    var frame = window.chatterChatters ? window.chatterChatters.last() : null;
    if (frame) {
      (frame.cast || []).forEach(function (member) { add(member && member.name); });
      (frame.moderators || []).forEach(add);
      (frame.viewers || []).forEach(add);
    }
    var authors = document.querySelectorAll("#chat-messages .chat-author");
    for (var i = authors.length - 1; i >= 0 && seen.size < 500; i--) add(authors[i].getAttribute("data-name"));
    var me = window.chatterClient.me();
    if (me && me.name) seen.delete(String(me.name).toLowerCase());
    return Array.from(seen.values());
  }

  function currentToken() {
    var caret = input.selectionStart == null ? input.value.length : input.selectionStart;
    var match = /(^|\s)@([A-Za-z0-9_]{0,32})$/.exec(input.value.slice(0, caret));
    if (!match) return null;
    return { start: caret - match[2].length - 1, end: caret, prefix: match[2].toLowerCase() };
  }

  function close() {
    suggest.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    options = [];
    active = -1;
    token = null;
  }

  function highlight(index) {
    active = index;
    var items = suggest.querySelectorAll("li");
    for (var i = 0; i < items.length; i++) items[i].setAttribute("aria-selected", i === index ? "true" : "false");
    if (items[index]) input.setAttribute("aria-activedescendant", items[index].id);
  }

  function refresh() {
    token = currentToken();
    if (!token) return close();
    var names = knownNames();
    var starts = names.filter(function (n) { return n.toLowerCase().indexOf(token.prefix) === 0; });
    var contains = token.prefix ? names.filter(function (n) { return n.toLowerCase().indexOf(token.prefix) > 0; }) : [];
    options = starts.sort(function (a, b) { return a.localeCompare(b); }).concat(contains).slice(0, MAX_SUGGESTIONS);
    if (!options.length) return close();
    while (suggest.firstChild) suggest.removeChild(suggest.firstChild);
    options.forEach(function (name, index) {
      var item = el("li", "chat-suggestion", "@" + name);
      item.id = "chat-suggest-" + index;
      item.setAttribute("role", "option");
      item.setAttribute("data-value", name);
      suggest.appendChild(item);
    });
    suggest.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(0);
  }

  function accept(index) {
    var name = options[index];
    if (!name || !token) return;
    var after = input.value.slice(token.end).replace(/^\S*/, "");
    var before = input.value.slice(0, token.start);
    input.value = before + "@" + name + " " + after.replace(/^\s+/, "");
    var caret = (before + "@" + name + " ").length;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event("input"));
    input.focus();
  }

  if (suggest) {
    input.addEventListener("input", refresh);
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    suggest.addEventListener("mousedown", function (event) {
      var item = event.target.closest ? event.target.closest("[data-value]") : null;
      if (!item) return;
      event.preventDefault(); // keep the focus in the input
      accept(options.indexOf(item.getAttribute("data-value")));
    });
    // Capture on the form: these keys belong to the list while it is open (before room.js sees them).
    form.addEventListener("keydown", function (event) {
      if (event.target !== input || suggest.hidden || !options.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        highlight((active + step + options.length) % options.length);
      } else if (event.key === "Tab" || event.key === "Enter") {
        event.preventDefault();
        event.stopPropagation();
        accept(active < 0 ? 0 : active);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close();
      }
    }, true);
  }
})();
