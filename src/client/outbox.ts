/**
 * The outbox: frames that make entries (messages said, and v2's edits, reactions, deletions and
 * moderation), not yet acknowledged. They wait here while offline and are sent after each welcome, in the
 * order they were made; a `rate_limited` refusal puts one back to be resent, one at a time, oldest first.
 * The `queue` event and `queued()` list the messages (`say`) among them.
 */
import type { ErrorFrame } from "../protocol/index.ts";
import { needsV2 } from "./calls.ts";
import { ParleyError } from "./errors.ts";
import type { Link } from "./link.ts";
import type { Timer } from "./timers.ts";
import type { Ack, EntryCall, EntryFrame, QueuedMessage } from "./types.ts";

interface Unacked {
  frame: EntryCall;
  resolve: (ack: Ack) => void;
  reject: (err: Error) => void;
  /** Refused with `rate_limited`: waits its turn to be resent. */
  limited?: boolean;
}

/** The frames made and not yet acknowledged, in the order they were made. */
export class Outbox {
  private readonly unacked = new Map<string, Unacked>();
  /** The resent frame in flight: its ack resends the next one. */
  private resending?: string;
  /** The one `rate_limited` resend timer; resends go out one at a time, in the order they were made. */
  private resendTimer?: Timer;

  constructor(
    private readonly link: Link,
    private readonly changed: (queue: QueuedMessage[]) => void,
  ) {}

  /** Queue a frame; it is sent now if live. Resolves with its ack once committed. */
  add(frame: EntryCall): Promise<Ack> {
    if (this.link.live && !this.link.v2 && needsV2(frame)) return Promise.reject(unsupported(frame));
    const ref = this.link.nextRef(frame.type === "say" ? "s" : "e");
    return new Promise<Ack>((resolve, reject) => {
      // Behind a refused frame it waits its turn, so that frames keep the order they were made in.
      const limited = [...this.unacked.values()].some((u) => u.limited);
      this.unacked.set(ref, { frame, resolve, reject, limited });
      if (frame.type === "say") this.changed(this.list());
      if (this.link.live && !limited) this.send(ref);
    });
  }

  /** The messages waiting, oldest first. */
  list(): QueuedMessage[] {
    const says = [...this.unacked].filter(([, u]) => u.frame.type === "say");
    return says.map(([ref, u]) => ({ ref, text: (u.frame as { text: string }).text }));
  }

  /**
   * Send everything after a welcome: a new connection starts with a full rate bucket. On a `parley.v1`
   * connection the frames it cannot carry are rejected instead.
   */
  sendAll(): void {
    for (const [ref, u] of this.unacked) {
      if (!this.link.v2 && needsV2(u.frame)) {
        this.drop(ref, u);
        u.reject(unsupported(u.frame));
        continue;
      }
      u.limited = false;
      this.send(ref);
    }
  }

  /** A frame is committed (its ack, or its own entry seen in a replay). */
  settle(ref: string, ack: Ack): void {
    const u = this.unacked.get(ref);
    if (!u) return;
    this.drop(ref, u);
    u.resolve(ack);
    if (this.resending === ref) {
      this.resending = undefined;
      this.resendNext();
    }
  }

  /** Take an error frame that answers one of these frames; returns whether it did. */
  refuse(e: ErrorFrame): boolean {
    const u = e.ref ? this.unacked.get(e.ref) : undefined;
    if (!u || !e.ref) return false;
    if (e.code === "rate_limited") {
      // The frame is fine, the pace was not: send it again when the bucket has a token. Resends go
      // one at a time, oldest first: sent together, all but one would be refused again (each refusal is
      // a strike towards a 1008 close), and a refused frame must not fall behind later ones.
      u.limited = true;
      if (this.resending === e.ref) this.resending = undefined;
      if (!this.resendTimer?.active)
        this.resendTimer = this.link.timers.after(e.retryAfterMs ?? 1000, () => this.resendNext());
      return true;
    }
    // Anything else (`muted` included) is the answer: the frame made no entry and is not sent again.
    this.drop(e.ref, u);
    u.reject(new ParleyError(e.code, e.message, e.retryAfterMs));
    return true;
  }

  /** The socket dropped: no resend is due until the next welcome sends everything. */
  dropped(): void {
    this.resendTimer?.cancel();
    this.resendTimer = undefined;
    this.resending = undefined;
  }

  /** Reject every frame: the client stopped and will never send them. */
  failAll(reason: string): void {
    this.dropped();
    for (const [ref, u] of this.unacked) {
      u.reject(new ParleyError("stopped", `not sent: ${reason}`));
      this.unacked.delete(ref);
    }
  }

  /** Resend the first refused frame; its ack resends the next, a refusal waits `retryAfterMs`. */
  private resendNext() {
    this.resendTimer = undefined;
    if (!this.link.live || this.resending) return;
    const next = [...this.unacked].find(([, u]) => u.limited);
    if (!next) return;
    next[1].limited = false;
    this.resending = next[0];
    this.send(next[0]);
  }

  private drop(ref: string, u: Unacked) {
    this.unacked.delete(ref);
    if (u.frame.type === "say") this.changed(this.list());
  }

  private send(ref: string) {
    const u = this.unacked.get(ref);
    if (u) this.link.send({ ...u.frame, ref } as EntryFrame);
  }
}

function unsupported(frame: EntryCall): ParleyError {
  const what = frame.type === "say" ? "a reply" : `"${frame.type}"`;
  return new ParleyError("unsupported", `${what} needs parley.v2; the server speaks parley.v1`);
}
