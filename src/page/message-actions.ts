/**
 * The controls on the messages, handled in one place for the whole list (a message drawn again has new
 * buttons; the list's listener stays): react (the picker), a reaction's count (give or take back), reply,
 * the quote of a reply (leads to the original), and "More": edit and delete one's own message, and for a
 * moderator delete any message and mute, kick or ban its author.
 */
import type { Message } from "../client/index.ts";
import { ask } from "./dialog.ts";
import { byId } from "./dom.ts";
import { startEdit } from "./edit.ts";
import { type MenuItem, openMenu } from "./menu.ts";
import { mayModerateUser, personItems } from "./moderation.ts";
import { explain, showError } from "./notices.ts";
import { pickReaction, toggleReaction } from "./reactions.ts";
import { startReply } from "./reply.ts";
import { currentSession, type Session } from "./session.ts";
import { view } from "./timeline.ts";

const list = byId<HTMLOListElement>("messages");

/** Find the control `key` of message `seq` again (after the message was drawn anew). */
const finder = (seq: number, key: string) => () =>
  view.item(seq)?.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`);

list.addEventListener("click", (e) => {
  const target = e.target as Element;
  const li = target.closest<HTMLElement>("li.message");
  const button = target.closest<HTMLButtonElement>("button[data-action]");
  if (!li) return;
  if (!button) {
    // A tap on a message shows its actions on screens without hover.
    if (!target.closest("a, textarea, .editor")) showActions(li);
    return;
  }
  const s = currentSession();
  const seq = Number(li.dataset.seq);
  const m = s?.client.messages.get(seq);
  if (!s || !m) return;
  switch (button.dataset.action) {
    case "react":
      return pickReaction(s, m, button, { findTrigger: finder(seq, "react") });
    case "reaction":
      return toggleReaction(s, seq, button.dataset.emoji ?? "");
    case "reply":
      return startReply(s, seq);
    case "more":
      return openMenu(button, moreItems(s, m), { label: "Message actions", findTrigger: finder(seq, "more") });
    case "quote":
      if (m.replyTo !== undefined) view.reveal(m.replyTo);
      return;
  }
});

let shown: HTMLElement | undefined;

function showActions(li: HTMLElement) {
  const again = shown === li;
  shown?.classList.remove("active");
  shown = again ? undefined : li;
  shown?.classList.add("active");
}

/** Edit and delete for one's own message; delete and the author's moderation for a moderator. */
function moreItems(s: Session, m: Message): MenuItem[] {
  const mine = m.from.id === s.client.me?.id;
  const items: MenuItem[] = [];
  if (mine && !m.deleted) items.push({ text: "Edit", run: () => startEdit(s, m.seq) });
  const moderated = mayModerateUser(s, m.from);
  if (!m.deleted && (mine || moderated)) {
    items.push({ text: "Delete…", danger: true, run: () => void remove(s, m) });
  }
  if (moderated) items.push(...personItems(s, m.from, items.length > 0));
  return items;
}

/** Ask, then erase message `m` for everyone. */
async function remove(s: Session, m: Message) {
  const mine = m.from.id === s.client.me?.id;
  const answer = await ask({
    title: "Delete this message?",
    text: mine
      ? "It is erased for everyone, and can't be brought back."
      : `${m.from.name}'s message is erased for everyone, and can't be brought back.`,
    confirm: "Delete",
  });
  if (!answer || currentSession() !== s) return;
  s.client.delete(m.seq).catch((err: unknown) => {
    if (currentSession() === s) showError(explain(err));
  });
}
