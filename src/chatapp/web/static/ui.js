// The page's controls: the sign-in form (the terminal client's rules and sentences), the sidebar, the
// message list's scrolling (older history upward, "new messages" below), the composer (Enter sends,
// Shift+Enter a new line, Up/Down the input history); the / commands are in commands.js.
"use strict";

(function () {
  const T = window.ChatText;
  const View = window.ChatView;
  const App = window.ChatApp;
  const S = App.S;
  const INPUT_HISTORY = 100;

  function $(id) {
    return document.getElementById(id);
  }

  const list = $("messages");
  const input = $("input");
  const inputHistory = [];
  let browsing = -1;
  let draft = "";

  // -- sign-in ----------------------------------------------------------------------------------

  function mode() {
    return document.querySelector('input[name="mode"]:checked').value;
  }

  function showMode() {
    const register = mode() === "register";
    $("again-row").hidden = !register;
    $("password").autocomplete = register ? "new-password" : "current-password";
    $("signin-submit").textContent = register ? "Register" : "Log in";
    $("takeover").hidden = true;
  }

  function signInError(text) {
    $("signin-error").textContent = text || "";
  }

  function checkedSignIn() {
    const username = $("username").value.trim();
    const password = $("password").value;
    const wrong = T.checkUsername(username);
    if (wrong !== null) {
      return { error: wrong, field: "username" };
    }
    if (!password) {
      return { error: "The password is empty; please type it.", field: "password" };
    }
    if (mode() === "register") {
      const weak = T.checkPassword(username, password);
      if (weak !== null) {
        return { error: weak, field: "password" };
      }
      if ($("password-again").value !== password) {
        return { error: "The passwords do not match; please try again.", field: "password-again" };
      }
    }
    return { username: username, password: password };
  }

  function submitSignIn(takeover) {
    const checked = checkedSignIn();
    if (checked.error) {
      signInError(checked.error);
      $(checked.field).focus();
      return;
    }
    signInError("");
    $("takeover").hidden = true;
    if (!App.signIn(mode(), checked.username, checked.password, takeover)) {
      signInError("Not connected to the server yet; please wait a moment.");
    }
  }

  document.querySelectorAll('input[name="mode"]').forEach(function (radio) {
    radio.addEventListener("change", showMode);
  });
  $("signin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    submitSignIn(false);
  });
  $("takeover").addEventListener("click", function () {
    submitSignIn(true);
  });

  // -- the chat ---------------------------------------------------------------------------------

  function pick(key) {
    const previous = App.active();
    if (previous !== null && previous.key !== key) {
      previous.markerId = null;
    }
    S.activeKey = key;
    App.saved.set("active", key);
    const target = App.active();
    if (target !== null) {
      target.unread = 0;
      target.mention = false;
    }
    document.body.classList.remove("nav-open");
    $("menu").setAttribute("aria-expanded", "false");
    render();
    toBottom();
    if (target !== null) {
      App.fillUp(target);
    }
    input.focus();
  }

  function render() {
    const target = App.active();
    View.renderSidebar(S.store.list("room"), S.store.list("dm"), $("room-list"), $("dm-list"), S.activeKey, pick);
    View.renderPeople($("people-list"), target, function (name) {
      App.request({ type: "whois", username: name }, { action: "whois", user: name });
    });
    $("me").textContent = S.me ? T.sanitize(S.me) + (S.away ? " (away)" : "") : "";
    if (target === null) {
      return;
    }
    $("target-title").textContent = T.sanitize(target.label());
    $("target-topic").textContent = target.kind === "room" ? T.sanitize(target.topic) : "Direct messages";
    $("plain-notice").hidden = target.kind !== "dm";
    $("who").hidden = target.kind !== "room";
    $("leave").textContent = target.kind === "room" ? "Leave" : "Close";
    $("leave").hidden = target.key === "#general";
    input.placeholder = "Message " + target.label();
    View.renderMessages(list, target, S.me);
    document.title = (unreadTotal() ? "(" + unreadTotal() + ") " : "") + target.label() + " — chatapp";
  }

  function unreadTotal() {
    let total = 0;
    for (const target of S.store.targets.values()) {
      total += target.unread;
    }
    return total;
  }

  function atBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  }

  // Near the top: scrolled up to where the page before the first message shown is wanted.
  function nearTop() {
    return list.scrollTop < 80;
  }

  function toBottom() {
    list.scrollTop = list.scrollHeight;
    $("jump").hidden = true;
  }

  list.addEventListener("scroll", function () {
    const target = App.active();
    if (target !== null && nearTop()) {
      App.fetchOlder(target);
    }
    if (atBottom()) {
      $("jump").hidden = true;
    }
  });
  $("jump").addEventListener("click", function () {
    toBottom();
    input.focus();
  });

  function leave() {
    const target = App.active();
    if (target === null || target.key === "#general") {
      return;
    }
    if (target.kind === "room") {
      App.request({ type: "leave", room: target.name }, { action: "leave", room: target.name });
    } else {
      S.store.remove(target.key);
      App.rememberConversations();
      pick("#general");
    }
  }

  function join(name) {
    const room = name.replace(/^#/, "").trim();
    const wrong = T.checkRoom(room);
    if (wrong !== null) {
      App.note(wrong, "error");
      return;
    }
    const known = S.store.get("room", room);
    if (known !== null) {
      pick(known.key);
      return;
    }
    App.request({ type: "join", room: room }, { action: "join", room: room });
  }

  function openConversation(name) {
    const user = name.replace(/^@/, "").trim();
    const wrong = T.checkUsername(user);
    if (wrong !== null) {
      App.note(wrong, "error");
      return null;
    }
    if (S.me && user.toLowerCase() === S.me.toLowerCase()) {
      App.note("That is you: write to someone else.", "error");
      return null;
    }
    const target = S.store.ensure("dm", user);
    App.rememberConversations();
    pick(target.key);
    return target;
  }

  $("join-form").addEventListener("submit", function (event) {
    event.preventDefault();
    join($("join-room").value);
    $("join-room").value = "";
  });
  $("dm-form").addEventListener("submit", function (event) {
    event.preventDefault();
    openConversation($("dm-user").value);
    $("dm-user").value = "";
  });
  $("who").addEventListener("click", function () {
    const target = App.active();
    if (target !== null && target.kind === "room") {
      App.request({ type: "who", room: target.name }, { action: "who", room: target.name });
    }
  });
  $("leave").addEventListener("click", leave);
  $("signout").addEventListener("click", App.signOut);
  $("reconnect").addEventListener("click", function () {
    App.link.reconnectNow();
  });
  $("menu").addEventListener("click", function () {
    const open = document.body.classList.toggle("nav-open");
    $("menu").setAttribute("aria-expanded", open ? "true" : "false");
  });

  // -- the composer -----------------------------------------------------------------------------

  function submit() {
    const text = input.value;
    if (!text.trim()) {
      return;
    }
    const target = App.active();
    if (target === null) {
      return;
    }
    if (inputHistory[inputHistory.length - 1] !== text) {
      inputHistory.push(text);
      if (inputHistory.length > INPUT_HISTORY) {
        inputHistory.shift();
      }
    }
    browsing = -1;
    if (text.startsWith("/") && !text.startsWith("//")) {
      input.value = "";
      window.ChatCommands.run(text.trim(), { join: join, leave: leave, openConversation: openConversation });
    } else if (App.say(target, text.startsWith("//") ? text.slice(1) : text)) {
      input.value = "";
    }
    grow();
  }

  function grow() {
    input.rows = Math.min(8, Math.max(1, input.value.split("\n").length));
  }

  function recall(step) {
    if (!inputHistory.length) {
      return false;
    }
    if (browsing < 0) {
      if (step > 0) {
        return false;
      }
      draft = input.value;
      browsing = inputHistory.length;
    }
    const next = browsing + step;
    if (next < 0) {
      return true;
    }
    browsing = next;
    input.value = next >= inputHistory.length ? draft : inputHistory[next];
    if (next >= inputHistory.length) {
      browsing = -1;
    }
    grow();
    input.setSelectionRange(input.value.length, input.value.length);
    return true;
  }

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.altKey) {
      return; // Alt+Up/Down: another room (below)
    } else if (event.key === "ArrowUp" && !input.value.slice(0, input.selectionStart).includes("\n")) {
      if (recall(-1)) {
        event.preventDefault();
      }
    } else if (event.key === "ArrowDown" && browsing >= 0 && !input.value.slice(input.selectionEnd).includes("\n")) {
      if (recall(1)) {
        event.preventDefault();
      }
    }
  });
  input.addEventListener("input", grow);
  $("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
    input.focus();
  });
  // Alt+Up and Alt+Down go to the previous and next room or conversation; Escape closes the drawer.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("nav-open")) {
      document.body.classList.remove("nav-open");
      $("menu").setAttribute("aria-expanded", "false");
      $("menu").focus();
    } else if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown") && S.signedIn) {
      const keys = S.store.list("room").concat(S.store.list("dm")).map(function (t) {
        return t.key;
      });
      const at = keys.indexOf(S.activeKey);
      if (keys.length > 1) {
        event.preventDefault();
        pick(keys[(at + (event.key === "ArrowUp" ? keys.length - 1 : 1)) % keys.length]);
      }
    }
  });
  document.addEventListener("visibilitychange", function () {
    const target = App.active();
    if (!document.hidden && target !== null) {
      target.unread = 0;
      target.mention = false;
      render();
    }
  });

  App.start({
    render: render,
    pick: pick,
    atBottom: atBottom,
    toBottom: toBottom,
    showSignIn: function (why) {
      $("chat").hidden = true;
      $("signin").hidden = false;
      $("signin-submit").disabled = false;
      signInError(why);
      if (S.me) { // signed in before on this page: log in again as that user
        $("username").value = S.me;
        document.querySelector('input[name="mode"][value="login"]').checked = true;
      }
      showMode();
      $(S.me ? "password" : "username").focus();
    },
    signInRefused: function (sentence, takeover) {
      signInError(sentence);
      $("takeover").hidden = !takeover;
    },
    showChat: function () {
      $("password").value = "";
      $("password-again").value = "";
      signInError("");
      $("signin").hidden = true;
      $("chat").hidden = false;
      render();
      toBottom();
      input.focus();
    },
    afterPage: function (target) {
      // Too few to scroll, or the reader is still at the top: a scroll there while the page was
      // on its way asked for nothing, and a page that brought nothing above leaves them there.
      if (target.hasMore !== false && (list.scrollHeight <= list.clientHeight + 80 || nearTop())) {
        App.fetchOlder(target);
      }
    },
    arrivedInView: function () {
      if (!atBottom()) {
        $("jump").hidden = false;
      }
    },
  });
})();
