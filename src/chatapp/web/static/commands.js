// The composer's commands, as in the terminal client: /join, /leave, /msg, /me, /topic, /who, /whois,
// /away, /rooms, /quit, /help. A line starting with // is a message that starts with /.
"use strict";

window.ChatCommands = (function () {
  const T = window.ChatText;
  const App = window.ChatApp;
  const S = App.S;

  const HELP = "Commands: /join ROOM, /leave, /msg NAME [TEXT], /me ACTION, /topic [TEXT | --clear], /who, /whois NAME, " +
    "/away [TEXT], /rooms, /quit. Start a line with // to send it as a message beginning with /.";

  function run(line, actions) {
    const space = line.indexOf(" ");
    const name = (space < 0 ? line : line.slice(0, space)).toLowerCase();
    const rest = space < 0 ? "" : line.slice(space + 1).trim();
    const target = App.active();
    switch (name) {
      case "/join":
        return rest ? actions.join(rest.split(/\s+/)[0]) : App.note("Usage: /join ROOM", "error");
      case "/leave":
        if (rest) {
          return App.request({ type: "leave", room: rest.replace(/^#/, "") }, { action: "leave", room: rest.replace(/^#/, "") });
        }
        return actions.leave();
      case "/msg": {
        const words = rest.match(/^(\S+)\s*([\s\S]*)$/);
        if (!words) {
          return App.note("Usage: /msg NAME [TEXT]", "error");
        }
        const conversation = actions.openConversation(words[1]);
        if (conversation !== null && words[2]) {
          App.say(conversation, words[2]);
        }
        return null;
      }
      case "/me":
        if (target === null || !rest) {
          return App.note("Usage: /me ACTION (shown as * " + T.sanitize(S.me || "you") + " ACTION)", "error");
        }
        App.say(target, line.slice(space + 1), true);
        return null;
      case "/topic":
        if (target === null || target.kind !== "room") {
          return App.note("Topics belong to rooms.", "error");
        }
        if (!rest) {
          return App.note(target.topic ? "Topic of " + target.label() + ": " + T.sanitize(target.topic)
            : target.label() + " has no topic.", "info");
        }
        return App.request({ type: "topic", room: target.name, text: rest === "--clear" ? "" : rest },
          { action: "topic", room: target.name });
      case "/who": {
        const room = rest ? rest.replace(/^#/, "") : target && target.kind === "room" ? target.name : "general";
        return App.request({ type: "who", room: room }, { action: "who", room: room });
      }
      case "/whois":
        return rest ? App.request({ type: "whois", username: rest.replace(/^@/, "") }, { action: "whois", user: rest })
          : App.note("Usage: /whois NAME", "error");
      case "/away":
        S.away = rest || null;
        return App.request(rest ? { type: "away", text: rest } : { type: "away" }, { action: "away" });
      case "/rooms":
        return App.request({ type: "rooms" }, { action: "rooms" });
      case "/quit":
        return App.signOut();
      case "/help":
        return App.note(HELP, "info");
      default:
        return App.note("Unknown command " + T.sanitize(name) + ". Type /help for the list of commands; start the " +
          "line with '//' to send it as a message.", "error");
    }
  }

  return { run: run };
})();
