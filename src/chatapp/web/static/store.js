// The web client's model: one target per room (`#name`) and per direct conversation (`@name`), each
// holding its messages in id order, once, however they arrive (live, replayed after a reconnect, in a
// page of history), the notes shown among them, and its unread count. No DOM here.
"use strict";

window.ChatStore = (function () {
  function Target(kind, name) {
    this.kind = kind; // "room" or "dm"
    this.name = name;
    this.key = (kind === "room" ? "#" : "@") + name.toLowerCase();
    this.entries = [];
    this.ids = new Set();
    this.unread = 0;
    this.mention = false;
    this.topic = "";
    this.hasMore = null; // older messages on the server: null until a page of history says
    this.loading = false;
    this.markerId = null; // the first message that arrived unseen: the "new messages" marker
    this.people = new Map(); // lower-case name -> {username, away, role} of those online (rooms)
    this.joined = true;
  }

  Target.prototype.label = function () {
    return (this.kind === "room" ? "#" : "@") + this.name;
  };

  Target.prototype.oldestId = function () {
    for (let i = 0; i < this.entries.length; i++) {
      if (this.entries[i].kind === "msg" && !this.entries[i].pending) {
        return this.entries[i].id;
      }
    }
    return null;
  };

  Target.prototype.messageCount = function () {
    return this.ids.size;
  };

  // Puts a stored message in its place by id; false when it was here already.
  Target.prototype.addMessage = function (entry) {
    if (this.ids.has(entry.id)) {
      return false;
    }
    this.ids.add(entry.id);
    if (entry.nonce) {
      this.dropPending(entry.nonce);
    }
    // Before the first message with a higher id (a page of history, a replay); otherwise last,
    // before our own messages still on their way.
    let at = -1;
    if (!entry.live) {
      for (let i = 0; i < this.entries.length; i++) {
        const other = this.entries[i];
        if (other.kind === "msg" && !other.pending && other.id > entry.id) {
          at = i;
          break;
        }
      }
    }
    if (at < 0) {
      at = this.entries.length;
      while (at > 0 && this.entries[at - 1].pending) {
        at -= 1;
      }
    }
    this.entries.splice(at, 0, entry);
    return true;
  };

  Target.prototype.addPending = function (entry) {
    this.entries.push(entry);
  };

  Target.prototype.dropPending = function (nonce) {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i].pending && this.entries[i].nonce === nonce) {
        this.entries.splice(i, 1);
        return true;
      }
    }
    return false;
  };

  Target.prototype.note = function (text, level) {
    this.entries.push({ kind: "note", text: text, level: level || "info", when: new Date() });
  };

  Target.prototype.markRemoved = function (id, by) {
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i];
      if (entry.kind === "msg" && entry.id === id) {
        entry.text = "";
        entry.removedBy = by;
        entry.e2e = false;
        return true;
      }
    }
    return false;
  };

  function Store() {
    this.targets = new Map();
    this.order = [];
  }

  Store.prototype.get = function (kind, name) {
    const key = (kind === "room" ? "#" : "@") + String(name).toLowerCase();
    return this.targets.get(key) || null;
  };

  Store.prototype.ensure = function (kind, name) {
    let target = this.get(kind, name);
    if (target === null) {
      target = new Target(kind, String(name));
      this.targets.set(target.key, target);
      this.order.push(target.key);
    }
    return target;
  };

  Store.prototype.remove = function (key) {
    this.targets.delete(key);
    this.order = this.order.filter(function (k) {
      return k !== key;
    });
  };

  Store.prototype.list = function (kind) {
    const out = [];
    for (const key of this.order) {
      const target = this.targets.get(key);
      if (target && target.kind === kind) {
        out.push(target);
      }
    }
    return out;
  };

  Store.prototype.clear = function () {
    this.targets.clear();
    this.order = [];
  };

  // A message or direct frame as an entry; `me` decides which side of a conversation it belongs to.
  function entryOf(frame, me, live) {
    const direct = frame.type === "direct";
    return {
      kind: "msg",
      id: Number(frame.id),
      from: String(frame.from),
      to: direct ? String(frame.to) : null,
      room: direct ? null : String(frame.room),
      text: String(frame.text || ""),
      ts: String(frame.ts || ""),
      nonce: typeof frame.nonce === "string" ? frame.nonce : null,
      mine: me !== null && String(frame.from).toLowerCase() === me.toLowerCase(),
      direct: direct,
      e2e: direct && frame.e2e !== undefined && frame.e2e !== null,
      removedBy: frame.removed_by ? String(frame.removed_by) : null,
      action: frame.action === true, // "/me waves", shown as "* alice waves"
      file: frame.removed_by ? null : fileOf(frame.file),
      live: live,
    };
  }

  // The file a message shares (docs/protocol.md, "File sharing"), or null.
  function fileOf(file) {
    if (file === null || typeof file !== "object" || typeof file.id !== "string") {
      return null;
    }
    return {
      id: file.id, name: String(file.name || "file"), size: Number(file.size) || 0,
      mime: typeof file.mime === "string" ? file.mime : null, encrypted: Boolean(file.encrypted),
    };
  }

  function conversationWith(frame, me) {
    return String(frame.from).toLowerCase() === String(me).toLowerCase() ? String(frame.to) : String(frame.from);
  }

  return { Store: Store, Target: Target, entryOf: entryOf, fileOf: fileOf, conversationWith: conversationWith };
})();
