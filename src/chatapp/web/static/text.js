// Pure helpers of the web client: the rules and sentences it shares with the terminal client
// (docs/client.md), text made safe to show, links, name colours, local times. No DOM state here
// beyond building inert nodes; nothing received is ever parsed as HTML.
"use strict";

window.ChatText = (function () {
  const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
  const ROOM = /^[a-z0-9][a-z0-9_-]{0,31}$/;

  // The same words as chatapp.protocol.rules, so a refusal reads the same locally and from the server.
  function checkUsername(name) {
    if (!USERNAME.test(name)) {
      return "That username is not valid: usernames are 3 to 32 characters of letters, digits, '_', '.' and '-'.";
    }
    return null;
  }

  function codePoints(text) {
    return Array.from(text).length;
  }

  function checkPassword(username, password) {
    const length = codePoints(password);
    if (length < 8 || length > 1024) {
      return "That password is not accepted: passwords are 8 to 1024 characters long.";
    }
    if (password.toLowerCase() === username.toLowerCase()) {
      return "That password is not accepted: the password must not be the username.";
    }
    return null;
  }

  function checkRoom(room) {
    if (!ROOM.test(room)) {
      return "That is not a room name: room names are 1 to 32 lowercase letters, digits, '_' and '-', " +
        "starting with a letter or digit.";
    }
    return null;
  }

  // What the terminal client's sanitize does, for a browser: C0 controls become visible control
  // pictures, bidi controls and other invisible format characters go (zero-width joiner and
  // non-joiner stay), so no text can reorder or hide what is around it.
  const BIDI_AND_FORMAT = /[\u061C\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\u00AD]|\uDB40[\uDC00-\uDC7F]/g;
  const C0 = /[\u0000-\u0008\u000B-\u001F\u007F]/g;
  const C1 = /[\u0080-\u009F]/g;

  function sanitize(value) {
    return String(value === undefined || value === null ? "" : value)
      .replace(BIDI_AND_FORMAT, "")
      .replace(/[\u2028\u2029]/g, " ")
      .replace(/\t/g, "    ")
      .replace(C0, function (c) {
        const code = c.charCodeAt(0);
        return String.fromCharCode(code === 0x7f ? 0x2421 : 0x2400 + code);
      })
      .replace(C1, function (c) {
        return "<" + c.charCodeAt(0).toString(16) + ">";
      });
  }

  // http and https links only; anything else (javascript:, data:, ...) stays text.
  const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;
  const TRAILING = /[.,;:!?)\]}]+$/;

  // Appends the text to parent as text nodes and <a> elements; never HTML.
  function appendRich(parent, raw) {
    const text = sanitize(raw);
    let last = 0;
    LINK.lastIndex = 0;
    let match;
    while ((match = LINK.exec(text)) !== null) {
      let found = match[0];
      const trail = TRAILING.exec(found);
      if (trail) {
        found = found.slice(0, found.length - trail[0].length);
      }
      let url = null;
      try {
        url = new URL(found);
      } catch (error) {
        url = null;
      }
      if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
        continue;
      }
      if (match.index > last) {
        parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      }
      const link = document.createElement("a");
      link.href = url.href;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      link.textContent = found;
      parent.appendChild(link);
      last = match.index + found.length;
      LINK.lastIndex = last;
    }
    if (last < text.length) {
      parent.appendChild(document.createTextNode(text.slice(last)));
    }
  }

  // CRC-32 of the lower-cased name, as the terminal client colours names: the same on every machine.
  const CRC_TABLE = (function () {
    const table = [];
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) {
        c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      table.push(c >>> 0);
    }
    return table;
  })();

  function crc32(text) {
    const bytes = new TextEncoder().encode(text);
    let crc = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) {
      crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    }
    return (crc ^ 0xffffffff) >>> 0;
  }

  const COLOURS = 12;

  function colourClass(name) {
    return "name-c" + (crc32(String(name).toLowerCase()) % COLOURS);
  }

  function parseTs(ts) {
    const when = new Date(String(ts));
    return isNaN(when.getTime()) ? null : when;
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function clock(when) {
    return pad(when.getHours()) + ":" + pad(when.getMinutes());
  }

  function dayKey(when) {
    return when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate());
  }

  function fullTime(when) {
    return dayKey(when) + " " + clock(when);
  }

  function dayLabel(when, now) {
    const today = dayKey(now);
    const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
    const key = dayKey(when);
    if (key === today) {
      return "Today";
    }
    if (key === dayKey(yesterday)) {
      return "Yesterday";
    }
    return when.toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
  }

  // "today at 14:02", "yesterday at 09:30", "2026-11-20 14:02"
  function localTime(ts) {
    const when = parseTs(ts);
    if (when === null) {
      return sanitize(ts);
    }
    const label = dayLabel(when, new Date());
    if (label === "Today" || label === "Yesterday") {
      return label.toLowerCase() + " at " + clock(when);
    }
    return fullTime(when);
  }

  // The server's ISO 8601 UTC times inside a sentence, as local "YYYY-MM-DD HH:MM".
  function localTimes(text) {
    return text.replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)/g, function (ts) {
      const when = parseTs(ts);
      return when ? fullTime(when) : ts;
    });
  }

  function mentions(text, me) {
    if (!me) {
      return false;
    }
    const escaped = me.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
    return new RegExp("(^|[^A-Za-z0-9_.-])" + escaped + "($|[^A-Za-z0-9_-])", "i").test(String(text));
  }

  return {
    checkUsername: checkUsername,
    checkPassword: checkPassword,
    checkRoom: checkRoom,
    codePoints: codePoints,
    sanitize: sanitize,
    appendRich: appendRich,
    colourClass: colourClass,
    crc32: crc32,
    parseTs: parseTs,
    clock: clock,
    dayKey: dayKey,
    dayLabel: dayLabel,
    fullTime: fullTime,
    localTime: localTime,
    localTimes: localTimes,
    mentions: mentions,
  };
})();
