/**
 * One connection's state and the seam to its socket.
 *
 * The state is a small serializable record, never a closure: Bun hands out a new WSContext for every
 * event, and a hibernating Durable Object forgets everything but the socket's attachment. So every
 * runtime keeps the record with the socket itself, and the room can be rebuilt from the records alone.
 */
import type { Config } from "./config.ts";
import { log } from "./log.ts";
import { meter } from "./metrics.ts";
import type { User } from "./protocol/index.ts";

/** Per-connection state; JSON-serializable and well under 2 KB. */
export interface SessionRecord {
  /** Connection id, unique within its room host. */
  cid: string;
  room: string;
  uid: string;
  name: string;
  token: string;
  /** The client's address group (src/limits.ts), for the per-group caps. */
  group: string;
  /** Token bucket of accepted frames (v1's rate limit): tokens left at `bucketAt`. */
  bucket: number;
  bucketAt: number;
  /** The frame budget, which every frame takes from: tokens left at `framesAt`. */
  frames: number;
  framesAt: number;
  /** When the last `rate_limited` answer for the frame budget went out (at most one a second). */
  limitedAt: number;
  /** Rejected frames since `strikesAt`, the start of the current strike window. */
  strikes: number;
  strikesAt: number;
  /** When this connection last had a `typing` relayed. */
  typingAt: number;
  /** The protocol the connection speaks: 2 when it offered `parley.v2`. */
  v: 1 | 2;
  /** A signed user's subject, and their role when not a member (PROTOCOL-v2 section 2). */
  sub?: string;
  role?: "moderator";
}

/**
 * Which record fields must outlive a hibernation. A Durable Object writes the record to the socket's
 * attachment only when a `durable` field changed: serializing it for every frame cost more than the
 * rest of a message's path. The `transient` fields change with every frame and need not survive, since
 * a hibernation only comes after some ten seconds without an event: a bucket refills, a strike window
 * and a typing interval pass in that time. A woken room restores them from the last attachment written.
 * Every field must be classified here (the type and tests/unit/session.test.ts fail otherwise), so a
 * field added later cannot be silently lost on Workers only.
 */
export const RECORD_FIELDS = {
  cid: "durable",
  room: "durable",
  uid: "durable",
  name: "durable",
  token: "durable",
  group: "durable",
  bucket: "transient",
  bucketAt: "transient",
  frames: "transient",
  framesAt: "transient",
  limitedAt: "transient",
  strikes: "transient",
  strikesAt: "transient",
  typingAt: "transient",
  v: "durable",
  sub: "durable",
  role: "durable",
} as const satisfies Record<keyof SessionRecord, "durable" | "transient">;

/** The fields a hibernating runtime must persist whenever they change. */
export const DURABLE_FIELDS = (Object.keys(RECORD_FIELDS) as (keyof SessionRecord)[]).filter(
  (k) => RECORD_FIELDS[k] === "durable",
);

/** What the room engine needs of a socket. Each runtime adapter implements it over its own socket. */
export interface Connection {
  send(frame: string): void;
  close(code: number, reason: string): void;
  /** Bytes queued for the client but not yet written, or 0 where the runtime hides it. */
  bufferedAmount(): number;
  /** The session record, or undefined before the connection has joined. */
  load(): SessionRecord | undefined;
  /** Persist a changed record (a no-op where the record lives on the socket object already). */
  save(record: SessionRecord): void;
  /** Receive what is published to `topic`, where the host publishes natively (Bun). */
  subscribe?(topic: string): void;
  /** Whether the server closed it, so that its close event is not counted as the client's. */
  closedByServer?(): boolean;
}

/** A joining connection's record: its buckets full, no strikes yet. */
export function newRecord(
  config: Pick<Config, "rateBurst" | "frameBurst">,
  now: number,
  who: Pick<SessionRecord, "cid" | "room" | "uid" | "name" | "token" | "group" | "v">,
): SessionRecord {
  return {
    ...who,
    bucket: config.rateBurst,
    bucketAt: now,
    frames: config.frameBurst,
    framesAt: now,
    limitedAt: 0,
    strikes: 0,
    strikesAt: 0,
    typingAt: 0,
  };
}

