/**
 * The member list (#people) and the typing line under the composer. A moderator gets a menu on each
 * person they may moderate (mute, kick, ban: moderation.ts).
 */
import type { User } from "../client/index.ts";
import { byId, h } from "./dom.ts";
import { colorSlot, initial, TYPING_MS, typingText } from "./format.ts";
import { iconButton } from "./icons.ts";
import { followTrigger, menuTrigger, openMenu } from "./menu.ts";
import { mayModerateUser, personItems } from "./moderation.ts";
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

/** Show the room's members, this user marked `me`, moderators marked "mod". */
export function renderMembers(users: User[]): void {
  const s = currentSession();
  const me = s?.client.me?.id;
  // A list drawn anew must not drop the focus of someone moderating from it.
  const focused = members.contains(document.activeElement)
    ? document.activeElement?.closest<HTMLElement>("li")?.dataset.user
    : undefined;
  members.replaceChildren(
    ...users.map((u) => {
      const li = h("li", `c${colorSlot(u.id)}${u.id === me ? " me" : ""}`);
      li.dataset.initial = initial(u.name);
      li.dataset.user = u.id;
      li.title = u.name;
      li.append(h("span", "member-name", u.name));
      if (u.role === "moderator") {
        const badge = h("span", "badge", "mod");
        badge.title = "Moderator";
        li.append(badge);
      }
      if (mayModerateUser(s, u)) {
        const button = menuTrigger(iconButton("more", `Moderate ${u.name}`, "icon-button member-menu"));
        button.dataset.key = "moderate";
        li.append(button);
      }
      return li;
    }),
  );
  // A big room's welcome lists its first page of users only (docs/protocol.md, "Big rooms").
  const count = Math.max(users.length, s?.client.memberCount ?? 0);
  if (count > users.length) {
    const more = h("button", "link-button", `and ${count - users.length} more: show everyone`);
    more.type = "button";
    more.addEventListener("click", () => void s?.client.loadMembers().catch(() => {}));
    const li = h("li", "more-members");
    li.append(more);
    members.append(li);
  }
  if (focused !== undefined) memberButton(focused)?.focus({ preventScroll: true });
  followTrigger();
  memberCount.textContent = count ? String(count) : "";
  // Someone who left is not typing any more.
  const here = new Set(users.map((u) => u.id));
  for (const id of [...typers.keys()]) if (!here.has(id)) stopTyping(id);
}

members.addEventListener("click", (e) => {
  const button = (e.target as Element).closest<HTMLButtonElement>("button.member-menu");
  const id = button?.closest<HTMLElement>("li")?.dataset.user;
  const s = currentSession();
  const user = id === undefined ? undefined : s?.client.members.get(id);
  if (!button || !s || !user) return;
  openMenu(button, personItems(s, user), { label: `Moderate ${user.name}`, findTrigger: () => memberButton(user.id) });
});

function memberButton(id: string): HTMLElement | null {
  return members.querySelector<HTMLElement>(`li[data-user="${CSS.escape(id)}"] button.member-menu`);
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
