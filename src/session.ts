/**
 * One connection's state and the seam to its socket.
 *
 * The state is a small serializable record, never a closure: Bun hands out a new WSContext for every
 * event, and a hibernating Durable Object forgets everything but the socket's attachment. So every
 * runtime keeps the record with the socket itself, and the room can be rebuilt from the records alone.
 */
import type { Config } from "./config.ts";
import type { User } from "./protocol.ts";

/** Per-connection state; JSON-serializable and well under 2 KB. */
export interface SessionRecord {
  /** Connection id, unique within its room host. */
  cid: string;
  room: string;
  uid: string;
  name: string;
  token: string;
  /** Client address, for the per-address cap. */
  ip: string;
  /** Token bucket: tokens left at `bucketAt`. */
  bucket: number;
  bucketAt: number;
  /** Rejected frames since `strikesAt`, the start of the current strike window. */
  strikes: number;
  strikesAt: number;
  /** When this connection last had a `typing` relayed. */
  typingAt: number;
}

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
}

/** The user a record belongs to. */
export function userOf(record: SessionRecord): User {
  return { id: record.uid, name: record.name };
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

/** The socket operations a runtime adapter gives `socketConnection`. */
export interface SocketOps {
  send(frame: string): void;
  close(code: number, reason: string): void;
  bufferedAmount(): number;
  isOpen(): boolean;
  subscribe?(topic: string): void;
}

// Keyed by the runtime's own long-lived socket object (never by a WSContext, which Bun makes anew
// for every event), so the record lives exactly as long as the socket.
const records = new WeakMap<object, SessionRecord>();

/** A Connection whose record is kept for `socket`, a per-socket object that lives as long as the socket. */
export function socketConnection(socket: object, ops: SocketOps): Connection {
  return {
    // Frames for a socket that is already closing are dropped, as the WebSocket API does.
    send: (frame) => ops.isOpen() && ops.send(frame),
    close: (code, reason) => ops.isOpen() && ops.close(code, reason),
    bufferedAmount: ops.bufferedAmount,
    load: () => records.get(socket),
    save: (record) => void records.set(socket, record),
    subscribe: ops.subscribe,
  };
}
