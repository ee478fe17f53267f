/**
 * Reactions: the counts under a message (a toggle button per emoji, pressed when this user gave it, its
 * tooltip and label naming who reacted) and the picker of common emoji. Choosing an emoji this user gave
 * already takes it back, from the picker or from its count alike.
 */
import type { Message } from "../client/index.ts";
import { h } from "./dom.ts";
import { namesText, REACTIONS } from "./format.ts";
import { type MenuOptions, openMenu } from "./menu.ts";
import type { Viewer } from "./message-item.ts";
import { explain, showError } from "./notices.ts";
import { currentSession, type Session } from "./session.ts";

/** The counts under `m`, one toggle per emoji; undefined when nobody reacted. */
export function renderReactions(m: Message, viewer: Viewer): HTMLElement | undefined {
  const entries = Object.entries(m.reactions ?? {}).filter(([, users]) => users.length > 0);
  if (entries.length === 0) return undefined;
  const row = h("div", "reactions");
  for (const [emoji, users] of entries) {
    const mine = viewer.me !== undefined && users.includes(viewer.me);
    const who = namesText(users.map((id) => (id === viewer.me ? "you" : (viewer.name(id) ?? "someone"))));
    const chip = h("button", mine ? "reaction mine" : "reaction");
    chip.type = "button";
    chip.dataset.action = "reaction";
    chip.dataset.emoji = emoji;
    chip.dataset.key = `reaction:${emoji}`;
    chip.setAttribute("aria-pressed", String(mine));
    chip.disabled = !viewer.v2;
    chip.title = `${capital(who)} reacted with ${emoji}`;
    const count = users.length === 1 ? "1 reaction" : `${users.length} reactions`;
    const hint = mine ? "press to take yours back" : "press to add yours";
    chip.setAttribute("aria-label", `${emoji} ${count}, from ${who}; ${hint}`);
    chip.append(h("span", "reaction-emoji", emoji), h("span", "reaction-count", String(users.length)));
    row.append(chip);
  }
  return row;
}

/** Open the picker for `m` under `trigger`. */
export function pickReaction(s: Session, m: Message, trigger: HTMLElement, options: Pick<MenuOptions, "findTrigger">) {
  const me = s.client.me?.id;
  const items = REACTIONS.map(({ emoji, name }) => {
    const given = me !== undefined && (m.reactions?.[emoji] ?? []).includes(me);
    return {
      text: emoji,
      label: given ? `Take back your ${name} reaction` : `React with ${name}`,
      checked: given,
      run: () => toggleReaction(s, m.seq, emoji),
    };
  });
  openMenu(trigger, items, { ...options, label: "Reactions", className: "picker" });
}

/** Give `emoji` to message `seq`, or take it back if this user gave it already. */
export function toggleReaction(s: Session, seq: number, emoji: string): void {
  // The message as it stands now: the menu may have been open while others reacted.
  const m = s.client.messages.get(seq);
  const me = s.client.me?.id;
  if (!m || m.deleted || me === undefined) return;
  const on = !(m.reactions?.[emoji] ?? []).includes(me);
  s.client.react(seq, emoji, on).catch((err: unknown) => {
    if (currentSession() === s) showError(explain(err));
  });
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
