/**
 * Who joined and who left, told to the room. A change costs one send to every member, so in a storm
 * of joins (every client of a restarted server resuming at once) a room of N pays N² sends. v1
 * connections hear each change at once (`joined`, `left`), as the v1 contract says. v2 connections
 * hear them the same way while the room is small; in a big room (at least `largeRoom` users) they get
 * one `presence` frame per `presenceMs` with the net change since the last one, so the room pays N sends
 * per interval however many join, and a join costs the same in a room of 50 as in one of 5000.
 */
import type { Config } from "./config.ts";
import type { Fanout } from "./fanout.ts";
import type { Members } from "./members.ts";
import type { PresenceFrame, User } from "./protocol/index.ts";

/** Run `fn` after `ms` milliseconds (the host's timer; without one, at the end of the turn). */
export type Later = (fn: () => void, ms: number) => void;

/** The presence of one room. */
export class Presence {
  /** The net change per user since the last `presence` frame: joined (with their user) or left. */
  private readonly pending = new Map<string, { joined: boolean; user: User }>();
  private scheduled = false;

  constructor(
    private readonly members: Members,
    private readonly fanout: Fanout,
    private readonly config: Pick<Config, "largeRoom" | "presenceMs">,
    private readonly later: Later,
  ) {}

  /** Whether v2 members hear this change in the next `presence` frame rather than now. */
  private batched(): boolean {
    return this.pending.size > 0 || this.members.userCount >= this.config.largeRoom;
  }

  /** `user` came in with their first connection here (already counted in the members). */
  joined(user: User): void {
    const frame = JSON.stringify({ type: "joined", user });
    if (!this.batched()) return this.fanout.broadcast(frame, user.id);
    this.fanout.toSpeakers(1, frame, user.id);
    // Left and back between two frames: told as joined, which carries the name they came back with.
    this.pending.set(user.id, { joined: true, user });
    this.schedule();
  }

  /** `user`'s last connection here closed (no longer counted in the members). */
  left(user: User): void {
    const frame = JSON.stringify({ type: "left", user });
    if (!this.batched()) return this.fanout.broadcast(frame);
    this.fanout.toSpeakers(1, frame);
    // Joined and gone between two frames: the v2 members never heard of them, so nothing changed.
    if (this.pending.get(user.id)?.joined) this.pending.delete(user.id);
    else this.pending.set(user.id, { joined: false, user });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.pending.size === 0) return;
    this.scheduled = true;
    this.later(() => this.flush(), this.config.presenceMs);
  }

  /** Send the pending changes to the v2 members in one frame. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const frame: PresenceFrame = { type: "presence", joined: [], left: [], count: this.members.userCount };
    for (const { joined, user } of this.pending.values()) (joined ? frame.joined : frame.left).push(user);
    this.pending.clear();
    if (this.members.speaks.v2) this.fanout.toSpeakers(2, JSON.stringify(frame));
  }
}
