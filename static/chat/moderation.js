/*
 * chatter room moderation (SPEC 11): the moderators' tools, reports, and a viewer's own timeout or ban.
 *
 * A plugin of room.js (window.chatterRoomPlugins): room.js removes deleted and cleared messages; this
 * file adds the per-message menu (moderators: delete, timeout, ban, unban; signed-in viewers: report),
 * the room tools (clear, slow mode, emote-only), the modes shown in the header and the countdown of
 * a timeout or ban. Every action is POST /api/rooms/<slug>/moderation. Same safety rule as room.js:
 * data from the server goes in with textContent, never innerHTML.
 */
(function () {
  "use strict";

  var bootElement = document.getElementById("moderation-bootstrap");
  if (!bootElement) return;
  var boot = {};
  try {
    boot = JSON.parse(bootElement.textContent) || {};
  } catch (error) {
    return;
  }

  var TIMEOUT_PRESETS = [[60, "1m"], [600, "10m"], [3600, "1h"], [86400, "24h"]];
  var SLOW_PRESETS = [0, 3, 5, 10, 30, 60, 120];
  var REPORT_REASONS = [
    ["spam", "Spam"], ["harassment", "Harassment"], ["hate", "Hate or slurs"],
    ["personal_data", "Personal data"], ["other", "Something else"]
  ];
  var TOAST_MS = 5000;

  var slug = String(boot.room || "");
  var me = boot.me ? String(boot.me) : null;
  var isModerator = boot.moderator === true;
  var canReport = boot.canReport === true;
  var mode = boot.mode || { slow_seconds: 0, emote_only: false };
  var sanctionTimer = null;
  var menu = null;
  var toastTimer = null;

  // --- helpers ------------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function button(label, className, onClick) {
    var node = el("button", "mod-btn" + (className ? " " + className : ""), label);
    node.type = "button";
    node.addEventListener("click", function (event) {
      event.preventDefault();
      event.stopPropagation();
      onClick(node);
    });
    return node;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
    var m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + String(m).padStart(2, "0") + "m";
    if (m) return m + "m " + String(s).padStart(2, "0") + "s";
    return s + "s";
  }

  function toast(text, kind) {
    var box = document.getElementById("mod-toast");
    if (!box) {
      box = el("div", "mod-toast");
      box.id = "mod-toast";
      box.setAttribute("role", "status");
      var scroll = document.querySelector(".chat-scroll");
      (scroll || document.body).appendChild(box);
    }
    box.textContent = text;
    box.setAttribute("data-kind", kind || "info");
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, TOAST_MS);
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": boot.csrf || "" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = (data && data.error) || {};
          throw new Error(error.detail || "refused (" + response.status + ")");
        }
        return data;
      });
    });
  }

  function moderate(body, done) {
    return post("/api/rooms/" + encodeURIComponent(slug) + "/moderation", body)
      .then(function (record) {
        closeMenu();
        if (done) done(record);
      })
      .catch(function (error) { toast(error.message, "error"); });
  }

  // --- the per-message menu -----------------------------------------------------------------
  function closeMenu() {
    if (menu && menu.parentNode) menu.parentNode.removeChild(menu);
    menu = null;
  }

  function menuSection(title) {
    var section = el("div", "mod-menu-section");
    if (title) section.appendChild(el("div", "mod-menu-title", title));
    return section;
  }

  function reasonInput() {
    var input = el("input", "mod-input mod-reason");
    input.type = "text";
    input.maxLength = 500;
    input.placeholder = "Reason (optional, for the log)";
    input.setAttribute("aria-label", "Reason");
    return input;
  }

  function openMenu(anchor, target) {
    closeMenu();
    menu = el("div", "mod-menu");
    menu.id = "mod-menu";
    menu.setAttribute("role", "dialog");
    menu.setAttribute("aria-label", "Actions on " + target.name);
    menu.addEventListener("click", function (event) { event.stopPropagation(); });
    var head = el("div", "mod-menu-head");
    head.appendChild(el("span", "mod-menu-name", target.name));
    head.appendChild(el("span", "mod-menu-seq", "#" + target.seq));
    menu.appendChild(head);

    if (isModerator) {
      var reason = reasonInput();
      var actions = menuSection();
      actions.appendChild(reason);
      actions.appendChild(button("Delete message", "mod-danger mod-delete", function () {
        moderate({ action: "delete", seq: target.seq, reason: reason.value }, function () {
          toast("Message deleted.");
        });
      }));
      menu.appendChild(actions);
      if (target.human && target.name !== me) {
        var timeouts = menuSection("Time out " + target.name);
        var row = el("div", "mod-row");
        TIMEOUT_PRESETS.forEach(function (preset) {
          var b = button(preset[1], "mod-timeout", function () {
            moderate({ action: "timeout", user: target.name, seconds: preset[0], reason: reason.value }, function () {
              toast(target.name + " is timed out for " + duration(preset[0]) + ".");
            });
          });
          b.setAttribute("data-seconds", String(preset[0]));
          row.appendChild(b);
        });
        timeouts.appendChild(row);
        var custom = el("div", "mod-row mod-custom");
        var amount = el("input", "mod-input mod-custom-amount");
        amount.type = "number";
        amount.min = "1";
        amount.value = "5";
        amount.setAttribute("aria-label", "Custom timeout length");
        amount.title = "Custom length";
        var unit = el("select", "mod-input mod-custom-unit");
        unit.setAttribute("aria-label", "Unit");
        [["1", "seconds"], ["60", "minutes"], ["3600", "hours"], ["86400", "days"]].forEach(function (option) {
          var node = el("option", null, option[1]);
          node.value = option[0];
          if (option[0] === "60") node.selected = true;
          unit.appendChild(node);
        });
        custom.appendChild(amount);
        custom.appendChild(unit);
        var go = custom.appendChild(button("Go", "mod-custom-go", function () {
          var seconds = Math.round(Number(amount.value) * Number(unit.value));
          if (!(seconds >= 1) || seconds > (boot.maxTimeoutSeconds || 1209600)) {
            toast("A timeout lasts from 1 second to 14 days.", "error");
            return;
          }
          moderate({ action: "timeout", user: target.name, seconds: seconds, reason: reason.value }, function () {
            toast(target.name + " is timed out for " + duration(seconds) + ".");
          });
        }));
        go.setAttribute("aria-label", "Time out for this length");
        timeouts.appendChild(custom);
        menu.appendChild(timeouts);
        var bans = menuSection();
        var banRow = el("div", "mod-row");
        banRow.appendChild(button("Ban", "mod-danger mod-ban", function () {
          moderate({ action: "ban", user: target.name, reason: reason.value }, function () {
            toast(target.name + " is banned from this chat.");
          });
        }));
        var unban = banRow.appendChild(button("Unban", "mod-unban", function () {
          moderate({ action: "unban", user: target.name, reason: reason.value }, function () {
            toast(target.name + " may chat again.");
          });
        }));
        unban.title = "Ends a ban or a timeout";
        bans.appendChild(banRow);
        menu.appendChild(bans);
      }
    }
    if (canReport && target.name !== me) {
      var report = menuSection("Report this message");
      var select = el("select", "mod-input mod-report-reason");
      select.setAttribute("aria-label", "Why");
      REPORT_REASONS.forEach(function (option) {
        var node = el("option", null, option[1]);
        node.value = option[0];
        select.appendChild(node);
      });
      report.appendChild(select);
      report.appendChild(button("Report", "mod-report", function () {
        post("/api/rooms/" + encodeURIComponent(slug) + "/reports", { seq: target.seq, reason: select.value })
          .then(function () {
            closeMenu();
            toast("Thanks: the moderators will look at it.");
          })
          .catch(function (error) { toast(error.message, "error"); });
      }));
      menu.appendChild(report);
    }
    document.body.appendChild(menu);
    var rect = anchor.getBoundingClientRect();
    var width = menu.offsetWidth, height = menu.offsetHeight;
    var left = Math.min(window.innerWidth - width - 8, Math.max(8, rect.right - width));
    var top = rect.bottom + 4;
    if (top + height > window.innerHeight - 8) top = Math.max(8, rect.top - height - 4);
    menu.style.left = left + "px";
    menu.style.top = top + "px";
    var first = menu.querySelector("button");
    if (first) first.focus();
  }

  function targetOf(message) {
    var author = message.author || {};
    return { seq: Number(message.seq), name: String(author.name || ""), human: message.origin === "human" };
  }

  // --- the room tools (moderators) ----------------------------------------------------------
  function renderModes() {
    var box = document.getElementById("chat-modes");
    if (!box) return;
    while (box.firstChild) box.removeChild(box.firstChild);
    if (Number(mode.slow_seconds) > 0) {
      var slow = el("span", "meta-pill", "Slow mode · " + Number(mode.slow_seconds) + "s");
      slow.title = "Slow mode";
      box.appendChild(slow);
    }
    if (mode.emote_only) {
      var emotes = el("span", "meta-pill", "Emote-only");
      emotes.title = "Emote-only mode";
      box.appendChild(emotes);
    }
    var slowSelect = document.getElementById("mod-slow");
    if (slowSelect) slowSelect.value = String(Number(mode.slow_seconds) || 0);
    var emoteToggle = document.getElementById("mod-emote-only");
    if (emoteToggle) emoteToggle.checked = !!mode.emote_only;
  }

  function buildTools() {
    var head = document.querySelector(".chat-head");
    if (!head) return;
    var panel = el("div", "mod-panel");
    panel.id = "mod-panel";
    panel.hidden = true;
    var toggle = button("Mod tools", "mod-tools-toggle", function () {
      panel.hidden = !panel.hidden;
      toggle.setAttribute("aria-expanded", String(!panel.hidden));
    });
    toggle.id = "mod-tools";
    toggle.setAttribute("aria-controls", "mod-panel");
    toggle.setAttribute("aria-expanded", "false");
    head.insertBefore(toggle, head.lastElementChild);

    var slowRow = el("label", "mod-panel-row");
    slowRow.appendChild(el("span", "mod-panel-label", "Slow mode"));
    var slowSelect = el("select", "mod-input");
    slowSelect.id = "mod-slow";
    SLOW_PRESETS.forEach(function (seconds) {
      var option = el("option", null, seconds ? seconds + " s" : "Off");
      option.value = String(seconds);
      slowSelect.appendChild(option);
    });
    slowSelect.addEventListener("change", function () {
      moderate({ action: "mode", slow_seconds: Number(slowSelect.value) });
    });
    slowRow.appendChild(slowSelect);
    panel.appendChild(slowRow);

    var emoteRow = el("label", "mod-panel-row");
    emoteRow.appendChild(el("span", "mod-panel-label", "Emote-only"));
    var emoteToggle = el("input", "mod-switch");
    emoteToggle.type = "checkbox";
    emoteToggle.id = "mod-emote-only";
    emoteToggle.addEventListener("change", function () {
      moderate({ action: "mode", emote_only: emoteToggle.checked });
    });
    emoteRow.appendChild(emoteToggle);
    panel.appendChild(emoteRow);

    var clearButton = button("Clear chat", "mod-danger mod-clear", function () {
      if (clearButton.getAttribute("data-armed") !== "true") {
        clearButton.setAttribute("data-armed", "true");
        clearButton.textContent = "Click again to clear for everyone";
        setTimeout(function () {
          clearButton.removeAttribute("data-armed");
          clearButton.textContent = "Clear chat";
        }, 4000);
        return;
      }
      clearButton.removeAttribute("data-armed");
      clearButton.textContent = "Clear chat";
      moderate({ action: "clear" });
    });
    clearButton.id = "mod-clear";
    panel.appendChild(clearButton);
    panel.appendChild(el("p", "mod-panel-hint", "Any message's ⋮ menu (or a right-click on it) deletes it or times out, bans and unbans its author. Every action is logged in admin."));
    head.parentNode.insertBefore(panel, head.nextSibling);
  }

  // --- a viewer's own timeout or ban --------------------------------------------------------
  function setComposeLocked(locked, placeholder) {
    var input = document.getElementById("chat-input");
    var send = document.getElementById("chat-send");
    if (!input) return;
    if (locked) {
      if (!input.hasAttribute("data-placeholder")) input.setAttribute("data-placeholder", input.placeholder);
      input.disabled = true;
      input.placeholder = placeholder;
      if (send) send.disabled = true;
    } else {
      input.disabled = false;
      input.placeholder = input.getAttribute("data-placeholder") || "Send a message";
      input.removeAttribute("data-placeholder");
    }
  }

  function banner() {
    var box = document.getElementById("mod-sanction");
    if (!box) {
      box = el("div", "mod-sanction");
      box.id = "mod-sanction";
      box.setAttribute("role", "alert");
      var compose = document.querySelector(".chat-compose");
      if (compose) compose.insertBefore(box, compose.firstChild);
      else document.body.appendChild(box);
    }
    return box;
  }

  function endSanction() {
    clearInterval(sanctionTimer);
    sanctionTimer = null;
    var box = document.getElementById("mod-sanction");
    if (box) box.parentNode.removeChild(box);
    setComposeLocked(false);
  }

  function showSanction(code, until) {
    clearInterval(sanctionTimer);
    sanctionTimer = null;
    var box = banner();
    box.setAttribute("data-code", code);
    while (box.firstChild) box.removeChild(box.firstChild);
    var title = el("strong", "mod-sanction-title", code === "banned" ? "You are banned from this chat" : "You are timed out");
    var countdown = el("span", "mod-countdown");
    countdown.id = "mod-countdown";
    box.appendChild(title);
    box.appendChild(countdown);
    var end = until ? new Date(until).getTime() : NaN;
    if (isNaN(end)) {
      countdown.textContent = code === "banned" ? "permanently" : "";
      setComposeLocked(true, code === "banned" ? "You are banned from this chat" : "You are timed out");
      return;
    }
    var tick = function () {
      var left = (end - Date.now()) / 1000;
      if (left <= 0) {
        endSanction();
        return;
      }
      countdown.textContent = duration(Math.ceil(left)) + " left";
      countdown.setAttribute("data-seconds", String(Math.ceil(left)));
    };
    setComposeLocked(true, code === "banned" ? "Banned from this chat" : "Timed out: you can chat again soon");
    tick();
    sanctionTimer = setInterval(tick, 1000);
  }

  // --- room.js hooks ------------------------------------------------------------------------
  var plugin = {
    decorateMessage: function (item, message) {
      if (!(isModerator || canReport) || !message || message.deleted) return;
      var target = targetOf(message);
      if (!isModerator && target.name === me) return; // nothing to do on one's own line
      var trigger = el("button", "msg-actions", "⋮");
      trigger.type = "button";
      trigger.setAttribute("aria-label", isModerator ? "Moderate this message" : "Report this message");
      trigger.setAttribute("title", isModerator ? "Moderate" : "Report");
      trigger.addEventListener("click", function (event) {
        event.stopPropagation();
        if (menu && menu.getAttribute("data-seq") === String(target.seq)) {
          closeMenu();
          return;
        }
        openMenu(trigger, target);
        menu.setAttribute("data-seq", String(target.seq));
      });
      item.appendChild(trigger);
      item.classList.add("has-actions");
      item.addEventListener("contextmenu", function (event) {
        // Right-click on a line or a name: the moderator's menu at once (a left click on the name stays
        // the user card's).
        event.preventDefault();
        openMenu(trigger, target);
        menu.setAttribute("data-seq", String(target.seq));
      });
    },

    moderation: function (frame) {
      var by = frame.by ? String(frame.by) : "a moderator";
      var who = frame.user ? String(frame.user) : "";
      if (frame.action === "mode" && frame.mode) {
        mode = frame.mode;
        renderModes();
        toast(describeMode(mode));
        return;
      }
      if (frame.action === "clear") {
        toast("Chat was cleared by " + (isModerator ? by : "a moderator") + ".");
        return;
      }
      if (who && who === me) {
        if (frame.action === "timeout") showSanction("timed_out", frame.until);
        else if (frame.action === "ban") showSanction("banned", frame.until);
        else if (frame.action === "unban") {
          endSanction();
          toast("You may chat again.");
        }
        return;
      }
      if (!isModerator) return;
      if (frame.action === "timeout") toast(who + " was timed out for " + duration(Number(frame.seconds) || 0) + " by " + by + ".");
      else if (frame.action === "ban") toast(who + " was banned by " + by + ".");
      else if (frame.action === "unban") toast(who + " was unbanned by " + by + ".");
      else if (frame.action === "delete" && by !== me) toast("A message by " + (who || "someone") + " was deleted by " + by + ".");
    },

    error: function (frame) {
      if (frame.code === "timed_out" || frame.code === "banned") showSanction(frame.code, frame.until);
    },

    closed: function (code) {
      if (code === 4403 && !document.getElementById("mod-sanction")) showSanction("banned", null);
    }
  };

  function describeMode(current) {
    var parts = [];
    parts.push(Number(current.slow_seconds) > 0 ? "slow mode " + Number(current.slow_seconds) + "s" : "slow mode off");
    parts.push(current.emote_only ? "emote-only on" : "emote-only off");
    return "Chat modes: " + parts.join(", ") + ".";
  }

  (window.chatterRoomPlugins = window.chatterRoomPlugins || []).push(plugin);

  document.addEventListener("click", closeMenu);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenu();
  });
  window.addEventListener("resize", closeMenu);
  document.addEventListener("DOMContentLoaded", function () {
    if (isModerator) buildTools();
    renderModes();
    if (boot.sanction && boot.sanction.code) showSanction(boot.sanction.code, boot.sanction.until);
    var list = document.getElementById("chat-messages");
    if (list) list.addEventListener("scroll", closeMenu, { passive: true });
  });

  window.chatterModeration = {
    openMenu: openMenu, // the user card can offer the same actions: openMenu(anchor, {seq, name, human})
    isModerator: function () { return isModerator; }
  };
})();
