/**
 * The message list: rendering messages and pending (queued) ones, paging older ones in at the top,
 * and keeping the view pinned to the bottom only when the reader was already there.
 */
import type { Message, QueuedMessage } from "../client/index.ts";
import { h } from "./dom.ts";
import { clock, colorSlot, fullDate } from "./format.ts";

/** Consecutive messages by one person within this span share one header. */
const GROUP_MS = 5 * 60_000;
/** A reader this close to the end counts as "at the bottom" (sub-pixel layouts never reach 0). */
const NEAR_BOTTOM_PX = 48;
const LINK = /\bhttps?:\/\/[^\s<>"']+/g;

/** Owns #messages, #older and #jump; timeline.ts holds the one instance, joining.ts feeds it client events. */
export class MessageView {
  private readonly pending = new Map<string, HTMLLIElement>();
  /** Whether the reader was at the bottom as of the last scroll; a resize keeps such a reader there. */
  private stuck = true;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly scroller: HTMLElement,
    private readonly older: HTMLButtonElement,
    private readonly jump: HTMLButtonElement,
  ) {
    scroller.addEventListener("scroll", () => {
      this.stuck = this.atBottom();
      if (this.stuck) this.jump.hidden = true;
    });
    // The composer growing, an error line, a phone keyboard: the view shrinks, the newest must stay in it.
    new ResizeObserver(() => {
      if (this.stuck) this.toBottom();
    }).observe(scroller);
    jump.addEventListener("click", () => this.toBottom());
  }

  /** Whether the reader is at (or very near) the newest message. */
  atBottom(): boolean {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  /** Scroll to the newest message. */
  toBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.stuck = true;
    this.jump.hidden = true;
  }

  /** Forget every message, for a new room or a new epoch. */
  clear(): void {
    this.list.replaceChildren();
    this.pending.clear();
    this.stuck = true;
    this.jump.hidden = true;
    this.setMore(false);
  }

  /** How many committed messages are shown. */
  count(): number {
    return this.list.querySelectorAll("li.message").length;
  }

  /** The lowest seq shown, where "Load older messages" continues from. */
  oldestSeq(): number | undefined {
    const first = this.list.querySelector<HTMLElement>("li.message");
    return first ? Number(first.dataset.seq) : undefined;
  }

  /** Show or hide "Load older messages". */
  setMore(more: boolean): void {
    this.older.hidden = !more;
  }

  /** Add a message at the end (pending ones stay last); returns whether the reader saw it arrive. */
  append(m: Message, mine: boolean): boolean {
    const pinned = this.atBottom();
    const li = render(m, mine);
    this.list.insertBefore(li, this.firstPending());
    regroup(li);
    regroup(li.nextElementSibling);
    if (pinned || mine) this.toBottom();
    else this.jump.hidden = false;
    return pinned;
  }

  /** Put a page of older messages above the others, keeping what the reader looks at in place. */
  prepend(messages: Message[], more: boolean, isMine: (m: Message) => boolean): void {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop;
    const first = this.list.firstElementChild;
    const items = messages.map((m) => render(m, isMine(m)));
    this.list.prepend(...items);
    for (const li of items) regroup(li);
    regroup(first);
    this.setMore(more);
    s.scrollTop = s.scrollHeight - fromBottom;
  }

  /** Mirror the client's queue: one li.pending per queued message, in order, after the messages. */
  setPending(queue: QueuedMessage[], author: string, waiting: boolean): void {
    const pinned = this.atBottom();
    const refs = new Set(queue.map((q) => q.ref));
    for (const [ref, li] of this.pending) {
      if (!refs.has(ref)) {
        li.remove();
        this.pending.delete(ref);
      }
    }
    for (const q of queue) {
      let li = this.pending.get(q.ref);
      if (!li) {
        li = h("li", "pending mine");
        li.dataset.ref = q.ref;
        const meta = h("div", "meta");
        meta.append(h("span", "author", author), h("span", "state"));
        const text = h("p", "text");
        linkify(text, q.text);
        li.append(meta, text);
        this.pending.set(q.ref, li);
      }
      // Appending an existing node moves it, which keeps the queue's order.
      this.list.append(li);
      const state = li.querySelector(".state");
      if (state) state.textContent = waiting ? "Waiting for connection…" : "Sending…";
    }
    if (pinned) this.toBottom();
  }

  private firstPending(): Element | null {
    return this.list.querySelector("li.pending");
  }
}

function render(m: Message, mine: boolean): HTMLLIElement {
  const li = h("li", mine ? "message mine" : "message");
  li.dataset.seq = String(m.seq);
  li.dataset.user = m.from.id;
  li.dataset.ts = String(m.ts);
  const meta = h("div", "meta");
  const author = h("span", `author c${colorSlot(m.from.id)}`, m.from.name);
  const time = h("time", "time", clock(m.ts));
  time.dateTime = new Date(m.ts).toISOString();
  time.title = fullDate(m.ts);
  meta.append(author, time);
  const text = h("p", "text");
  linkify(text, m.text);
  li.append(meta, text);
  return li;
}

/** A message continues the one before it when the same person wrote it shortly after. */
function regroup(node: Element | null) {
  if (!(node instanceof HTMLElement) || !node.classList.contains("message")) return;
  const prev = node.previousElementSibling;
  const continues =
    prev instanceof HTMLElement &&
    prev.classList.contains("message") &&
    prev.dataset.user === node.dataset.user &&
    Number(node.dataset.ts) - Number(prev.dataset.ts) < GROUP_MS;
  node.classList.toggle("cont", continues);
}

/**
 * Fill `into` with `text`, web addresses as links. Every piece is a text node or a link's textContent,
 * so the element's textContent is exactly `text`, and only http(s) addresses ever become an href.
 */
function linkify(into: HTMLElement, text: string) {
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
