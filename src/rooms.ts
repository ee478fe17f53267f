/**
 * Where rooms live. `RoomService` is what the app talks to; `Rooms` holds every room of one process
 * (Node, Deno, Bun). On Workers each Durable Object holds its one room behind the same interface.
 */
import type { Identity } from "./auth.ts";
import type { Config } from "./config.ts";
import { randomHex } from "./ids.ts";
import { AddressSlots, type Slot } from "./limits.ts";
import type { Later } from "./presence.ts";
import { CLOSE, type MessagePage, NAME_MAX, PAGE_MAX_BYTES, type RoomInfo } from "./protocol/index.ts";
import { API_USER, type Defer, type JoinRequest, type Publish, Room } from "./room.ts";
import type { Connection } from "./session.ts";
import { fitFirst } from "./store/log.ts";
import type { EntryPage, Store } from "./store/store.ts";

/** The app's view of the rooms: joining, frames, leaving, and the HTTP reads. */
export interface RoomService {
  /** Open connections from one address group (for the plain-GET mirror of the cap check). */
  connectionsFrom(group: string): number;
  /** Take a connection slot for an upgrade from `group`, or undefined when the group is at its cap. */
  takeSlot(group: string): Slot | undefined;
  /**
   * The room's own part of the access step: a banned user (`403 banned`), or an anonymous request with
   * a signed user's reconnect token (`401`). Undefined when the join may go ahead.
   */
  admission(room: string, who: Admission): Refused | undefined;
  /** Join a connection to a room; its slot counts from now on, or is given back if the join is refused. */
  join(room: string, conn: Connection, req: JoinRequest, slot?: Slot): void;
  receive(conn: Connection, data: unknown): void;
  leave(conn: Connection): void;
  info(room: string): RoomInfo;
  history(room: string, limit: number, before?: number): MessagePage;
  /** The backend API (PROTOCOL-v2 section 4), each op an entry like any other, committed before it answers. */
  api(room: string, op: ApiOp): ApiAnswer;
  /** Raw entries with `seq > after`, oldest first, cut at PAGE_MAX_BYTES at the newest end. */
  entries(room: string, after: number, limit: number): EntryPage;
}

/** What the backend asks of a room. */
export type ApiOp =
  | { op: "post"; text: string; from: { name: string; sub?: string }; ref?: string; replyTo?: number }
  | { op: "delete"; seq: number }
  | {
      op: "moderate";
      action: "kick" | "ban" | "unban" | "mute" | "unmute";
      user?: string;
      sub?: string;
      minutes?: number;
      reason?: string;
    };

/** The API's answer: a status and a body, or a refusal with its code. */
export type ApiAnswer = { status: 200 | 201; body: object } | { status: 403 | 404; code: string; message: string };

/** Who asks to join: a signed identity, or an anonymous reconnect token, and where from. */
export interface Admission {
  identity?: Identity;
  token?: string;
  group: string;
}

/** A refusal with its HTTP status and code. */
export interface Refused {
  status: 401 | 403;
  code: "unauthorized" | "banned";
  message: string;
}

export interface RoomsOptions {
  /**
   * Count a group's open connections from the platform instead of in memory (a Durable Object counts
   * its sockets by tag, which survives hibernation, and takes a socket in the same turn as its check).
   */
  connectionsFrom?: (group: string) => number;
  /**
   * When a room commits the says it took in: the process host passes `setImmediate`, so the says of
   * every socket read in one turn of the event loop share one commit. Default: each at once.
   */
  defer?: Defer;
  /** The runtime's native publish, when it has one; rooms then broadcast to all with it (Bun). */
  publish?: Publish;
  /** A guest who never posted went away at `at` (a Durable Object sets its alarm for them). */
  guestAway?: (at: number) => void;
  /** After each commit in a room: it has entries for its webhook deliveries. */
  committed?: (room: string) => void;
  /** The host's timer, for a big room's `presence` frames (src/presence.ts). */
  later?: Later;
}

// A Durable Object's count is its sockets', and a socket is taken in the same turn as the check.
const COUNTED_BY_PLATFORM: Slot = { claim: () => {}, release: () => {} };

/**
 * Every room of one process (Node, Deno, Bun) or of one Durable Object. A room with no members leaves
 * memory; its state stays in the store.
 */
