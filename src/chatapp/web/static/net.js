// The link: protocol v1 over the WebSocket of the server that served the page (docs/protocol.md,
// "Transport and framing"): one frame per text message, pings answered, requests numbered with
// `ref`, and a lost link reconnected with backoff and jitter, as the terminal client does it
// (0.5 s, 1 s, 2 s, ... up to 30 s, each shortened by a random part of up to half).
"use strict";

window.ChatLink = (function () {
  const INITIAL = 0.5;
  const MAXIMUM = 30;
  const PING_EVERY_MS = 30000;
  const SILENCE_MS = 20000;

  function Link(handlers) {
    this.handlers = handlers; // onFrame(frame), onOpen(), onDown(why, bye), onState(state, seconds)
    this.socket = null;
    this.nextRef = 1;
    this.requests = new Map();
    this.attempt = 0;
    this.timer = null;
    this.countdown = null;
    this.stopped = false;
    this.bye = null;
    this.lastHeard = 0;
    this.keepalive = null;
  }

  Link.prototype.url = function () {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + "/ws";
  };

  Link.prototype.connect = function () {
    this.clearTimers();
    this.stopped = false;
    this.bye = null;
    this.handlers.onState("connecting", 0);
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch (error) {
      this.down("Connection lost: " + String(error.message || error) + ".");
      return;
    }
    this.socket = socket;
    const link = this;
    socket.addEventListener("message", function (event) {
      if (link.socket === socket) {
        link.receive(event.data);
      }
    });
    socket.addEventListener("close", function (event) {
      if (link.socket === socket) {
        link.socket = null;
        link.down(event.code === 1006 || !event.reason ? "Connection lost." : "Connection lost: " +
          window.ChatText.sanitize(event.reason) + ".");
      }
    });
  };

  Link.prototype.receive = function (data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (error) {
      return;
    }
    if (frame === null || typeof frame !== "object" || typeof frame.type !== "string") {
      return;
    }
    this.lastHeard = Date.now();
    if (frame.type === "ping") {
      this.send({ type: "pong", ref: frame.ref });
      return;
    }
    if (frame.type === "pong") {
      return;
    }
    if (frame.type === "welcome") {
      this.attempt = 0;
      this.startKeepalive();
    }
    if (frame.type === "bye") {
      this.bye = frame;
    }
    let request = null;
    if (frame.ref !== undefined && frame.ref !== null && this.requests.has(frame.ref)) {
      request = this.requests.get(frame.ref);
      this.requests.delete(frame.ref);
    }
    this.handlers.onFrame(frame, request);
  };

  // A link that goes silent (no answer to our ping) counts as lost, so a dead network does not
  // leave the user talking to nobody.
  Link.prototype.startKeepalive = function () {
    const link = this;
    clearInterval(this.keepalive);
    this.keepalive = setInterval(function () {
      if (link.socket === null) {
        return;
      }
      if (Date.now() - link.lastHeard > PING_EVERY_MS + SILENCE_MS) {
        link.socket.close();
        return;
      }
      if (Date.now() - link.lastHeard > PING_EVERY_MS) {
        link.send({ type: "ping", ref: "keepalive" });
      }
    }, SILENCE_MS / 2);
  };

  Link.prototype.open = function () {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  };

  Link.prototype.send = function (frame) {
    if (!this.open()) {
      return false;
    }
    this.socket.send(JSON.stringify(frame));
    return true;
  };

  // A frame whose answer (or error) is matched back to `meta` by its ref.
  Link.prototype.request = function (frame, meta) {
    const ref = this.nextRef++;
    frame.ref = ref;
    this.requests.set(ref, meta || { action: frame.type });
    if (!this.send(frame)) {
      this.requests.delete(ref);
      return null;
    }
    return ref;
  };

  Link.prototype.down = function (why) {
    clearInterval(this.keepalive);
    this.requests.clear();
    const bye = this.bye;
    this.bye = null;
    if (bye !== null) {
      why = window.ChatSentences.describeBye(String(bye.reason), bye.message);
    }
    const again = this.handlers.onDown(why, bye);
    if (again && !this.stopped) {
      this.schedule();
    }
  };

  Link.prototype.schedule = function () {
    const base = Math.min(MAXIMUM, INITIAL * Math.pow(2, this.attempt));
    this.attempt += 1;
    const delay = base - Math.random() * base / 2;
    const link = this;
    let left = Math.ceil(delay);
    this.handlers.onState("waiting", left);
    this.countdown = setInterval(function () {
      left = Math.max(0, left - 1);
      link.handlers.onState("waiting", left);
    }, 1000);
    this.timer = setTimeout(function () {
      link.connect();
    }, delay * 1000);
  };

  Link.prototype.reconnectNow = function () {
    if (this.socket === null && !this.stopped) {
      this.connect();
    }
  };

  Link.prototype.clearTimers = function () {
    clearTimeout(this.timer);
    clearInterval(this.countdown);
    this.timer = null;
    this.countdown = null;
  };

  // Closed on purpose: no reconnect.
  Link.prototype.stop = function () {
    this.stopped = true;
    this.clearTimers();
    clearInterval(this.keepalive);
    if (this.socket !== null) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000);
    }
  };

  return Link;
})();
