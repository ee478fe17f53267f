/**
 * The calls that make entries of the room log: `say` (v1, and v2's reply) and v2's edit, delete, react
 * and the moderator's kick, ban, unban and mute. Each is one frame given to the outbox (outbox.ts), which
 * sends it now or after the next welcome, in the order called, and settles it once: by its ack (without
 * `seq` when it changed nothing), by its own entry seen in a replay or a paged gap (a lost ack), or by
 * the error frame with its ref, as a ParleyError with the server's code (`forbidden`, `not_found`,
 * `muted` with `retryAfterMs`, …). Only `rate_limited` is retried by itself.
 *
 * On a `parley.v1` connection (an older server) the v2 calls reject with `unsupported`.
 */
import type { AckFrame } from "../protocol/index.ts";
import { Emitter } from "./emitter.ts";
import type { Ack, BanOptions, ClientEvents, EntryCall, EntryFrame, MessageRef, SayOptions, UserRef } from "./types.ts";

/** The public calls that make entries; the connection sends them (`entry`). */
export abstract class EntryCalls extends Emitter<ClientEvents> {
  /** Queue one frame that makes an entry; resolves with its ack. */
  protected abstract entry(frame: EntryCall): Promise<Ack>;

  /**
   * Post a message, optionally as a reply (v2) to an earlier one. It waits in the queue while offline;
   * resolves with its ack once committed.
   */
  say(text: string, options: SayOptions = {}): Promise<AckFrame> {
    const { replyTo } = options;
    const frame: EntryCall =
      replyTo === undefined ? { type: "say", text } : { type: "say", text, replyTo: seqOf(replyTo) };
    // A message is always an entry: its ack has a `seq`.
    return this.entry(frame) as Promise<AckFrame>;
  }

  /** v2: replace the text of this user's own message (within the server's edit window). */
  edit(target: MessageRef, text: string): Promise<Ack> {
    return this.entry({ type: "edit", target: seqOf(target), text });
  }

  /** v2: erase a message (this user's own; a moderator's, anyone's but another moderator's). */
  delete(target: MessageRef): Promise<Ack> {
    return this.entry({ type: "delete", target: seqOf(target) });
  }

  /** v2: add (`on`, the default) or remove this user's reaction; a change of nothing is acked without `seq`. */
  react(target: MessageRef, emoji: string, on = true): Promise<Ack> {
    return this.entry({ type: "react", target: seqOf(target), emoji, on });
  }

  /** v2, moderators: close every connection of `user` (`1008 kicked`); they may join again. */
  kick(user: UserRef, reason?: string): Promise<Ack> {
    return this.entry({ type: "kick", user: idOf(user), reason });
  }

  /** v2, moderators: close `user`'s connections (`1008 banned`) and refuse their joins, for `minutes` or until `unban`. */
  ban(user: UserRef, options: BanOptions = {}): Promise<Ack> {
    return this.entry({ type: "ban", user: idOf(user), minutes: options.minutes, reason: options.reason });
  }

  /** v2, moderators: end a ban (acked without `seq` if there was none). */
  unban(user: UserRef): Promise<Ack> {
    return this.entry({ type: "unban", user: idOf(user) });
  }

  /** v2, moderators: refuse `user`'s say, edit and react (`muted`) for `minutes`; 0 unmutes. */
  mute(user: UserRef, minutes: number, reason?: string): Promise<Ack> {
    return this.entry({ type: "mute", user: idOf(user), minutes, reason });
  }
}

/** Whether a frame needs a `parley.v2` connection: a `parley.v1` server would drop what it does not know. */
export function needsV2(frame: EntryCall | EntryFrame): boolean {
  return frame.type !== "say" || frame.replyTo !== undefined;
}

const seqOf = (m: MessageRef) => (typeof m === "number" ? m : m.seq);
const idOf = (u: UserRef) => (typeof u === "string" ? u : u.id);
