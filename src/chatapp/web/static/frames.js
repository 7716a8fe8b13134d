// The frames of protocol v1 applied to the web client's model (store.js): messages and direct
// messages in their rooms and conversations (once, by id), history pages, presence, rooms, topics,
// who and whois, and refusals told as the terminal client's sentences. The session is app.js.
"use strict";

window.ChatFrames = (function () {
  const T = window.ChatText;
  const Say = window.ChatSentences;
  const View = window.ChatView;
  const Store = window.ChatStore;
  const App = window.ChatApp;
  const S = App.S;
  const saved = App.saved;
  const link = App.link;
  const note = App.note;
  const seen = App.seen;
  const render = App.render;
  const active = App.active;
  const setConn = App.setConn;
  const transmit = App.transmit;
  const fillUp = App.fillUp;
  const rememberConversations = App.rememberConversations;

  function $(id) {
    return document.getElementById(id);
  }

  const HANDLERS = {
    welcome: function (frame) {
      S.welcome = frame;
      $("server").textContent = T.sanitize(frame.server);
      if (S.queuedSignIn !== null) {
        const signIn = S.queuedSignIn;
        S.queuedSignIn = null;
        link.request(signIn, { action: signIn.type });
        setConn("Connected to " + T.sanitize(frame.server) + ".", "ok");
      } else if (S.token) {
        const resume = { type: "resume", token: S.token };
        if (S.lastId > 0) {
          resume.last_id = S.lastId;
        }
        link.request(resume, { action: "resume" });
        setConn("Signing in again…", "busy");
      } else {
        setConn("Connected to " + T.sanitize(frame.server) + ".", "ok");
        App.ui().showSignIn(null);
      }
    },
    auth_ok: function (frame, request) {
      const fresh = !request || request.action !== "resume";
      if (fresh && S.me !== null && S.me.toLowerCase() !== String(frame.username).toLowerCase()) {
        S.store.clear();
        S.activeKey = null;
      }
      S.me = String(frame.username);
      if (frame.token) {
        S.token = String(frame.token);
        saved.set("token", S.token);
      }
      saved.set("user", S.me);
      S.signedIn = true;
      S.synced = false;
      S.store.ensure("room", "general");
      if (!S.restored) {
        S.restored = true; // the conversations open before a reload
        restoreConversations();
      }
      if (!S.activeKey || !S.store.targets.has(S.activeKey)) {
        S.wanted = S.activeKey; // a room from before a reload: shown once the room list names it
        S.activeKey = "#general";
      }
      App.ui().showChat();
      setConn("Catching up…", "busy");
    },
    synced: function (frame) {
      S.synced = true;
      if (typeof frame.last_id === "number") {
        seen(frame.last_id);
      }
      setConn("Connected.", "ok");
      if (S.lostWhy !== null) {
        S.lostWhy = null;
      }
      if (frame.has_more) {
        note("Older missed messages were left out: scroll up to read them.", "info");
      }
      link.request({ type: "rooms" }, { action: "rooms", quiet: true });
      for (const target of S.store.list("room")) {
        link.request({ type: "who", room: target.name }, { action: "who", room: target.name, quiet: true });
      }
      if (S.away) {
        link.request({ type: "away", text: S.away }, { action: "away" });
      }
      for (const nonce of S.pending.keys()) {
        transmit(nonce);
      }
      const current = active();
      if (current !== null) {
        fillUp(current);
      }
      render();
    },
    message: function (frame) {
      const target = S.store.ensure("room", frame.room);
      arrived(target, frame, false);
    },
    direct: function (frame) {
      const target = S.store.ensure("dm", Store.conversationWith(frame, S.me));
      rememberConversations();
      arrived(target, frame, true);
    },
    history_page: function (frame, request) {
      const target = frame.room ? S.store.ensure("room", frame.room) : S.store.ensure("dm", frame.with);
      const messages = Array.isArray(frame.messages) ? frame.messages : [];
      for (const message of messages) {
        const entry = Store.entryOf(message, S.me, false);
        acknowledged(entry);
        if (target.addMessage(entry)) {
          seen(entry.id);
        }
      }
      if (request && request.action === "history") {
        target.loading = false;
        target.hasMore = Boolean(frame.has_more);
      } else if (target.hasMore === null) {
        target.hasMore = Boolean(frame.has_more);
      }
      render();
      if (target === active()) {
        App.ui().afterPage(target);
      }
    },
    presence: function (frame) {
      const target = S.store.get("room", frame.room);
      const mine = S.me !== null && String(frame.username).toLowerCase() === S.me.toLowerCase();
      if (mine && frame.event === "away") {
        S.away = frame.text ? String(frame.text) : S.away;
      } else if (mine && frame.event === "back") {
        S.away = null;
      }
      if (target === null) {
        if (mine && (frame.event === "online" || frame.event === "join")) {
          S.store.ensure("room", frame.room);
          render();
        }
        return;
      }
      if (mine && frame.event === "leave") {
        forget(target); // left, kicked or banned: the room's pane goes
        note("You are no longer in #" + T.sanitize(frame.room) + ".", "info");
        return;
      }
      const key = String(frame.username).toLowerCase();
      const person = target.people.get(key) || { username: String(frame.username), away: null, role: null };
      if (frame.event === "join" || frame.event === "online") {
        target.people.set(key, person);
      } else if (frame.event === "leave" || frame.event === "offline") {
        target.people.delete(key);
      } else if (frame.event === "away") {
        person.away = frame.text ? String(frame.text) : "";
        target.people.set(key, person);
      } else if (frame.event === "back") {
        person.away = null;
        target.people.set(key, person);
      }
      if (!(mine && (frame.event === "online" || frame.event === "join"))) { // "You joined" says it
        target.note(Say.presenceText(frame), "presence");
      }
      render();
    },
    joined: function (frame) {
      const target = S.store.ensure("room", frame.room);
      target.topic = String(frame.topic || "");
      target.note("You joined " + target.label() + "." +
        (frame.created ? " You created it, so you own it." : "") +
        (target.topic ? " Topic: " + T.sanitize(target.topic) : ""), "info");
      link.request({ type: "who", room: target.name }, { action: "who", room: target.name, quiet: true });
      App.ui().pick(target.key);
    },
    left: function (frame) {
      const target = S.store.get("room", frame.room);
      if (target !== null) {
        forget(target);
        note("You left #" + T.sanitize(frame.room) + ".", "info");
      }
    },
    room_list: function (frame, request) {
      const rooms = Array.isArray(frame.rooms) ? frame.rooms : [];
      for (const room of rooms) {
        if (room.joined) {
          S.store.ensure("room", room.name).topic = String(room.topic || "");
        }
      }
      if (S.wanted && S.store.targets.has(S.wanted)) {
        const wanted = S.wanted;
        S.wanted = null;
        App.ui().pick(wanted);
      }
      if (request && !request.quiet) {
        const lines = rooms.map(function (room) {
          return (room.joined ? "* #" : "  #") + T.sanitize(room.name) + "  " + room.members + " members, " +
            room.online + " online" + (room.topic ? "  " + T.sanitize(room.topic) : "");
        });
        note(lines.length ? "Rooms (* = you are in it):\n" + lines.join("\n") : "There are no rooms yet.", "info");
      }
      render();
    },
    topic_changed: function (frame) {
      const target = S.store.get("room", frame.room);
      if (target !== null) {
        target.topic = String(frame.text || "");
        target.note(T.sanitize(frame.by) + (target.topic ? " set the topic: " + T.sanitize(target.topic)
          : " cleared the topic."), "info");
        render();
      }
    },
    who_list: function (frame, request) {
      const target = S.store.get("room", frame.room);
      const users = Array.isArray(frame.users) ? frame.users : [];
      if (target !== null) {
        target.people = new Map(users.map(function (u) {
          return [String(u.username).toLowerCase(), { username: String(u.username), away: u.away || null, role: u.role || null }];
        }));
      }
      if (request && !request.quiet) {
        note(Say.whoText(frame.room, users), "info");
      }
      render();
    },
    user_info: function (frame) {
      note(Say.userInfoText(frame, S.me), "info");
    },
    message_removed: function (frame) {
      for (const target of S.store.targets.values()) {
        if (target.markRemoved(frame.id, String(frame.by))) {
          render();
        }
      }
    },
    room_deleted: function (frame) {
      const target = S.store.get("room", frame.room);
      if (target !== null) {
        forget(target);
      }
      note("#" + T.sanitize(frame.room) + " was deleted by " + T.sanitize(frame.by) +
        (frame.reason ? ": " + T.sanitize(frame.reason) : "") + ".", "info");
    },
    room_event: function (frame) {
      const aboutMe = S.me !== null && String(frame.user || "").toLowerCase() === S.me.toLowerCase();
      // Out of the room (kick, ban): told where the user goes next, not in the pane that closes.
      const out = aboutMe && (frame.action === "kick" || frame.action === "ban");
      const target = (out ? S.store.get("room", "general") : S.store.get("room", frame.room)) || active();
      note(T.sanitize(frame.by) + " " + T.sanitize(frame.action) + (frame.user ? " " + T.sanitize(frame.user) : "") +
        " in #" + T.sanitize(frame.room) + (frame.reason ? ": " + T.sanitize(frame.reason) : "") + ".", "info", target);
    },
    error: function (frame, request) {
      refused(frame, request || { action: null });
    },
  };

  // Our own message's stored copy is its acknowledgment: it is not sent again.
  function acknowledged(entry) {
    if (entry.mine && entry.nonce !== null && S.pending.delete(entry.nonce)) {
      const target = S.store.targets.get(entry.direct ? "@" + String(entry.to).toLowerCase() : "#" + entry.room);
      if (target) {
        target.dropPending(entry.nonce);
      }
    }
  }

  function arrived(target, frame, direct) {
    const entry = Store.entryOf(frame, S.me, !frame.replayed);
    acknowledged(entry);
    if (!target.addMessage(entry)) {
      return;
    }
    seen(entry.id);
    if (!entry.mine) {
      const looking = target === active() && !document.hidden;
      if (!looking) {
        target.unread += 1;
        target.mention = target.mention || direct || T.mentions(entry.text, S.me);
      }
      if ((!looking || !App.ui().atBottom()) && target.markerId === null) {
        target.markerId = entry.id;
      }
      if (!frame.replayed) {
        const what = entry.e2e ? View.ENCRYPTED : T.sanitize(entry.text).slice(0, 300);
        $("announcer").textContent = T.sanitize(entry.from) + (direct ? " (direct): " : " in " + target.label() + ": ") + what;
      }
    }
    render();
    if (target === active()) {
      App.ui().arrivedInView();
    }
  }

  function refused(error, request) {
    const action = request.action;
    if (action === "login" || action === "register") {
      App.ui().signInRefused(Say.describeError(error), error.code === "already_logged_in");
      return;
    }
    if (action === "resume") {
      S.token = null;
      saved.set("token", null);
      S.signedIn = false;
      App.ui().showSignIn(Say.describeError(error));
      return;
    }
    if (typeof request.onError === "function") {
      request.onError(error, request); // a file transfer's own refusal (files.js)
      return;
    }
    const sentence = Say.describeRefusal(error, request);
    if ((action === "send" || action === "dm") && request.nonce) {
      const pending = S.pending.get(request.nonce);
      S.pending.delete(request.nonce);
      const target = pending ? S.store.targets.get(pending.key) : null;
      if (target) {
        target.dropPending(request.nonce);
        target.note("Not sent (" + T.sanitize(pending.text).slice(0, 60) + "): " + sentence, "error");
        render();
        return;
      }
    }
    if (action === "history") {
      const target = S.store.targets.get(request.key);
      if (target) {
        target.loading = false;
        target.hasMore = false;
      }
    }
    if (request.quiet) {
      return;
    }
    note(sentence, "error");
  }

  function forget(target) {
    S.store.remove(target.key);
    if (S.activeKey === target.key) {
      S.activeKey = "#general";
    }
    rememberConversations();
    render();
  }

  function restoreConversations() {
    let names = [];
    try {
      names = JSON.parse(saved.get("dms") || "[]");
    } catch (error) {
      names = [];
    }
    if (Array.isArray(names)) {
      for (const name of names.slice(0, 100)) {
        if (typeof name === "string" && T.checkUsername(name) === null) {
          S.store.ensure("dm", name);
        }
      }
    }
  }

  return {
    handle: function (frame, request) {
      const handler = HANDLERS[frame.type] || window.ChatFiles.handlers[frame.type];
      if (handler !== undefined) {
        handler(frame, request);
      }
    },
  };
})();
