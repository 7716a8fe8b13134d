// The sentences the web client says: the same as the terminal client's (chatapp/client/ui/sentences.py),
// so a refusal reads the same in a browser and in a terminal. Everything quoted from the server is
// sanitised; the result is only ever shown with textContent.
"use strict";

window.ChatSentences = (function () {
  const T = window.ChatText;

  function waitPhrase(seconds) {
    const whole = Math.max(1, Math.ceil(seconds));
    if (whole < 90) {
      return "in " + whole + " second" + (whole !== 1 ? "s" : "");
    }
    const minutes = Math.ceil(whole / 60);
    return "in " + minutes + " minute" + (minutes !== 1 ? "s" : "");
  }

  function untilPhrase(until) {
    return until ? " until " + T.localTimes(T.sanitize(until)) : "";
  }

  function signedInWhere(detail) {
    const match = /\bfrom (\S+) since (\S+?)[;,.]?(?:\s|$)/.exec(detail);
    if (match === null) {
      return "";
    }
    return " (from " + match[1] + " since " + T.localTimes(match[2]) + ")";
  }

  // A refusal as a sentence (describe_error of the terminal client).
  function describeError(error) {
    const code = String(error.code || "");
    const detail = T.sanitize(error.message || "").trim().replace(/\.+$/, "");
    const until = untilPhrase(error.until);
    switch (code) {
      case "banned":
        return "You are banned from that room" + until + ".";
      case "muted":
        return "You are muted" + until + ": you can read but not send.";
      case "suspended":
        return "This account is suspended" + (until || " until a moderator lifts it") +
          (detail ? ": " + T.localTimes(detail) : "") + ".";
      case "filtered":
        return "The server's filter does not allow that text" + (detail ? " (" + detail + ")" : "") + ".";
      case "invite_only":
        return "That room is private: only invited users may join; ask its owner or an operator.";
      case "auth_failed":
        return "Wrong username or password.";
      case "username_taken":
        return "That username is already taken; please choose another one.";
      case "weak_password":
        return detail ? "That password is not accepted: " + detail + "." : "That password is not accepted.";
      case "invalid_username":
        return detail ? "That username is not valid: " + detail + "." : "That username is not valid.";
      case "rate_limited":
        if (typeof error.retry_after === "number" && error.retry_after > 0) {
          return "Too many attempts; please try again " + waitPhrase(error.retry_after) + ".";
        }
        return "Too many attempts; please wait a little and try again.";
      case "already_logged_in":
        return "This account is already signed in somewhere else" + signedInWhere(detail) +
          "; sign out there, or take that session over.";
      case "invalid_token":
        return "Your session has expired; please sign in again.";
      case "text_too_long":
        return detail ? "That message is too long: " + detail + "." : "That message is too long.";
      case "server_error":
        return "The server could not handle that request; please try again.";
      case "not_in_room":
        return "You are not in that room; join it first.";
      case "no_such_room":
        return "There is no such room.";
      case "no_such_user":
        return "There is no such user.";
      case "forbidden":
        return detail ? "You are not allowed to do that: " + detail + "." : "You are not allowed to do that.";
      case "too_many_rooms":
        return "You are in too many rooms already; leave one first.";
      case "invalid_room":
        return detail ? "That is not a room name: " + detail + "." : "That is not a room name.";
      default:
        return detail ? "The server refused that: " + detail + " (" + T.sanitize(code) + ")."
          : "The server refused that (" + T.sanitize(code) + ").";
    }
  }

  // A refused request, naming what it was about (describe_refusal of the terminal client).
  function describeRefusal(error, request) {
    const code = String(error.code || "");
    const where = request && request.room ? "#" + T.sanitize(request.room) : null;
    const name = request && request.user ? T.sanitize(request.user) : null;
    const action = request ? request.action : null;
    if (code === "not_in_room" && where) {
      return "You are not in " + where + "; join it first.";
    }
    if (code === "no_such_room" && where) {
      return "There is no room " + where + ".";
    }
    if (code === "no_such_user" && name) {
      return "There is no user named " + name + ".";
    }
    if (code === "forbidden" && action === "topic" && where) {
      return "Only the owner and operators of " + where + " can set its topic.";
    }
    if (code === "banned" && where) {
      return "You are banned from " + where + untilPhrase(error.until) + ".";
    }
    if (code === "muted" && where) {
      return "You are muted in " + where + untilPhrase(error.until) + ": you can read but not send.";
    }
    if (code === "invite_only" && where) {
      return where + " is private: only invited users may join; ask its owner or an operator for an invitation.";
    }
    if (code === "rate_limited" && action === "join") {
      return "You have created many rooms lately; try again " +
        (error.retry_after ? waitPhrase(error.retry_after) : "later") + ".";
    }
    if (code === "rate_limited" && (action === "send" || action === "dm")) {
      return "You are sending too fast; try again " +
        (error.retry_after ? waitPhrase(error.retry_after) : "in a moment") + ".";
    }
    return describeError(error);
  }

  const BYE = {
    "quit": "You left the chat.",
    "server shutting down": "The server is shutting down.",
    "send queue exceeded": "The server disconnected this client because it could not keep up with the messages.",
    "replaced by another login": "You signed in from somewhere else, so this session was closed.",
    "authentication timeout": "The server closed the connection because signing in took too long.",
    "too many invalid frames": "The server closed the connection after too many invalid requests.",
    "too many frames before authentication": "The server closed the connection: too many requests before signing in.",
    "idle timeout": "The server closed the connection because it was idle for too long.",
    "too many connections from your address": "The server refused the connection: too many connections from your address.",
    "too many connections from your network": "The server refused the connection: too many connections from your network.",
    "server full": "The server is full; try again later.",
    "client closed": "The connection was closed from this side.",
    "kicked": "You were removed from the chat by the server's operator.",
    "session ended by its user": "This session was ended, so it is signed out.",
    "account suspended": "Your account was suspended.",
    "disconnected by a moderator": "A moderator disconnected this session.",
    "address banned": "The server refuses connections from your address.",
  };

  // Goodbyes after which the web client does not reconnect (docs/protocol.md, "Bye reasons").
  const FINAL = new Set([
    "quit", "replaced by another login", "too many invalid frames", "client closed", "kicked",
    "session ended by its user", "account suspended", "disconnected by a moderator", "address banned",
  ]);

  function describeBye(reason, message) {
    const known = BYE[reason];
    let said = T.localTimes(T.sanitize(message || "").trim());
    if (said) {
      said = " " + said[0].toUpperCase() + said.slice(1) + (/[.!?]$/.test(said) ? "" : ".");
    }
    if (known !== undefined) {
      return known + said;
    }
    return "The server closed the connection (" + T.sanitize(reason) + ")." + said;
  }

  const PRESENCE = {
    join: "{name} joined #{room}",
    leave: "{name} left #{room}",
    online: "{name} is online",
    offline: "{name} went offline",
    away: "{name} is away",
    back: "{name} is back",
  };

  function presenceText(frame) {
    const template = PRESENCE[frame.event] || "{name}: " + T.sanitize(frame.event);
    let text = template.replace("{name}", T.sanitize(frame.username)).replace("{room}", T.sanitize(frame.room));
    if (frame.event === "away" && frame.text) {
      text += ": " + T.sanitize(frame.text);
    }
    return text;
  }

  function userInfoText(info, me) {
    const name = T.sanitize(info.username);
    let state;
    if (info.online) {
      state = "online" + (info.away ? ", away: " + T.sanitize(info.away) : "");
    } else {
      state = info.last_seen ? "offline, last seen " + T.localTime(info.last_seen) : "offline, never seen online";
    }
    const lines = [name + " is " + state + "."];
    if (info.display_name) {
      lines.push("Display name: " + T.sanitize(info.display_name));
    }
    if (info.role) {
      lines.push("Server role: " + T.sanitize(info.role) + ".");
    }
    if (info.bio) {
      lines.push("Bio: " + T.sanitize(info.bio));
    }
    const since = T.parseTs(info.member_since);
    if (since) {
      lines.push("Member since " + T.dayKey(since) + ".");
    }
    const rooms = Array.isArray(info.rooms_in_common) ? info.rooms_in_common : [];
    if (!me || String(info.username).toLowerCase() !== me.toLowerCase()) {
      lines.push(rooms.length ? "Rooms in common: " + rooms.map(function (r) {
        return "#" + T.sanitize(r);
      }).join(", ") + "." : "No rooms in common.");
    }
    return lines.join("\n");
  }

  function whoText(room, users) {
    if (!users.length) {
      return "Nobody is online in #" + T.sanitize(room) + ".";
    }
    const names = users.map(function (user) {
      return (user.role === "owner" || user.role === "operator" ? "@" : "") + T.sanitize(user.username) +
        (user.role === "owner" ? " (owner)" : "") + (user.away ? " (away: " + T.sanitize(user.away) + ")" : "");
    });
    return "Online in #" + T.sanitize(room) + " (" + users.length + "): " + names.join(", ");
  }

  return {
    describeError: describeError,
    describeRefusal: describeRefusal,
    describeBye: describeBye,
    isFinalBye: function (reason) {
      return FINAL.has(reason);
    },
    presenceText: presenceText,
    userInfoText: userInfoText,
    whoText: whoText,
    waitPhrase: waitPhrase,
  };
})();