/** The user a record belongs to, as frames carry it. */
export function userOf(record: SessionRecord): User {
  const user: User = { id: record.uid, name: record.name };
  if (record.sub !== undefined) user.sub = record.sub;
  if (record.role !== undefined) user.role = record.role;
  return user;
}

/**
 * Take one token from the record's bucket. Returns 0 when one was taken, else how long until one is
 * there (for `retryAfterMs`).
 */
export function takeToken(record: SessionRecord, now: number, config: Config): number {
  const refill = ((now - record.bucketAt) / 1000) * config.ratePerSec;
  const tokens = Math.min(config.rateBurst, record.bucket + Math.max(0, refill));
  record.bucketAt = now;
  if (tokens >= 1) {
    record.bucket = tokens - 1;
    return 0;
  }
  record.bucket = tokens;
  return Math.ceil(((1 - tokens) / config.ratePerSec) * 1000);
}

/** Count one rejected frame. Returns true when the connection is over its strike limit. */
export function strike(record: SessionRecord, now: number, config: Config): boolean {
  // A fixed window opened by the first strike; it keeps the record to two numbers.
  if (now - record.strikesAt > config.strikeWindowMs) {
    record.strikes = 0;
    record.strikesAt = now;
  }
  record.strikes++;
  return record.strikes > config.maxStrikes;
}

/**
 * The socket operations of one runtime, shared by all its sockets: each takes the socket, so that a
 * connection costs one small object and no closures.
 */
export interface SocketOps<S> {
  send(socket: S, frame: string): void;
  close(socket: S, code: number, reason: string): void;
  bufferedAmount(socket: S): number;
  isOpen(socket: S): boolean;
  subscribe?(socket: S, topic: string): void;
}

class SocketConnection<S> implements Connection {
  private record: SessionRecord | undefined;
  private serverClosed = false;
  constructor(
    private readonly socket: S,
    private readonly ops: SocketOps<S>,
  ) {}
  // Frames for a socket that is already closing are dropped, as the WebSocket API does.
  send(frame: string): void {
    if (this.ops.isOpen(this.socket)) this.ops.send(this.socket, frame);
  }
  close(code: number, reason: string): void {
    if (!this.ops.isOpen(this.socket)) return;
    this.serverClosed = true;
    closedByServer(this.record, code, reason);
    this.ops.close(this.socket, code, reason);
  }
  closedByServer(): boolean {
    return this.serverClosed;
  }
  bufferedAmount(): number {
    return this.ops.bufferedAmount(this.socket);
  }
  load(): SessionRecord | undefined {
    return this.record;
  }
  save(record: SessionRecord): void {
    this.record = record;
  }
  get subscribe(): ((topic: string) => void) | undefined {
    const { subscribe } = this.ops;
    return subscribe && ((topic) => subscribe(this.socket, topic));
  }
}

/** Count and log a close the server makes, with its code and reason. */
export function closedByServer(record: SessionRecord | undefined, code: number, reason: string): void {
  meter.count("closes", { code, reason });
  log.info("closed", { code, reason, room: record?.room, uid: record?.uid, cid: record?.cid });
}

/** Count and log a close the client made (its reason is the client's text, so it is not kept). */
export function closedByClient(conn: Connection, code: number): void {
  if (conn.closedByServer?.()) return;
  meter.count("closes", { code, reason: "client" });
  const r = conn.load();
  log.debug("closed", { code, reason: "client", room: r?.room, uid: r?.uid, cid: r?.cid });
}

/**
 * The connections of one runtime's sockets, each kept with its socket. Keyed by the runtime's own
 * long-lived socket object (never by a WSContext, which Bun makes anew for every event), so a
 * connection and its record live exactly as long as the socket.
 */
export function socketConnections<S extends object>(ops: SocketOps<S>): (socket: S) => Connection {
  const connections = new WeakMap<S, Connection>();
  return (socket) => {
    let conn = connections.get(socket);
    if (!conn) {
      conn = new SocketConnection(socket, ops);
      connections.set(socket, conn);
    }
    return conn;
  };
}
