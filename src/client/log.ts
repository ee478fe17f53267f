/**
 * The room log as this client reads it: each entry applied once, in `seq` order, whether it came live,
 * in a resume's replay or from a paged gap. An entry at or below the last `seq` applied is a repeat (a
 * replay of what was seen live, a late frame from a socket given up on) and is dropped; a new one is
 * folded into the view, settles this user's own call by its ref (its ack may have been lost with the
 * connection), and is emitted: by its kind (a `message` without v2's `by`, which repeats `from`, so that
 * the `message` event and the view's messages have one shape, v1's and the folded pages'), as `entry`
 * (as received), and as a `change` of the view.
 */
import type { Entry, Message, User } from "../protocol/index.ts";
import type { RoomView } from "./fold.ts";
import type { Outbox } from "./outbox.ts";
import type { ClientEvents } from "./types.ts";

/** What the reader sees of the client: where it stands in the log, and who it is. */
interface Position {
  seq: number;
  me?: User;
}

type Emit = <K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]) => void;

/** Applies entries to the view exactly once. */
export class LogReader {
  constructor(
    private readonly at: Position,
    private readonly view: RoomView,
    private readonly outbox: Outbox,
    private readonly emit: Emit,
  ) {}

  /** Apply one entry, unless its `seq` was passed already. */
  apply(e: Message | Entry): void {
    if (e.seq <= this.at.seq) return;
    this.at.seq = e.seq;
    // Our own entry, committed: a resend after a reconnect would make it twice.
    const by = e.type === "message" ? e.from : e.by;
    if (e.ref && by && by.id === this.at.me?.id) this.outbox.settle(e.ref, { type: "ack", ref: e.ref, seq: e.seq });
    // A message as v1 delivers it and as folded pages carry it: `by` (v2) only repeats `from`.
    const kind = e.type === "message" ? withoutBy(e) : e;
    const message = this.view.apply(kind);
    this.emit(e.type, kind as never);
    this.emit("entry", e);
    this.emit("change", { entry: e, message });
  }

  /**
   * A folded page of `history()` arrived: the view takes the messages it lacks, up to the last `seq`
   * applied. Taken as it arrives, in the socket's order, the page is the state after every entry before it.
   */
  page(messages: readonly Message[]): void {
    if (this.view.merge(messages, this.at.seq)) this.emit("change", {});
  }

  /** The room's numbering restarted: the view starts empty. */
  reset(): void {
    this.view.clear();
    this.emit("change", {});
  }
}

function withoutBy(m: Message): Message {
  if (!("by" in m)) return m;
  const { by: _, ...rest } = m;
  return rest;
}
