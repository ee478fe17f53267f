/**
 * The chat page's script (bundled by scripts/build-page.ts). Text is only ever set with textContent.
 */
import { connect, type Message, type ParleyClient } from "../client.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let client: ParleyClient | undefined;

function show(m: Message) {
  const li = document.createElement("li");
  li.className = "message";
  li.dataset.seq = String(m.seq);
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = m.from.name;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = m.text;
  li.append(author, text);
  $("messages").append(li);
}

function join(room: string, name: string) {
  client?.close();
  $("messages").replaceChildren();
  const key = `parley:token:${room}`;
  client = connect(location.origin, {
    room,
    name: name || undefined,
    token: localStorage.getItem(key) ?? undefined,
    onToken: (t) => localStorage.setItem(key, t),
  });
  client.on("state", (s) => {
    $("status").textContent = s.state;
    $("status").dataset.state = s.state;
  });
  client.on("message", show);
  client.on("members", (users) => {
    $("members").replaceChildren(
      ...users.map((u) => {
        const li = document.createElement("li");
        li.textContent = u.name;
        return li;
      }),
    );
  });
}

$<HTMLFormElement>("room-form").addEventListener("submit", (e) => {
  e.preventDefault();
  join($<HTMLInputElement>("room-input").value, $<HTMLInputElement>("name-input").value.trim());
});
$<HTMLFormElement>("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("text");
  if (client && input.value.trim()) {
    void client.say(input.value).catch(() => {});
    input.value = "";
  }
});
