/**
 * Calls that the server answers by ref (`history`, raw or folded, `members` and `ping`): each waits for its answer,
 * for an error frame with its ref, or for the drop of the connection it was sent on.
 */
import type { ClientFrame, EntriesPage, ErrorFrame, HistoryPage, MembersPage, PongFrame } from "../protocol/index.ts";
import { ParleyError } from "./errors.ts";
import type { Link } from "./link.ts";

/** A frame that answers a request. */
export type Answer = HistoryPage | EntriesPage | PongFrame | MembersPage;

/** One call waiting for its answer. */
interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

/** The requests sent on the current connection and not yet answered, by ref. */
export class Requests {
  private readonly waiters = new Map<string, Waiter<Answer>>();

  constructor(private readonly link: Link) {}

  /**
   * Send `frame(ref)` and wait for its answer; rejects at once with `offline` when no socket is open.
   * `heard` sees the answer as it arrives, before any later frame is handled.
   */
  ask<T extends Answer>(prefix: string, frame: (ref: string) => ClientFrame, heard?: (answer: T) => void): Promise<T> {
    if (!this.link.open) return Promise.reject(new ParleyError("offline", "not connected"));
    const ref = this.link.nextRef(prefix);
    return new Promise<T>((resolve, reject) => {
      const settle = (answer: T) => {
        heard?.(answer);
        resolve(answer);
      };
      this.waiters.set(ref, { resolve: settle, reject } as Waiter<Answer>);
      this.link.send(frame(ref));
    });
  }

  /** Whether `ref` belongs to a request still waiting. */
  has(ref: string | undefined): boolean {
    return !!ref && this.waiters.has(ref);
  }

  /** Resolve the request this frame answers, if any. */
  answer(frame: Answer): void {
    const w = frame.ref ? this.waiters.get(frame.ref) : undefined;
    if (w && frame.ref) {
      this.waiters.delete(frame.ref);
      (w as Waiter<typeof frame>).resolve(frame);
    }
  }

  /** Take an error frame that answers one of these requests; returns whether it did. */
  refuse(e: ErrorFrame): boolean {
    const w = e.ref ? this.waiters.get(e.ref) : undefined;
    if (!w || !e.ref) return false;
    this.waiters.delete(e.ref);
    w.reject(new ParleyError(e.code, e.message, e.retryAfterMs));
    return true;
  }

  /** Reject every waiting request: the connection they were sent on is gone. */
  failAll(why: string): void {
    for (const w of this.waiters.values()) w.reject(new ParleyError("offline", why));
    this.waiters.clear();
  }
}