export class Rooms implements RoomService {
  private readonly rooms = new Map<string, Room>();
  private readonly slots = new AddressSlots();
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly options: RoomsOptions = {},
  ) {}

  connectionsFrom(group: string): number {
    return this.options.connectionsFrom?.(group) ?? this.slots.count(group);
  }

  takeSlot(group: string): Slot | undefined {
    const cap = this.config.maxConnectionsPerIp;
    if (!this.options.connectionsFrom) return this.slots.take(group, cap);
    return cap > 0 && this.options.connectionsFrom(group) >= cap ? undefined : COUNTED_BY_PLATFORM;
  }

  admission(room: string, who: Admission): Refused | undefined {
    const banned: Refused = { status: 403, code: "banned", message: "you are banned from this room" };
    const now = Date.now();
    if (who.identity) {
      const uid = this.store.userBySub(room, who.identity.sub)?.id;
      return uid !== undefined && this.store.banned(room, now, { uid }) ? banned : undefined;
    }
    const stored = who.token ? this.store.userByToken(room, who.token) : undefined;
    if (stored?.sub !== undefined) {
      return { status: 401, code: "unauthorized", message: "this reconnect token belongs to a signed user" };
    }
    return this.store.banned(room, now, { uid: stored?.id, group: who.group }) ? banned : undefined;
  }

  join(name: string, conn: Connection, req: JoinRequest, slot?: Slot): void {
    // A socket that connects after the shutdown began gets what every other socket got, before any
    // welcome. Admitted, it would hold the shutdown's wait up to the grace period and then talk to a
    // closed store (found by tests/reliability/limits.ts: Deno and Bun keep accepting meanwhile, and
    // clients reconnect at once on 1001).
    if (this.closing) {
      slot?.release();
      conn.close(CLOSE.goingAway, "server shutting down");
      return;
    }
    // A join without a slot (tests, a caller that checked nothing) takes one now, past any cap.
    const held = slot ?? this.slots.take(req.group, 0);
    const room = this.open(name);
    // Random connection ids stay unique across a Durable Object's hibernation, where a counter would not.
    if (room.join(conn, req, randomHex(8))) held?.claim();
    else {
      held?.release();
      if (room.size === 0) this.rooms.delete(name);
    }
  }

  /** Re-admit a connection that outlived this host's memory (a woken Durable Object), from its record. */
  restore(conn: Connection): void {
    const record = conn.load();
    if (!record) return;
    this.open(record.room).restore(conn);
    this.slots.take(record.group, 0)?.claim();
  }

  private open(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      const { defer, publish, guestAway, committed, later } = this.options;
      room = new Room(name, { store: this.store, config: this.config, defer, publish, guestAway, committed, later });
      this.rooms.set(name, room);
    }
    return room;
  }

  receive(conn: Connection, data: unknown): void {
    const record = conn.load();
    if (record) this.rooms.get(record.room)?.receive(conn, data);
  }

  leave(conn: Connection): void {
    const record = conn.load();
    const room = record && this.rooms.get(record.room);
    if (!record || !room?.leave(conn)) return;
    this.slots.free(record.group);
    if (room.size === 0) this.rooms.delete(record.room);
  }

  info(name: string): RoomInfo {
    const room = this.rooms.get(name);
    if (room) return room.info();
    // A read writes nothing: an unused room reads as seq 0, with the epoch it will get.
    const meta = this.store.peek(name);
    return { room: name, epoch: meta.epoch, seq: meta.seq, members: [] };
  }

  history(name: string, limit: number, before?: number): MessagePage {
    return this.store.history(name, limit, before, PAGE_MAX_BYTES - 64);
  }

  api(name: string, op: ApiOp): ApiAnswer {
    const room = this.open(name);
    try {
      return this.apiOn(room, name, op);
    } finally {
      // A room the API woke with nobody in it leaves memory again; its state is in the store.
      if (room.size === 0) this.rooms.delete(name);
    }
  }

  private apiOn(room: Room, name: string, op: ApiOp): ApiAnswer {
    const answer = (result: number | undefined | { code: string; message: string }, created = false): ApiAnswer => {
      if (typeof result === "object") {
        return { status: result.code === "forbidden" ? 403 : 404, code: result.code, message: result.message };
      }
      return { status: created ? 201 : 200, body: result === undefined ? {} : { seq: result } };
    };
    switch (op.op) {
      case "post": {
        // A bot user's id cannot collide with a person's: a person's id is a number.
        const by = { id: `bot:${op.from.sub ?? op.from.name}`, name: op.from.name, bot: true as const };
        return answer(room.api.post(by, op.text, op.ref, op.replyTo), true);
      }
      case "delete":
        return answer(room.api.apply((rules) => rules.delete(API_USER, op.seq)));
      case "moderate": {
        // A `sub` that never joined gets its user id now, so that a ban can come first.
        const uid =
          op.user ??
          (
            this.store.userBySub(name, op.sub as string) ??
            this.store.createUser(name, () => (op.sub as string).slice(0, NAME_MAX), randomHex(), op.sub)
          ).id;
        const action = op.action;
        return answer(
          room.api.apply((rules, now) =>
            rules.moderate(API_USER, action, uid, now, { minutes: op.minutes, reason: op.reason }),
          ),
        );
      }
    }
  }

  entries(name: string, after: number, limit: number): EntryPage {
    this.rooms.get(name)?.info();
    const rows = this.store.entriesAfter(name, after, limit + 1);
    let more = rows.length > limit;
    if (more) rows.pop();
    // A page that reads forwards is cut at its newest end, so a follower misses nothing.
    const kept = fitFirst(rows, PAGE_MAX_BYTES - 64);
    if (kept < rows.length) more = true;
    return { entries: rows.slice(0, kept), more };
  }

  /** Forget the guests whose TTL ran out by `now`; returns how many went. */
  forgetGuests(now: number): number {
    return this.store.forgetGuests(now - this.config.guestTtlMs);
  }

  /** Rooms held in memory now (for tests, health and metrics). */
  get active(): number {
    return this.rooms.size;
  }

  /** Open connections in every room. */
  get connections(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.size;
    return n;
  }

  /** Users in every room (a user counts once per room they are in). */
  get users(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.userCount;
    return n;
  }

  /** Close every socket with 1001 so clients know to resume elsewhere or later. */
  shutdown(): void {
    this.closing = true;
    for (const room of this.rooms.values()) room.closeAll(CLOSE.goingAway, "server shutting down");
  }
}
