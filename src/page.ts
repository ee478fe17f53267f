/**
 * The chat page, served from modules so that every runtime serves it with no static-file setup.
 * A deliberately small page until the chat-page issue; it renders every text with textContent.
 */

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header><h1>Parley</h1><span id="status" role="status">offline</span></header>
<form id="join">
  <label>Room <input id="room" name="room" value="lobby" pattern="[A-Za-z0-9_\\-]{1,64}" required></label>
  <label>Name <input id="name" name="name" maxlength="32" placeholder="guest"></label>
  <button>Join</button>
</form>
<ul id="members" aria-label="Members"></ul>
<ol id="log" aria-live="polite" aria-label="Messages"></ol>
<form id="say"><label>Message <input id="text" autocomplete="off" maxlength="2000"></label><button>Send</button></form>
<script src="/app.js" type="module"></script>
</body>
</html>`;

const script = `const $ = (id) => document.getElementById(id);
let ws;
const members = new Map();
function line(text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  $("log").append(li);
  li.scrollIntoView({ block: "end" });
}
function showMembers() {
  $("members").replaceChildren(...[...members.values()].map((u) => {
    const li = document.createElement("li");
    li.textContent = u.name;
    return li;
  }));
}
function show(m) {
  line(new Date(m.ts).toLocaleTimeString() + " " + m.from.name + ": " + m.text);
}
$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  ws?.close(1000);
  $("log").replaceChildren();
  const room = $("room").value;
  const q = new URLSearchParams();
  if ($("name").value.trim()) q.set("name", $("name").value);
  const token = localStorage.getItem("parley:" + room);
  if (token) q.set("token", token);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(proto + "//" + location.host + "/rooms/" + encodeURIComponent(room) + "/ws?" + q, "parley.v1");
  $("status").textContent = "connecting";
  ws.onopen = () => ($("status").textContent = "live");
  ws.onclose = (e) => ($("status").textContent = "closed " + e.code + (e.reason ? " " + e.reason : ""));
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.type === "welcome") {
      localStorage.setItem("parley:" + room, f.token);
      members.clear();
      for (const u of f.members) members.set(u.id, u);
      showMembers();
      f.messages.forEach(show);
    } else if (f.type === "message") show(f);
    else if (f.type === "joined") { members.set(f.user.id, f.user); showMembers(); line(f.user.name + " joined", "meta"); }
    else if (f.type === "left") { members.delete(f.user.id); showMembers(); line(f.user.name + " left", "meta"); }
    else if (f.type === "renamed") { members.set(f.user.id, f.user); showMembers(); line(f.from + " is now " + f.user.name, "meta"); }
    else if (f.type === "error") line("error: " + f.message, "meta");
  };
});
$("say").addEventListener("submit", (e) => {
  e.preventDefault();
  if (ws?.readyState === 1 && $("text").value.trim()) {
    ws.send(JSON.stringify({ type: "say", text: $("text").value }));
    $("text").value = "";
  }
});
`;

const style = `body{font:16px/1.4 system-ui,sans-serif;max-width:48rem;margin:0 auto;padding:1rem}
header{display:flex;justify-content:space-between;align-items:baseline}
#log{list-style:none;padding:0;min-height:50vh;overflow-wrap:anywhere}
.meta{color:#666;font-style:italic}
#members{display:flex;gap:.5rem;list-style:none;padding:0;color:#246}
form{display:flex;gap:.5rem;flex-wrap:wrap;align-items:end}
input{font:inherit;padding:.3rem}
#say input{flex:1}
`;

/** The page's HTML, script and stylesheet, served at `/`, `/app.js` and `/app.css`. */
export const page = { html, script, style };
