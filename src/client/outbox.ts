/**
 * The outbox: messages said and not yet acknowledged. They wait here while offline and are sent after
 * each welcome; a `rate_limited` refusal puts one back to be resent, one at a time, oldest first.
 */
import type { AckFrame, ErrorFrame } from "../protocol/index.ts";
import { ParleyError } from "./errors.ts";
import type { Link } from "./link.ts";
import type { Timer } from "./timers.ts";
import type { QueuedMessage } from "./types.ts";

interface Unacked {
  text: string;
  resolve: (ack: AckFrame) => void;
  reject: (err: Error) => void;
  /** Refused with `rate_limited`: waits its turn to be resent. */
  limited?: boolean;
}

/** The messages said and not yet acknowledged, in the order they were said. */
export class Outbox {
  private readonly unacked = new Map<string, Unacked>();
  /** The resent say in flight: its ack resends the next one. */
  private resending?: string;
  /** The one `rate_limited` resend timer; resends go out one at a time, in the order they were said. */
  private resendTimer?: Timer;

  constructor(
    private readonly link: Link,
    private readonly changed: (queue: QueuedMessage[]) => void,
  ) {}

  /** Queue a message; it is sent now if live. Resolves with its ack once committed. */
  add(text: string): Promise<AckFrame> {
    const ref = this.link.nextRef("s");
    return new Promise<AckFrame>((resolve, reject) => {
      // Behind a refused message it waits its turn, so that messages keep the order they were said in.
      const limited = [...this.unacked.values()].some((u) => u.limited);
      this.unacked.set(ref, { text, resolve, reject, limited });
      this.changed(this.list());
      if (this.link.live && !limited) this.send(ref);
    });
  }

  /** The messages waiting, oldest first. */
  list(): QueuedMessage[] {
    return [...this.unacked].map(([ref, u]) => ({ ref, text: u.text }));
  }

  /** Send everything after a welcome: a new connection starts with a full rate bucket. */
  sendAll(): void {
    for (const [ref, u] of this.unacked) {
      u.limited = false;
      this.send(ref);
    }
  }

  /** A message is committed (its ack, or its own message seen in a replay). */
  settle(ref: string, ack: AckFrame): void {
    const u = this.unacked.get(ref);
    if (!u) return;
    this.unacked.delete(ref);
    u.resolve(ack);
    this.changed(this.list());
    if (this.resending === ref) {
      this.resending = undefined;
      this.resendNext();
    }
  }

  /** Take an error frame that answers one of these messages; returns whether it did. */
  refuse(e: ErrorFrame): boolean {
    const u = e.ref ? this.unacked.get(e.ref) : undefined;
    if (!u || !e.ref) return false;
    if (e.code === "rate_limited") {
      // The message is fine, the pace was not: send it again when the bucket has a token. Resends go
      // one at a time, oldest first: sent together, all but one would be refused again (each refusal is
      // a strike towards a 1008 close), and a refused message must not fall behind later ones.
      u.limited = true;
      if (this.resending === e.ref) this.resending = undefined;
      if (!this.resendTimer?.active)
        this.resendTimer = this.link.timers.after(e.retryAfterMs ?? 1000, () => this.resendNext());
      return true;
    }
    this.unacked.delete(e.ref);
    this.changed(this.list());
    u.reject(new ParleyError(e.code, e.message, e.retryAfterMs));
    return true;
  }

  /** The socket dropped: no resend is due until the next welcome sends everything. */
  dropped(): void {
    this.resendTimer?.cancel();
    this.resendTimer = undefined;
    this.resending = undefined;
  }

  /** Reject every message: the client stopped and will never send them. */
  failAll(reason: string): void {
    this.dropped();
    for (const [ref, u] of this.unacked) {
      u.reject(new ParleyError("stopped", `not sent: ${reason}`));
      this.unacked.delete(ref);
    }
  }

  /** Resend the first refused message; its ack resends the next, a refusal waits `retryAfterMs`. */
  private resendNext() {
    this.resendTimer = undefined;
    if (!this.link.live || this.resending) return;
    const next = [...this.unacked].find(([, u]) => u.limited);
    if (!next) return;
    next[1].limited = false;
    this.resending = next[0];
    this.send(next[0]);
  }

  private send(ref: string) {
    const u = this.unacked.get(ref);
    if (u) this.link.send({ type: "say", text: u.text, ref });
  }
}
