// Sharing files from the web client (docs/protocol.md, "File sharing"): a file chosen with the
// Attach button or dropped on the messages goes up over the page's WebSocket in chunks of 32 KiB,
// each with its SHA-256, at most 4 ahead of their acknowledgments, then is posted to the room or
// conversation with an empty caption. A file line's Download asks for a short-lived link and lets
// the browser save what the server serves as an attachment (never shown in this page's origin).
"use strict";

window.ChatFiles = (function () {
  const T = window.ChatText;
  const App = window.ChatApp;
  const S = App.S;
  const link = App.link;
  const CHUNK = 32768;
  const WINDOW = 4;
  const RETRIES = 5;
  const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;
  const transfers = new Map(); // upload id -> transfer

  // -- SHA-256 (FIPS 180-4): crypto.subtle exists only in secure contexts, and a plain-HTTP page on
  // another host than localhost is not one.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  function sha256(bytes) {
    const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
      0x1f83d9ab, 0x5be0cd19]);
    const W = new Uint32Array(64);
    function compress(data, p) {
      for (let i = 0; i < 16; i++) {
        const q = p + 4 * i;
        W[i] = (data[q] << 24) | (data[q + 1] << 16) | (data[q + 2] << 8) | data[q + 3];
      }
      for (let i = 16; i < 64; i++) {
        const a = W[i - 15];
        const b = W[i - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (let i = 0; i < 64; i++) {
        const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    const whole = bytes.length - (bytes.length % 64);
    for (let p = 0; p < whole; p += 64) {
      compress(bytes, p);
    }
    const rest = bytes.length - whole;
    const tail = new Uint8Array(rest < 56 ? 64 : 128);
    tail.set(bytes.subarray(whole));
    tail[rest] = 0x80;
    const bits = tail.length - 8;
    const high = Math.floor(bytes.length / 0x20000000);
    const low = (bytes.length * 8) >>> 0;
    for (let i = 0; i < 4; i++) {
      tail[bits + i] = (high >>> (24 - 8 * i)) & 0xff;
      tail[bits + 4 + i] = (low >>> (24 - 8 * i)) & 0xff;
    }
    for (let p = 0; p < tail.length; p += 64) {
      compress(tail, p);
    }
    return Array.from(H, function (word) {
      return word.toString(16).padStart(8, "0");
    }).join("");
  }

  function base64(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return window.btoa(text);
  }

  function sizeText(size) {
    if (size < 1024) {
      return size + " B";
    }
    if (size < 1024 * 1024) {
      return (size / 1024).toFixed(1) + " KiB";
    }
    return (size / (1024 * 1024)).toFixed(1) + " MiB";
  }

  // The server's refusals of a transfer, in words (the limits say which and by how much).
  function explain(error) {
    const code = String(error.code || "");
    const limit = typeof error.limit === "number" ? sizeText(error.limit) : "";
    const over = typeof error.over === "number" ? sizeText(error.over) : "";
    if (code === "file_too_large") {
      return "the file is too large: the most is " + limit + " (" + over + " over).";
    }
    if (code === "quota_exceeded") {
      return "your files would go past your quota of " + limit + " (" + over + " over).";
    }
    if (code === "storage_full") {
      return "the server has no room for it (" + over + " over its budget).";
    }
    if (code === "too_many_uploads") {
      return "you have " + error.limit + " uploads going at once already.";
    }
    if (code === "no_such_file") {
      return "that file is not there for you (any more).";
    }
    return window.ChatSentences.describeError(error);
  }

  function status(text) {
    const line = document.getElementById("transfers");
    line.textContent = text;
    line.hidden = text === "";
  }

  function progress() {
    const lines = [];
    for (const t of transfers.values()) {
      lines.push("Uploading " + T.sanitize(t.name) + ": " + Math.floor((100 * t.acked) / Math.max(1, t.size)) +
        "% of " + sizeText(t.size));
    }
    status(lines.join(" · "));
  }

  function fail(t, error) {
    if (t.id !== null) {
      transfers.delete(t.id);
    }
    t.failed = true;
    progress();
    App.note("Could not share " + T.sanitize(t.name) + ": " + explain(error), "error", t.target);
  }

  function pump(t) {
    while (!t.resync && !t.failed && t.inFlight < WINDOW && t.offset < t.size) {
      const piece = t.bytes.subarray(t.offset, Math.min(t.size, t.offset + CHUNK));
      const frame = { type: "upload_chunk", upload: t.id, offset: t.offset, data: base64(piece), sha256: sha256(piece) };
      if (link.request(frame, { action: "upload_chunk", transfer: t, onError: chunkRefused }) === null) {
        fail(t, { code: "", message: "not connected" });
        return;
      }
      t.offset += piece.length;
      t.inFlight += 1;
    }
  }

  function answered(t) {
    t.inFlight -= 1;
    if (t.inFlight === 0 && t.resync) {
      t.resync = false; // every chunk in flight is answered: go on from what the server has
      t.offset = t.acked;
    }
    pump(t);
  }

  function chunkRefused(error, request) {
    const t = request.transfer;
    if ((error.code === "bad_chunk" || error.code === "wrong_offset") && t.retries < RETRIES) {
      t.retries += 1;
      t.resync = true;
      answered(t);
      return;
    }
    fail(t, error);
  }

  // Share a File (from the button or a drop) in a room or conversation.
  function share(file, target) {
    if (target === null || !S.synced) {
      App.note("Not connected: try again when the connection is back.", "error");
      return;
    }
    const t = {
      id: null, name: String(file.name || "file").replace(/\u0000/g, "").slice(0, 255) || "file", size: file.size,
      bytes: null, target: target, offset: 0, acked: 0, inFlight: 0, retries: 0, resync: false, failed: false,
    };
    file.arrayBuffer().then(function (buffer) {
      t.bytes = new Uint8Array(buffer);
      t.size = t.bytes.length;
      const frame = { type: "upload_start", name: t.name, size: t.size, sha256: sha256(t.bytes) };
      const mime = String(file.type || "").toLowerCase();
      if (MIME.test(mime) && mime.length <= 127) {
        frame.mime = mime;
      }
      if (target.kind === "room") {
        frame.room = target.name;
      } else {
        frame.to = target.name;
      }
      const meta = { action: "upload_start", transfer: t, room: frame.room, user: frame.to, onError: function (error) {
        fail(t, error);
      } };
      if (link.request(frame, meta) === null) {
        fail(t, { code: "", message: "not connected" });
      }
    }, function () {
      fail(t, { code: "", message: "the browser could not read it" });
    });
  }

  function download(fileId) {
    const meta = { action: "file_link", onError: function (error) {
      App.note("Could not download that file: " + explain(error), "error");
    } };
    if (link.request({ type: "file_link", file: fileId }, meta) === null) {
      App.note("Not connected: try again when the connection is back.", "error");
    }
  }

  const HANDLERS = {
    upload_ready: function (frame, request) {
      const t = request && request.transfer;
      if (!t) {
        return;
      }
      t.id = String(frame.upload);
      t.offset = t.acked = Number(frame.offset) || 0;
      transfers.set(t.id, t);
      progress();
      pump(t);
    },
    upload_ack: function (frame) {
      const t = transfers.get(String(frame.upload));
      if (t) {
        t.acked = Math.max(t.acked, Number(frame.offset) || 0);
        progress();
        answered(t);
      }
    },
    upload_done: function (frame) {
      const t = transfers.get(String(frame.upload));
      if (t) {
        transfers.delete(t.id);
        progress();
        App.say(t.target, "", false, frame.file);
      }
    },
    file_url: function (frame) {
      const url = String(frame.url || "");
      if (!url.startsWith("/files/")) {
        return; // only ever a path on this server
      }
      const anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = "";
      anchor.rel = "noopener noreferrer";
      document.body.appendChild(anchor);
      anchor.click();
      anchor.remove();
    },
  };

  // The page's controls: the Attach button, and files dropped on the messages.
  function shareAll(files) {
    for (const file of Array.from(files || [])) {
      share(file, App.active());
    }
  }
  document.getElementById("attach").addEventListener("click", function () {
    document.getElementById("file-input").click();
  });
  document.getElementById("file-input").addEventListener("change", function () {
    shareAll(document.getElementById("file-input").files);
    document.getElementById("file-input").value = "";
  });
  const pane = document.querySelector(".pane");
  function carriesFiles(event) {
    return event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  }
  pane.addEventListener("dragover", function (event) {
    if (carriesFiles(event)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      pane.classList.add("dropping");
    }
  });
  pane.addEventListener("dragleave", function (event) {
    if (event.target === pane || !pane.contains(event.relatedTarget)) {
      pane.classList.remove("dropping");
    }
  });
  pane.addEventListener("drop", function (event) {
    pane.classList.remove("dropping");
    if (carriesFiles(event)) {
      event.preventDefault();
      shareAll(event.dataTransfer.files);
    }
  });

  return {
    share: share,
    download: download,
    sha256: sha256,
    sizeText: sizeText,
    handlers: HANDLERS,
  };
})();
