/**
 * The message list: the client's folded view of the room drawn as it now stands (each message drawn
 * again when it changes: an edit, a deletion, a reaction, the message it quotes), the moderation lines
 * between them, the pending (queued) messages after them, and the view kept pinned to the bottom only
 * when the reader was already there.
 */
import type { Message, ModeratedEntry, QueuedMessage } from "../client/index.ts";
import { h } from "./dom.ts";
import { clock, fullDate, moderationText } from "./format.ts";
import { icon } from "./icons.ts";
import { followTrigger } from "./menu.ts";
import { linkify, renderMessage, type Viewer } from "./message-item.ts";

/** Consecutive messages by one person within this span share one header. */
const GROUP_MS = 5 * 60_000;
/** A reader this close to the end counts as "at the bottom" (sub-pixel layouts never reach 0). */
const NEAR_BOTTOM_PX = 48;

/** A message as last drawn, and what it was drawn from. */
interface Drawn {
  li: HTMLLIElement;
  m: Message;
  target?: Message;
  key: string;
}

/** Owns #messages, #older and #jump; timeline.ts holds the one instance and draws the client's view with it. */
export class MessageView {
  private readonly drawn = new Map<number, Drawn>();
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

  /** Forget every message and line, for a new room or a new epoch. */
  clear(): void {
    this.list.replaceChildren();
    this.drawn.clear();
    this.pending.clear();
    this.stuck = true;
    this.jump.hidden = true;
    this.setMore(false);
  }

  /** How many committed messages are shown. */
  count(): number {
    return this.drawn.size;
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

  /** The drawn message `seq`, if shown. */
  item(seq: number): HTMLLIElement | undefined {
    return this.drawn.get(seq)?.li;
  }

  /**
   * Draw `messages` (the client's folded view, in seq order): the new ones in their place, the changed
   * ones again where they are, part by part (a change is seen by identity: the view replaces a message
   * on each change), those no longer there removed. `base` names what else the drawing depends on (who
   * reads, their role, the names known); a change of it draws every message again. Returns the messages
   * drawn for the first time.
   */
  sync(messages: ReadonlyMap<number, Message>, viewer: Viewer, base: string): Message[] {
    const pinned = this.atBottom();
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop;
    const focus = this.focused();
    const newest = this.newestSeq();
    const added: Message[] = [];
    let above = false;
    for (const m of messages.values()) {
      const target = m.replyTo === undefined ? undefined : messages.get(m.replyTo);
      const key = viewer.editor(m.seq) ? `${base}|editing` : base;
      const old = this.drawn.get(m.seq);
      if (old && old.m === m && old.target === target && old.key === key) continue;
      let li = renderMessage(m, target, viewer);
      if (old) li = patch(old.li, li);
      else {
        this.insert(li, m.seq);
        added.push(m);
        if (newest !== undefined && m.seq < newest) above = true;
      }
      this.drawn.set(m.seq, { li, m, target, key });
      regroup(li);
      regroup(li.nextElementSibling);
    }
    for (const [seq, d] of this.drawn) {
      if (messages.has(seq)) continue;
      d.li.remove();
      this.drawn.delete(seq);
    }
    if (focus) this.refocus(focus);
    const news = added.filter((m) => newest === undefined || m.seq > newest);
    if (above && !pinned) s.scrollTop = s.scrollHeight - fromBottom;
    else if (pinned || news.some((m) => m.from.id === viewer.me)) this.toBottom();
    else if (news.length > 0) this.jump.hidden = false;
    followTrigger();
    return added;
  }

  /** Add the timeline's line for a moderation entry, in its place by seq (once). */
  addModeration(e: ModeratedEntry): void {
    if (this.list.querySelector(`li.system[data-seq="${e.seq}"]`)) return;
    const pinned = this.atBottom();
    const li = h("li", `system ${e.action}`);
    li.dataset.seq = String(e.seq);
    const time = h("time", "time", clock(e.ts));
    time.dateTime = new Date(e.ts).toISOString();
    time.title = fullDate(e.ts);
    li.append(icon("shield"), h("span", "system-text", moderationText(e)), time);
    this.insert(li, e.seq);
    regroup(li.nextElementSibling);
    if (pinned) this.toBottom();
  }

  /** Scroll a message into view and mark it for a moment (a reply's quote leads to it). */
  reveal(seq: number): boolean {
    const li = this.item(seq);
    if (!li) return false;
    li.scrollIntoView({
      block: "center",
      behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth",
    });
    li.classList.remove("flash");
    // Restart the animation: reading offsetWidth makes the removal take effect first.
    void li.offsetWidth;
    li.classList.add("flash");
    li.focus({ preventScroll: true });
    return true;
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
        const text = h("p", "text");
        linkify(text, q.text);
        li.append(h("span", "author", author), text, h("span", "state"));
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

  private newestSeq(): number | undefined {
    let newest: number | undefined;
    for (const seq of this.drawn.keys()) if (newest === undefined || seq > newest) newest = seq;
    return newest;
  }

  /** Put `li` before the first pending message, or before the first line with a higher seq. */
  private insert(li: HTMLLIElement, seq: number) {
    let before = this.firstPending();
    let prev = before ? before.previousElementSibling : this.list.lastElementChild;
    while (prev instanceof HTMLElement && Number(prev.dataset.seq) > seq) {
      before = prev;
      prev = prev.previousElementSibling;
    }
    this.list.insertBefore(li, before);
  }

  /** Where focus is inside a drawn message: which message, which control, and a text field's selection. */
  private focused(): Focus | undefined {
    const active = document.activeElement;
    if (!(active instanceof HTMLElement) || !this.list.contains(active)) return undefined;
    const li = active.closest<HTMLElement>("li.message");
    if (!li) return undefined;
    const field = active instanceof HTMLTextAreaElement ? active : undefined;
    return {
      seq: Number(li.dataset.seq),
      key: active.dataset.key,
      selection: field ? [field.selectionStart, field.selectionEnd] : undefined,
    };
  }

  /** Put focus back after a message was drawn again: on the same control, else its react button, else itself. */
  private refocus(f: Focus) {
    const li = this.item(f.seq);
    if (!li || li.contains(document.activeElement)) return;
    const same = f.key ? li.querySelector<HTMLElement>(`[data-key="${CSS.escape(f.key)}"]`) : null;
    const target = same ?? li.querySelector<HTMLElement>('[data-key="react"]') ?? li;
    target.focus({ preventScroll: true });
    if (f.selection && target instanceof HTMLTextAreaElement) target.setSelectionRange(...f.selection);
  }
}

/**
 * Make the drawn `into` show what `from` shows, replacing only the parts that differ (a reaction changes
 * the reactions row and nothing else). The list is aria-live: a screen reader hears what was put in,
 * so a message drawn again whole would be read out again whole. Returns `into`.
 */
function patch(into: HTMLLIElement, from: HTMLLIElement): HTMLLIElement {
  for (const name of ["mine", "deleted"]) into.classList.toggle(name, from.classList.contains(name));
  // Each part of a message has its own first class: head, stamp, quote, text, editor, reactions, actions.
  const had = new Map([...into.children].map((child) => [child.classList[0], child]));
  const want = [...from.children];
  want.forEach((part, i) => {
    const old = had.get(part.classList[0]);
    const use = old?.isEqualNode(part) ? old : part;
    const at = into.children[i];
    if (at !== use) into.insertBefore(use, at ?? null);
  });
  while (into.children.length > want.length) into.lastElementChild?.remove();
  return into;
}

interface Focus {
  seq: number;
  key?: string;
  selection?: [number, number];
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
