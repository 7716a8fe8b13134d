// Drawing the model: the message list of the active target (day separators, grouped runs, the
// "new messages" marker, local times, names in stable colours), the sidebar and the people list.
// Every text from the network goes in through textContent or text nodes (ChatText.appendRich).
"use strict";

window.ChatView = (function () {
  const T = window.ChatText;
  const GROUP_MS = 5 * 60 * 1000;
  const ENCRYPTED = "encrypted message: open it in chatapp-client";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function messageNode(entry, grouped, me, when) {
    const item = el("li", "msg");
    item.dataset.id = entry.pending ? "" : String(entry.id);
    if (grouped) {
      item.classList.add("grouped");
    }
    if (entry.mine) {
      item.classList.add("mine");
    }
    if (entry.pending) {
      item.classList.add("pending");
    }
    if (!entry.mine && !entry.removedBy && T.mentions(entry.text, me)) {
      item.classList.add("mention");
    }
    const time = el("time", "time", T.clock(when));
    time.dateTime = when.toISOString();
    time.title = T.fullTime(when);
    item.appendChild(time);
    const acting = entry.action && !entry.removedBy;
    const name = el("span", "name " + T.colourClass(entry.from), (acting ? "* " : "") + T.sanitize(entry.from));
    if (grouped) {
      name.classList.add("visually-hidden");
    }
    const body = el("span", "text");
    body.dir = "auto";
    if (acting) {
      // An action reads as one sentence: "* alice waves", the name inside the text's line.
      item.classList.add("action");
      body.appendChild(name);
      body.appendChild(document.createTextNode(" "));
      T.appendRich(body, entry.text);
    } else if (entry.removedBy) {
      item.appendChild(name);
      body.classList.add("removed");
      body.textContent = "(message removed by " + T.sanitize(entry.removedBy) + ")";
    } else if (entry.e2e) {
      item.appendChild(name);
      body.classList.add("e2e");
      body.textContent = ENCRYPTED;
    } else {
      item.appendChild(name);
      if (entry.direct) {
        body.appendChild(el("span", "plain-mark", "[plain] "));
      }
      T.appendRich(body, entry.text);
    }
    item.appendChild(body);
    if (entry.file && !entry.removedBy) {
      item.appendChild(fileNode(entry.file, entry.pending));
    }
    if (entry.pending) {
      item.appendChild(el("span", "state", entry.queued ? " (queued: not connected)" : " (sending)"));
    }
    return item;
  }

  // A file line: its name (sanitised, as text), size and type, and Download (a link asked for then).
  function fileNode(file, pending) {
    const line = el("span", "file");
    if (file.encrypted) {
      line.classList.add("e2e");
      line.textContent = "encrypted file (" + window.ChatFiles.sizeText(file.size) + "): open it in chatapp-client";
      return line;
    }
    line.appendChild(el("span", "file-name", "\u{1F4CE} " + T.sanitize(file.name)));
    line.appendChild(el("span", "file-size", " " + window.ChatFiles.sizeText(file.size) +
      (file.mime ? ", " + T.sanitize(file.mime) : "") + " "));
    if (!pending) {
      const button = el("button", "download", "Download");
      button.type = "button";
      button.dataset.file = file.id;
      button.setAttribute("aria-label", "Download " + T.sanitize(file.name));
      button.addEventListener("click", function () {
        window.ChatFiles.download(file.id);
      });
      line.appendChild(button);
    }
    return line;
  }

  // The whole list of a target, keeping what the reader looks at in place (or the bottom in view).
  function renderMessages(list, target, me) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    let anchor = null;
    let anchorTop = 0;
    if (!atBottom) {
      for (const child of list.children) {
        if (child.dataset.id && child.offsetTop + child.offsetHeight > list.scrollTop) {
          anchor = child.dataset.id;
          anchorTop = child.offsetTop - list.scrollTop;
          break;
        }
      }
    }
    const fragment = document.createDocumentFragment();
    if (target.hasMore === false) {
      fragment.appendChild(el("li", "beginning", "Beginning of the history of " + T.sanitize(target.label())));
    } else if (target.loading) {
      fragment.appendChild(el("li", "beginning", "Loading older messages…"));
    }
    let previous = null;
    let previousDay = null;
    const now = new Date();
    for (const entry of target.entries) {
      if (entry.kind !== "msg") {
        fragment.appendChild(el("li", "note " + entry.level, entry.text));
        previous = null;
        continue;
      }
      const when = T.parseTs(entry.ts) || new Date();
      const day = T.dayKey(when);
      if (day !== previousDay) {
        const separator = el("li", "day");
        separator.appendChild(el("span", "", T.dayLabel(when, now)));
        fragment.appendChild(separator);
        previousDay = day;
        previous = null;
      }
      if (!entry.pending && target.markerId !== null && entry.id === target.markerId) {
        const marker = el("li", "marker");
        marker.appendChild(el("span", "", "New messages"));
        fragment.appendChild(marker);
        previous = null;
      }
      const grouped = previous !== null && previous.entry.from.toLowerCase() === entry.from.toLowerCase() &&
        when - previous.when < GROUP_MS && !entry.action && !previous.entry.action;
      fragment.appendChild(messageNode(entry, grouped, me, when));
      previous = { entry: entry, when: when };
    }
    list.replaceChildren(fragment);
    if (atBottom) {
      list.scrollTop = list.scrollHeight;
    } else if (anchor !== null) {
      const again = list.querySelector('li[data-id="' + anchor + '"]');
      if (again) {
        list.scrollTop = again.offsetTop - anchorTop;
      }
    }
  }

  function targetButton(target, active, onPick) {
    const item = el("li");
    const button = el("button", "target");
    button.type = "button";
    button.dataset.key = target.key;
    if (active) {
      button.classList.add("active");
      button.setAttribute("aria-current", "page");
    }
    button.appendChild(el("span", "label", T.sanitize(target.label())));
    if (target.unread > 0) {
      const badge = el("span", "badge" + (target.mention ? " mention" : ""), String(target.unread));
      badge.setAttribute("aria-label", target.unread + " unread" + (target.mention ? ", mentioning you" : ""));
      button.appendChild(badge);
    }
    button.addEventListener("click", function () {
      onPick(target.key);
    });
    item.appendChild(button);
    return item;
  }

  function renderSidebar(rooms, dms, roomList, dmList, activeKey, onPick) {
    roomList.replaceChildren.apply(roomList, rooms.map(function (t) {
      return targetButton(t, t.key === activeKey, onPick);
    }));
    dmList.replaceChildren.apply(dmList, dms.map(function (t) {
      return targetButton(t, t.key === activeKey, onPick);
    }));
  }

  function renderPeople(list, target, onWhois) {
    const people = target && target.kind === "room" ? Array.from(target.people.values()) : [];
    people.sort(function (a, b) {
      return a.username.toLowerCase() < b.username.toLowerCase() ? -1 : 1;
    });
    list.replaceChildren.apply(list, people.map(function (person) {
      const item = el("li");
      const button = el("button", "person");
      button.type = "button";
      const role = person.role === "owner" || person.role === "operator" ? "@" : "";
      button.appendChild(el("span", "name " + T.colourClass(person.username), role + T.sanitize(person.username)));
      if (person.away) {
        button.appendChild(el("span", "away", " away: " + T.sanitize(person.away)));
      }
      button.title = "Who is " + T.sanitize(person.username) + "?";
      button.addEventListener("click", function () {
        onWhois(person.username);
      });
      item.appendChild(button);
      return item;
    }));
  }

  return {
    el: el,
    renderMessages: renderMessages,
    renderSidebar: renderSidebar,
    renderPeople: renderPeople,
    ENCRYPTED: ENCRYPTED,
  };
})();
