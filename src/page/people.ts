/** The member list (#people) and the typing line under the composer. */
import type { User } from "../client/index.ts";
import { byId } from "./dom.ts";
import { colorSlot, initial, TYPING_MS, typingText } from "./format.ts";
import { currentSession } from "./session.ts";

const people = byId("people");
const members = byId<HTMLUListElement>("members");
const memberCount = byId("member-count");
const typingLine = byId("typing");

const typers = new Map<string, { name: string; timer: ReturnType<typeof setTimeout> }>();

/** Reveal the member list, which stays hidden until the page is in a room. */
export function showPeople(): void {
  people.hidden = false;
}

/** Show the room's members, this user marked `me`. */
export function renderMembers(users: User[]): void {
  const me = currentSession()?.client.me?.id;
  members.replaceChildren(
    ...users.map((u) => {
      const li = document.createElement("li");
      li.textContent = u.name;
      li.className = `c${colorSlot(u.id)}${u.id === me ? " me" : ""}`;
      li.dataset.initial = initial(u.name);
      li.title = u.name;
      return li;
    }),
  );
  memberCount.textContent = users.length ? String(users.length) : "";
  // Someone who left is not typing any more.
  const here = new Set(users.map((u) => u.id));
  for (const id of [...typers.keys()]) if (!here.has(id)) stopTyping(id);
}

/** Show `user` as typing until TYPING_MS pass without another notice. */
export function startTyping(user: User): void {
  stopTyping(user.id, false);
  typers.set(user.id, { name: user.name, timer: setTimeout(() => stopTyping(user.id), TYPING_MS) });
  renderTyping();
}

/** Take a user off the typing line (`render` false when more changes follow at once). */
export function stopTyping(id: string, render = true): void {
  const typer = typers.get(id);
  if (!typer) return;
  clearTimeout(typer.timer);
  typers.delete(id);
  if (render) renderTyping();
}

/** Take everyone off the typing line. */
export function clearTyping(): void {
  for (const id of [...typers.keys()]) stopTyping(id, false);
  renderTyping();
}

/** Follow a rename on the typing line. */
export function renameTyper(user: User): void {
  const typer = typers.get(user.id);
  if (typer) typer.name = user.name;
  renderTyping();
}

function renderTyping() {
  typingLine.textContent = typingText([...typers.values()].map((t) => t.name));
}
