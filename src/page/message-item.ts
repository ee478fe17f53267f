/**
 * One message as the list shows it: who and when ("edited" beside the time), the quote of the message it
 * replies to, its text ("message deleted" once erased), its reactions, and its actions (react, reply,
 * more). Every piece of data goes in as text; the buttons say what they do (aria-label) and carry
 * `data-action` (message-actions.ts handles them all) and `data-key` (focus finds them again after the
 * message is drawn anew).
 */
import type { Message } from "../client/index.ts";
import { h } from "./dom.ts";
import { clock, colorSlot, fullDate, snippet } from "./format.ts";
import { iconButton } from "./icons.ts";
import { menuTrigger } from "./menu.ts";
import { renderReactions } from "./reactions.ts";

const LINK = /\bhttps?:\/\/[^\s<>"']+/g;

/** What drawing a message depends on besides the message: who is reading, and what they may do. */
export interface Viewer {
  /** This user's id. */
  me?: string;
  moderator: boolean;
  /** Whether the connection speaks v2: without it there are no reactions, replies, edits or moderation. */
  v2: boolean;
  /** A user's name by id, when the page has seen it (for who reacted). */
  name(id: string): string | undefined;
  /** The open editor of message `seq`, shown in place of its text. */
  editor(seq: number): HTMLElement | undefined;
}

/** Whether `viewer` may moderate the author of `m` (not themselves, not another moderator). */
function mayModerate(viewer: Viewer, m: Message): boolean {
  return viewer.v2 && viewer.moderator && m.from.id !== viewer.me && m.from.role !== "moderator";
}

/** The list item for `m`; `target` is the message it replies to, when the view holds it. */
export function renderMessage(m: Message, target: Message | undefined, viewer: Viewer): HTMLLIElement {
  const mine = m.from.id === viewer.me;
  const li = h("li", `message${mine ? " mine" : ""}${m.deleted ? " deleted" : ""}`);
  li.dataset.seq = String(m.seq);
  li.dataset.user = m.from.id;
  li.dataset.ts = String(m.ts);
  // Focusable by script only: a quote leads here, and focus lands here when its control went away.
  li.tabIndex = -1;

  const head = h("div", "head");
  head.append(h("span", `author c${colorSlot(m.from.id)}`, m.from.name));
  if (m.from.role === "moderator") {
    const badge = h("span", "badge", "mod");
    badge.title = "Moderator";
    head.append(badge);
  }
  li.append(head, stamp(m));
  if (m.replyTo !== undefined && !m.deleted) li.append(quote(m.replyTo, target));
  const editor = mine && !m.deleted ? viewer.editor(m.seq) : undefined;
  if (editor) li.append(editor);
  else if (m.deleted) li.append(h("p", "text gone", "message deleted"));
  else {
    const text = h("p", "text");
    linkify(text, m.text);
    li.append(text);
  }
  const reactions = m.deleted ? undefined : renderReactions(m, viewer);
  if (reactions) li.append(reactions);
  const actions = editor ? undefined : renderActions(m, viewer, mine);
  if (actions) li.append(actions);
  return li;
}

/** The time, with "edited" before it once the text changed. */
function stamp(m: Message): HTMLElement {
  const stamp = h("span", "stamp");
  if (m.edited !== undefined && !m.deleted) {
    const edited = h("span", "edited", "edited");
    edited.title = `Edited ${fullDate(m.edited)}`;
    stamp.append(edited, " · ");
  }
  const time = h("time", "time", clock(m.ts));
  time.dateTime = new Date(m.ts).toISOString();
  time.title = fullDate(m.ts);
  stamp.append(time);
  return stamp;
}

/** The quote of the message replied to: a button that leads to it when it is shown, else a plain line. */
function quote(seq: number, target: Message | undefined): HTMLElement {
  const who = target ? target.from.name : "an earlier message";
  const what = !target ? "" : target.deleted ? "message deleted" : snippet(target.text);
  const box = h(target ? "button" : "div", target ? `quote c${colorSlot(target.from.id)}` : "quote");
  box.dataset.replyTo = String(seq);
  if (target) {
    box.setAttribute("type", "button");
    box.dataset.action = "quote";
    box.dataset.key = "quote";
    box.setAttribute("aria-label", `In reply to ${who}: ${what}. Show that message.`);
    box.title = "Show the message this replies to";
  }
  box.append(h("span", "quote-author", who));
  if (what) box.append(h("span", target?.deleted ? "quote-text gone" : "quote-text", what));
  return box;
}

/** React, reply and "more" for a message; undefined when there is nothing to do with it. */
function renderActions(m: Message, viewer: Viewer, mine: boolean): HTMLElement | undefined {
  if (!viewer.v2) return undefined;
  const buttons: HTMLButtonElement[] = [];
  const of = mine ? "your message" : `${m.from.name}'s message`;
  if (!m.deleted) {
    buttons.push(action(menuTrigger(iconButton("react", `React to ${of}`)), "react"));
    buttons.push(action(iconButton("reply", `Reply to ${of}`), "reply"));
  }
  const more = (mine && !m.deleted) || mayModerate(viewer, m);
  if (more) buttons.push(action(menuTrigger(iconButton("more", `More actions for ${of}`)), "more"));
  if (buttons.length === 0) return undefined;
  const group = h("div", "actions");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", `Actions for ${of}`);
  group.append(...buttons);
  return group;
}

function action(button: HTMLButtonElement, name: string): HTMLButtonElement {
  button.dataset.action = name;
  button.dataset.key = name;
  return button;
}

/**
 * Fill `into` with `text`, web addresses as links. Every piece is a text node or a link's textContent,
 * so the element's textContent is exactly `text`, and only http(s) addresses ever become an href.
 */
export function linkify(into: HTMLElement, text: string): void {
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    // Sentence punctuation after an address is almost never part of it.
    const url = match[0].replace(/[.,;:!?)\]}'"]+$/, "");
    const start = match.index ?? 0;
    if (start > last) into.append(text.slice(last, start));
    const a = h("a", undefined, url);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    into.append(a);
    last = start + url.length;
  }
  if (last < text.length) into.append(text.slice(last));
}
