/*
 * The room client's WebSocket (room.js owns what the frames mean): connect, reconnect with
 * jittered backoff, heartbeat pings, and replacing a socket that went silent.
 * Loaded before room.js.
 */
(function () {
  "use strict";

  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  var STABLE_CONNECTION_MS = 5000;
  var PING_INTERVAL_MS = 20000;
  var SILENCE_LIMIT_MS = 50000; // no frame at all for this long: the socket is dead, replace it

  /**
   * options: url(), setStatus(state, text), onFrame(frame), onLost(code) (the socket is gone: let go
   * of what was in flight), onBanned(code) (closed 4403: no reconnecting).
   */
  function create(options) {
    var setStatus = options.setStatus;
    var socket = null;
    var attempt = 0;
    var reconnectTimer = null;
    var countdownTimer = null;
    var reconnectAt = 0;
    var connectedAt = 0;
    var lastFrameAt = 0;
    var heartbeatTimer = null;
    var roomGone = false;

    function isOpen() {
      return socket !== null && socket.readyState === WebSocket.OPEN;
    }

    function sendFrame(frame) {
      if (!isOpen()) return false;
      socket.send(JSON.stringify(frame));
      return true;
    }

    function connect() {
      clearTimeout(reconnectTimer);
      clearInterval(countdownTimer);
      reconnectTimer = null;
      countdownTimer = null;
      if (roomGone) return;
      setStatus("connecting", attempt ? "reconnecting…" : "connecting…");
      var ws;
      try {
        ws = new WebSocket(options.url());
      } catch (error) {
        scheduleReconnect();
        return;
      }
      socket = ws;
      connectedAt = 0;
      ws.onopen = function () {
        if (ws !== socket) return;
        lastFrameAt = Date.now();
        // "connected" waits for the hello: until then the page does not know where the room is.
        startHeartbeat();
      };
      ws.onmessage = function (event) {
        if (ws !== socket) return;
        lastFrameAt = Date.now();
        var frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (frame && typeof frame === "object") options.onFrame(frame);
      };
      ws.onclose = function (event) {
        if (ws !== socket) return;
        socketLost(event.code);
      };
    }

    function socketLost(code) {
      var lived = connectedAt ? Date.now() - connectedAt : 0;
      socket = null;
      stopHeartbeat();
      options.onLost(code);
      if (code === 4404) {
        roomGone = true;
        setStatus("gone", "this room no longer exists");
        return;
      }
      if (code === 4403) {
        // Banned from this room: reconnecting would only be closed again.
        roomGone = true;
        setStatus("banned", "banned from this chat");
        options.onBanned(code);
        return;
      }
      if (lived > STABLE_CONNECTION_MS) attempt = 0;
      // 4503: the server's database or Redis is down for a moment; the backoff below spaces the retries.
      scheduleReconnect(code === 4503 ? "server unavailable, " : "");
    }

    function dropSocket() {
      // A silent socket may take minutes to report its close; stop waiting for it.
      var ws = socket;
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onclose = null;
      try { ws.close(); } catch (error) { /* already closing */ }
      socketLost(1006);
    }

    function scheduleReconnect(reason) {
      var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt));
      // Equal jitter: never below half the step, so a crowd of viewers spreads out after a restart.
      var delay = Math.max(BACKOFF_MIN_MS / 2, ceiling / 2 + Math.random() * ceiling / 2);
      attempt += 1;
      reconnectAt = Date.now() + delay;
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(connect, delay);
      var tick = function () {
        var seconds = Math.max(1, Math.ceil((reconnectAt - Date.now()) / 1000));
        setStatus("reconnecting", (reason || "") + "reconnecting in " + seconds + "s");
      };
      tick();
      clearInterval(countdownTimer);
      countdownTimer = setInterval(tick, 500);
    }

    function reconnectNow() {
      if (reconnectTimer && !roomGone) connect();
    }

    function startHeartbeat() {
      stopHeartbeat();
      heartbeatTimer = setInterval(function () {
        if (!isOpen()) return;
        if (Date.now() - lastFrameAt > SILENCE_LIMIT_MS) {
          dropSocket();
          return;
        }
        sendFrame({ type: "ping" });
      }, PING_INTERVAL_MS);
    }

    function stopHeartbeat() {
      clearInterval(heartbeatTimer);
      heartbeatTimer = null;
    }

    return {
      connect: connect,
      isOpen: isOpen,
      send: sendFrame,
      reconnectNow: reconnectNow,
      connected: function () { connectedAt = Date.now(); }, // the hello came: the connection counts from here
      socket: function () { return socket; },
    };
  }

  window.chatterConnection = { create: create };
})();
