/**
 * A rename on its way: asked for once, sent again after each welcome until the room has the name, and
 * retried after `rate_limited`. A later rename supersedes it.
 */
import type { ErrorFrame, User } from "../protocol/index.ts";
import { ParleyError } from "./errors.ts";
import type { Link } from "./link.ts";

interface WantedName {
  name: string;
  ref: string;
  resolve: (user: User) => void;
  reject: (err: Error) => void;
}

/** This user's one rename in progress, if any. */
export class Renamer {
  private wanted?: WantedName;

  constructor(private readonly link: Link) {}

  /** The name asked for and not yet confirmed by the room. */
  get name(): string | undefined {
    return this.wanted?.name;
  }

  /** Reject the rename on its way: a later one replaces it. */
  supersede(): void {
    this.wanted?.reject(new ParleyError("superseded", "a later rename replaced this one"));
    this.wanted = undefined;
  }

  /** Ask for `name`, now if live, else after the next welcome; resolves with this user once the room has it. */
  ask(name: string): Promise<User> {
    return new Promise<User>((resolve, reject) => {
      this.wanted = { name, ref: this.link.nextRef("n"), resolve, reject };
      if (this.link.live) this.send();
    });
  }

  /** The room has this user under `user.name` (a `renamed` frame): settles the rename that asked for it. */
  heard(user: User): void {
    if (this.wanted?.name === user.name) this.settle(user);
  }

  /** A welcome: it carries the name the socket opened with, so a rename asked for since goes out now. */
  welcomed(you: User): void {
    if (!this.wanted) return;
    if (this.wanted.name === you.name) this.settle(you);
    else this.send();
  }

  /** Take an error frame that answers the rename; returns whether it did. */
  refuse(e: ErrorFrame): boolean {
    const wanted = this.wanted;
    if (!wanted || e.ref !== wanted.ref) return false;
    if (e.code === "rate_limited") {
      this.link.timers.after(e.retryAfterMs ?? 1000, () => this.wanted === wanted && this.link.live && this.send());
      return true;
    }
    this.wanted = undefined;
    wanted.reject(new ParleyError(e.code, e.message));
    return true;
  }

  /** Reject the rename: the client stopped. */
  fail(reason: string): void {
    this.wanted?.reject(new ParleyError("stopped", `not renamed: ${reason}`));
    this.wanted = undefined;
  }

  private send() {
    const w = this.wanted;
    if (w) this.link.send({ type: "rename", name: w.name, ref: w.ref });
  }

  private settle(user: User) {
    this.wanted?.resolve(user);
    this.wanted = undefined;
  }
}
