/**
 * The folded view of the room: each message as it now stands (its text after the last edit, `edited`,
 * `deleted`, `reactions`, `replyTo`), built by applying the room log's entries in `seq` order. The
 * connection applies each entry once (it drops any `seq` it has passed), so the view sees every entry
 * exactly once, live, on resume and from a paged gap alike.
 *
 * Applying an entry is idempotent per key (a message's text, its deletion, one user's one emoji), so a
 * folded snapshot taken at any point and then the entries after an earlier point end in the same state:
 * that is why a folded page (a fresh welcome, `history`) can seed the view while entries are still
 * arriving. A message is replaced by a new object on each change, so a renderer can compare by identity.
 */
import type { Entry, Message } from "../protocol/index.ts";

/** The room's messages by `seq`, in `seq` order, folded to their current state. */
export class RoomView {
  private map = new Map<number, Message>();

  /** The messages, oldest first. */
  get messages(): ReadonlyMap<number, Message> {
    return this.map;
  }

  /**
   * Apply one entry that the view has not seen (the caller checks its `seq`). Returns the message it
   * made or changed, as it now stands; undefined when it is about no message the view holds (a
   * `moderated` entry, or a message older than the view).
   */
  apply(e: Message | Entry): Message | undefined {
    if (e.type === "message") {
      const m = { ...e };
      this.map.set(e.seq, m);
      return m;
    }
    if (e.type === "moderated") return undefined;
    const old = this.map.get(e.target);
    if (!old) return undefined;
    // Erased stays erased: an older entry replayed after a folded page that had the deletion changes nothing.
    if (old.deleted) return old;
    let m: Message;
    switch (e.type) {
      case "edited":
        m = { ...old, text: e.text, edited: e.ts };
        break;
      case "deleted": {
        // As the server folds it: nothing of the message is left but who said it, when, and to what.
        const { edited: _e, reactions: _r, ...rest } = old;
        m = { ...rest, text: "", deleted: true };
        break;
      }
      case "reacted":
        m = { ...old, reactions: react(old.reactions, e.emoji, e.by.id, e.on !== false) };
        if (!m.reactions) delete m.reactions;
        break;
    }
    this.map.set(e.target, m);
    return m;
  }

  /**
   * Add the messages of a folded page that the view lacks, up to `upTo` (the last `seq` applied: newer
   * ones come through the log). Returns whether any was added.
   */
  merge(page: readonly Message[], upTo: number): boolean {
    const added = page.filter((m) => m.seq <= upTo && !this.map.has(m.seq));
    if (added.length === 0) return false;
    const all = [...this.map.values(), ...added.map((m) => ({ ...m }))].sort((a, b) => a.seq - b.seq);
    this.map = new Map(all.map((m) => [m.seq, m]));
    return true;
  }

  /** Forget everything: the room's numbering restarted. */
  clear(): void {
    this.map = new Map();
  }
}

/** `reactions` with `user` added to (`on`) or removed from `emoji`; undefined when none is left. */
function react(
  reactions: Record<string, string[]> | undefined,
  emoji: string,
  user: string,
  on: boolean,
): Record<string, string[]> | undefined {
  const users = reactions?.[emoji] ?? [];
  if (users.includes(user) === on) return reactions;
  const next = { ...reactions, [emoji]: on ? [...users, user] : users.filter((id) => id !== user) };
  if (next[emoji].length === 0) delete next[emoji];
  return Object.keys(next).length > 0 ? next : undefined;
}
