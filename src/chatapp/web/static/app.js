// A first page: opens protocol v1 over the WebSocket of the server that served it, and shows the
// server's name from its welcome frame. The web client (issue 13) replaces it.
"use strict";

(function () {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(scheme + "//" + window.location.host + "/ws");
  const server = document.getElementById("server");
  const state = document.getElementById("state");

  socket.addEventListener("message", function (event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (frame.type === "welcome") {
      server.textContent = String(frame.server);
      state.textContent = "Connected (protocol " + String(frame.version) + ").";
    } else if (frame.type === "ping") {
      socket.send(JSON.stringify({ type: "pong", ref: frame.ref }));
    } else if (frame.type === "bye") {
      state.textContent = "The server said goodbye: " + String(frame.reason) + ".";
    }
  });
  socket.addEventListener("close", function () {
    if (server.textContent === "connecting…") {
      state.textContent = "Could not connect.";
    }
  });
})();
