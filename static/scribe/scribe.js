/* The living document page: keeps the document, its status and history current over /ws/scribe/<id>/.
 * The HTML of a version comes from the server's safe Markdown renderer (scribe/rendering.py: all
 * text escaped, a fixed set of tags); everything else is set with textContent. */
(function () {
  "use strict";
  const boot = JSON.parse(document.getElementById("scribe-bootstrap").textContent);
  const $ = (id) => document.getElementById(id);
  const content = $("scribe-content");
  const STATUS = { idle: "Up to date", updating: "Writing", error: "Last update failed" };
  const KIND = { start: "Started", update: "Scribe update", edit: "Manual edit", restore: "Restored" };
  let shownVersion = boot.version;
  let backoff = 500;

  function formatTime(iso) {
    const when = new Date(iso);
    return isNaN(when) ? iso : when.toLocaleString();
  }

  // One format for every history entry, server-rendered or live: the viewer's local clock, as the room page.
  function setClock(node, iso) {
    const when = new Date(iso);
    node.dateTime = iso;
    if (isNaN(when)) return;
    node.textContent = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    node.title = when.toLocaleString();
  }

  function addHistory(doc) {
    const list = $("scribe-history");
    if (!list || list.querySelector(`[data-version="${doc.version}"]`)) return;
    const item = document.createElement("li");
    item.dataset.version = String(doc.version);
    const link = document.createElement("a");
    link.href = `${list.dataset.urlPrefix}v${doc.version}/`;
    link.textContent = `v${doc.version}`;
    const kind = document.createElement("span");
    kind.className = "scribe-kind";
    kind.textContent = KIND[doc.kind] || "New version";
    const time = document.createElement("time");
    setClock(time, doc.updated_at);
    item.append(link, kind, time);
    list.prepend(item);
  }

  function apply(doc) {
    if (doc.id !== boot.id) return;
    if (doc.version > shownVersion) {
      content.innerHTML = doc.html; // server-rendered, escaped (see the header comment)
      content.classList.remove("is-fresh");
      void content.offsetWidth;
      content.classList.add("is-fresh");
      addHistory(doc);
      shownVersion = doc.version;
    } else if (doc.version < shownVersion) {
      return; // an older frame that arrived late
    }
    $("scribe-version").textContent = String(doc.version);
    $("scribe-cursor").textContent = String(doc.cursor_seq);
    const status = $("scribe-status");
    status.dataset.status = doc.status;
    status.textContent = STATUS[doc.status] || doc.status;
    const live = $("scribe-live");
    live.className = doc.enabled ? "live-badge" : "offline-badge";
    live.textContent = doc.enabled ? "Writing live" : "Stopped";
    const updated = $("scribe-updated");
    updated.dateTime = doc.updated_at;
    updated.textContent = formatTime(doc.updated_at);
    const error = $("scribe-error");
    error.hidden = doc.status !== "error";
    $("scribe-error-text").textContent = doc.last_error || "";
    document.body.dataset.scribeVersion = String(shownVersion);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/scribe/${boot.id}/`);
    let ping = null;
    socket.addEventListener("open", () => {
      backoff = 500;
      document.body.dataset.scribeSocket = "open";
      ping = setInterval(() => socket.readyState === 1 && socket.send('{"type":"ping"}'), 25000);
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if ((frame.type === "hello" || frame.type === "document") && frame.document) apply(frame.document);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(ping);
      document.body.dataset.scribeSocket = "closed";
      if (event.code === 4404) return; // the document is gone
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  document.querySelectorAll("#scribe-updated").forEach((node) => { node.textContent = formatTime(node.dateTime); });
  document.querySelectorAll("#scribe-history time").forEach((node) => setClock(node, node.dateTime));
  connect();
})();
