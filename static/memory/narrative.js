// Loads a cached narrative by itself: 204 means "being written", so poll with backoff until 200;
// a 200 whose status is "not_enough_history" ends the wait, as does a 404 (no such subject).
// The page's #narrative element carries the API URL and the words to show (data-* attributes).
(function () {
  "use strict";
  const root = document.getElementById("narrative");
  if (!root) return;
  const statusLine = document.getElementById("narrative-status");
  const textBox = document.getElementById("narrative-text");
  const meta = document.getElementById("narrative-meta");
  const words = root.dataset;
  let delay = 1000;

  function showStatus(state, message, kind) {
    root.dataset.state = state;
    statusLine.textContent = message;
    statusLine.dataset.kind = kind || "";
    statusLine.hidden = false;
    textBox.hidden = true;
  }

  function later() {
    window.setTimeout(load, delay);
    delay = Math.min(delay * 1.6, 20000);
  }

  async function load() {
    let response;
    try {
      response = await fetch(words.url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
    } catch (error) {
      showStatus("error", "Could not reach chatter; trying again…", "error");
      return later();
    }
    if (response.status === 200) {
      const data = await response.json();
      if (data.status === "not_enough_history") {
        showStatus("empty", words.emptyText, "info");
        return;
      }
      root.dataset.state = "ready";
      textBox.textContent = data.text;
      textBox.hidden = false;
      statusLine.hidden = true;
      if (data.generated_at) {
        const when = new Date(data.generated_at);
        meta.textContent = "written " + when.toLocaleDateString();
        meta.title = when.toLocaleString();
      }
      return;
    }
    if (response.status === 204) {
      showStatus("writing", words.writingText);
      return later();
    }
    if (response.status === 404) {
      showStatus("empty", words.missingText || words.emptyText, "info");
      return;
    }
    showStatus("error", words.errorText, "error");
    later();
  }

  load();
})();
