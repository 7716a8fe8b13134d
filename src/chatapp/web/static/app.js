// The web client's session: signing in (or resuming with the token kept in sessionStorage), the
// link's ups and downs, messages sent with a nonce and sent again after a reconnect until the
// server's copy acknowledges them, history paging. Frames are applied in frames.js, the page's
// controls are ui.js.
"use strict";

window.ChatApp = (function () {
  const T = window.ChatText;
  const Say = window.ChatSentences;
  const Store = window.ChatStore;
  const MAX_PENDING = 100;
  const PAGE = 50;

  // sessionStorage: this tab only, gone when it closes, never sent anywhere (not a cookie).
  const saved = {
    get: function (key) {
      try {
        return window.sessionStorage.getItem("chatapp." + key);
      } catch (error) {
        return null;
      }
    },
    set: function (key, value) {
      try {
        if (value === null) {
          window.sessionStorage.removeItem("chatapp." + key);
        } else {
          window.sessionStorage.setItem("chatapp." + key, String(value));
        }
      } catch (error) {
        // storage refused (private mode): a reload then asks for the password again
      }
    },
  };

  const S = {
    me: null,
    token: saved.get("token"),
    lastId: Number(saved.get("last_id") || 0) || 0,
    welcome: null,
    signedIn: false,
    synced: false,
    activeKey: saved.get("active"),
    away: null,
    pending: new Map(), // nonce -> {key, room, to, text}
    counter: 0,
    lostWhy: null,
    restored: false,
    wanted: null,
    queuedSignIn: null, // a sign-in typed while no link was open: sent after the next welcome
    store: new Store.Store(),
  };

  let ui = null;
  const link = new window.ChatLink({ onFrame: onFrame, onDown: onDown, onState: onState });

  function $(id) {
    return document.getElementById(id);
  }

  function active() {
    return S.activeKey ? S.store.targets.get(S.activeKey) || null : null;
  }

  function render() {
    if (ui !== null) {
      ui.render();
    }
  }

  function note(text, level, target) {
    const where = target || active() || S.store.ensure("room", "general");
    where.note(text, level);
    render();
  }

  function seen(id) {
    if (id > S.lastId) {
      S.lastId = id;
      saved.set("last_id", id);
    }
  }

  function rememberConversations() {
    saved.set("dms", JSON.stringify(S.store.list("dm").map(function (t) {
      return t.name;
    })));
  }

  // -- frames: frames.js applies them --------------------------------------------------------

  function onFrame(frame, request) {
    window.ChatFrames.handle(frame, request);
  }

  // -- the link ---------------------------------------------------------------------------------

  function setConn(text, state) {
    const conn = $("conn");
    conn.textContent = text;
    conn.className = "conn " + state;
  }

  function onState(state, seconds) {
    const reconnect = $("reconnect");
    if (state === "connecting") {
      reconnect.hidden = true;
      setConn(S.lostWhy !== null ? S.lostWhy + " Reconnecting…" : "Connecting…", "busy");
    } else if (state === "waiting") {
      reconnect.hidden = !S.signedIn && S.me === null;
      setConn((S.lostWhy || "Connection lost.") + " Reconnecting in " + seconds + " s…", "lost");
    }
  }

  // The link went down: true to reconnect.
  function onDown(why, bye) {
    S.synced = false;
    for (const nonce of S.pending.keys()) {
      markQueued(nonce, true);
    }
    const reason = bye ? String(bye.reason) : null;
    if (reason !== null && Say.isFinalBye(reason)) {
      S.signedIn = false;
      S.token = null;
      saved.set("token", null);
      setConn(why, "lost");
      link.stopped = true; // until the user signs in again (signIn opens a new link)
      ui.showSignIn(reason === "quit" ? null : why);
      return false;
    }
    S.lostWhy = why;
    if (S.signedIn || S.token) {
      render();
    }
    return true;
  }

  function markQueued(nonce, queued) {
    const pending = S.pending.get(nonce);
    const target = pending ? S.store.targets.get(pending.key) : null;
    if (!target) {
      return;
    }
    for (const entry of target.entries) {
      if (entry.pending && entry.nonce === nonce) {
        entry.queued = queued;
      }
    }
  }

  // -- sending ----------------------------------------------------------------------------------

  function transmit(nonce) {
    const pending = S.pending.get(nonce);
    if (!pending || !S.synced) {
      return;
    }
    const frame = pending.room !== null ? { type: "send", room: pending.room, text: pending.text, nonce: nonce }
      : { type: "dm", to: pending.to, text: pending.text, nonce: nonce };
    if (pending.action) {
      frame.action = true;
    }
    if (pending.file !== null) {
      frame.file = pending.file.id; // a file uploaded for this target (files.js), posted with the text
    }
    const meta = { action: frame.type === "send" ? "send" : "dm", room: pending.room, user: pending.to, nonce: nonce };
    if (link.request(frame, meta) !== null) {
      markQueued(nonce, false);
    }
  }

  // A message to a target (an action, "/me", with `action`); shown at once, dim, until the server's
  // copy acknowledges it. `file`: the file it shares (upload_done's), the text being its caption.
  function say(target, text, action, file) {
    file = file || null;
    const max = S.welcome && S.welcome.max_text ? S.welcome.max_text : 4000;
    if (T.codePoints(text) > max) {
      note("That message is too long: messages are at most " + max + " characters.", "error", target);
      return false;
    }
    if (S.pending.size >= MAX_PENDING) {
      note("Too many messages are waiting to be sent; wait for the connection to come back.", "error", target);
      return false;
    }
    S.counter += 1;
    const nonce = "w" + Date.now().toString(36) + "-" + S.counter + "-" + Math.random().toString(36).slice(2, 8);
    S.pending.set(nonce, {
      key: target.key, room: target.kind === "room" ? target.name : null, to: target.kind === "dm" ? target.name : null,
      text: text, action: action === true, file: file,
    });
    target.markerId = null;
    target.addPending({
      kind: "msg", pending: true, queued: !S.synced, nonce: nonce, id: 0, from: S.me, to: null, text: text,
      ts: new Date().toISOString(), mine: true, direct: target.kind === "dm", e2e: false, removedBy: null,
      action: action === true,
      file: file === null ? null : Store.fileOf(file),
    });
    transmit(nonce);
    render();
    ui.toBottom();
    return true;
  }

  // Older messages of a target, above the oldest one shown.
  function fetchOlder(target) {
    if (target.loading || target.hasMore === false || !S.synced) {
      return;
    }
    const frame = { type: "history", limit: PAGE };
    if (target.kind === "room") {
      frame.room = target.name;
    } else {
      frame.with = target.name;
    }
    const oldest = target.oldestId();
    if (oldest !== null) {
      frame.before = oldest;
    }
    if (link.request(frame, { action: "history", key: target.key, room: frame.room, user: frame.with }) !== null) {
      target.loading = true;
      render();
    }
  }

  // A target with few messages shown gets the ones before them (as the terminal client does).
  function fillUp(target) {
    if (target.messageCount() < 20) {
      fetchOlder(target);
    }
  }

  function request(frame, meta) {
    if (link.request(frame, meta || { action: frame.type }) === null) {
      note("Not connected: try again when the connection is back.", "error");
    }
  }

  // False when it cannot be sent yet. After a goodbye that ended the session the link is closed:
  // a new one is opened, and the sign-in goes once its welcome has come.
  function signIn(mode, username, password, takeover) {
    const frame = { type: mode, username: username, password: password };
    if (takeover) {
      frame.takeover = true;
    }
    if (!link.open() && link.socket === null && link.stopped) {
      S.queuedSignIn = frame;
      link.connect();
      return true;
    }
    return link.request(frame, { action: mode }) !== null;
  }

  function signOut() {
    S.token = null;
    saved.set("token", null);
    saved.set("last_id", null);
    saved.set("dms", null);
    saved.set("active", null);
    S.lastId = 0;
    S.pending.clear();
    if (!link.send({ type: "quit" })) {
      S.signedIn = false;
      ui.showSignIn(null);
    }
  }

  function start(controls) {
    ui = controls;
    link.connect();
  }

  return {
    S: S,
    link: link,
    ui: function () {
      return ui;
    },
    active: active,
    render: render,
    seen: seen,
    setConn: setConn,
    transmit: transmit,
    note: note,
    say: say,
    fetchOlder: fetchOlder,
    fillUp: fillUp,
    request: request,
    signIn: signIn,
    signOut: signOut,
    start: start,
    saved: saved,
    rememberConversations: rememberConversations,
  };
})();
