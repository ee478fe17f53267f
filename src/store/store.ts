/**
 * Room history and room meta in SQLite, behind a small synchronous interface.
 *
 * Synchronous on purpose: every SQLite API Parley runs on (better-sqlite3, node:sqlite, bun:sqlite and
 * a Durable Object's ctx.storage.sql) is synchronous, so a message can be committed and broadcast in
 * one turn of the event loop, with nothing interleaving between the commit and the send.
 */
import { randomHex } from "../ids.ts";
import type { Message, MessagePage, User } from "../protocol/index.ts";
import { utf8Length } from "../text.ts";

export type SqlValue = string | number | null;

/** The little a store needs from a SQLite driver; each runtime adapter provides one. */
export interface SqlDriver {
  /** Run one or more statements without parameters (schema, pragmas). */
  exec(sql: string): void;
  run(sql: string, ...params: SqlValue[]): void;
  all<T>(sql: string, ...params: SqlValue[]): T[];
  /** Run `fn` in one transaction: all of it commits, or none of it. */
  transaction<T>(fn: () => T): T;
  /** Write the WAL back into the database file and truncate it (where the store owns its file). */
  checkpoint?(): void;
  close(): void;
}

export interface RoomMeta {
  epoch: string;
  seq: number;
  lastUserId: number;
}

export interface StoredUser extends User {
  token: string;
  /** Whether the user ever made an entry; a guest who did is never forgotten. */
  posted: boolean;
}

/** What the room engine asks of storage. One implementation serves every runtime. */
export interface Store {
  /** The room's meta, its row created the first time the room is joined. */
  meta(room: string): RoomMeta;
  /** The room's meta without writing anything: an unused room reads as `seq` 0 and the epoch it will get. */
  peek(room: string): RoomMeta;
  /**
   * Commit consecutive messages in one transaction, and drop history past `keep` messages. `posters`
   * are the authors posting for the first time: they are marked, so they are never forgotten.
   */
  appendAll(room: string, messages: Message[], keep: number, posters?: string[]): void;
  /**
   * The newest `limit` messages with `seq < before` (all when `before` is omitted), oldest first, and at
   * most `maxBytes` of their JSON: a page past it is cut at its oldest end and says `more`.
   */
  history(room: string, limit: number, before?: number, maxBytes?: number): MessagePage;
  /** Every message with `seq > since`, oldest first. */
  after(room: string, since: number): Message[];
  /** The lowest `seq` still kept, or `undefined` when the room has no history. */
  oldestSeq(room: string): number | undefined;
  /** Take the next user id from the room's counter (committed before it is handed out). */
  createUser(room: string, name: (id: string) => string, token: string): StoredUser;
  userByToken(room: string, token: string): StoredUser | undefined;
  renameUser(room: string, id: string, name: string): void;
  /** A user's last connection closed at `at` (the guest clock starts), or one came back (`at` undefined). */
  userAway(room: string, id: string, at: number | undefined): void;
  /** Forget every guest who never posted and has been away since `before`; how many went. */
  forgetGuests(before: number): number;
  /** When the next guest who never posted went away, or undefined when none is waiting to be forgotten. */
  nextGuestAway(): number | undefined;
  close(): void;
}

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS rooms (
  name TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  seq INTEGER NOT NULL DEFAULT 0,
  last_user_id INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
  room TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  user_name TEXT NOT NULL,
  text TEXT NOT NULL,
  ref TEXT,
  PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
  room TEXT NOT NULL,
  token TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  away_since INTEGER,
  posted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (room, token)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_by_id ON users (room, id);
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

// Guests waiting to be forgotten, oldest first; posters are never in it.
const GUEST_INDEX = "CREATE INDEX IF NOT EXISTS users_away ON users (away_since) WHERE posted = 0";

/**
 * A v1 database's users table has neither `away_since` nor `posted`. Added in place: a user who wrote a
 * message counts as a poster, and everyone else as away since the migration (nobody is connected while
 * a store opens).
 */
function migrateUsers(db: SqlDriver, now: number): void {
  try {
    db.all("SELECT away_since, posted FROM users LIMIT 0");
    return;
  } catch {
    // A v1 table: migrate below.
  }
  db.transaction(() => {
    db.exec("ALTER TABLE users ADD COLUMN away_since INTEGER");
    db.exec("ALTER TABLE users ADD COLUMN posted INTEGER NOT NULL DEFAULT 0");
    db.exec(
      "UPDATE users SET posted = 1 WHERE EXISTS (SELECT 1 FROM messages m WHERE m.room = users.room AND m.user_id = users.id)",
    );
    db.run("UPDATE users SET away_since = ?", now);
  });
}

/** A 64-bit FNV-1a hash as 16 hex digits: a stable epoch for a room from the store's salt and its name. */
function epochFor(salt: string, room: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of `${salt}\u0000${room}`) {
    h ^= BigInt(ch.codePointAt(0) as number);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

export interface StoreOptions {
  /**
   * What makes this store's epochs its own (a Durable Object passes its id). Without it the store keeps
   * a random salt in its settings table, so a fresh database (`:memory:`, a new file) gives rooms new
   * epochs while a kept one gives the same.
   */
  salt?: string;
  /** Set every user who is not away as away now: a process that starts has nobody connected. */
  nobodyConnected?: boolean;
  now?: () => number;
}

interface MessageRow {
  seq: number;
  ts: number;
  user_id: string;
  user_name: string;
  text: string;
  ref: string | null;
}

function toMessage(row: MessageRow): Message {
  const m: Message = {
    type: "message",
    seq: row.seq,
    ts: row.ts,
    from: { id: row.user_id, name: row.user_name },
    text: row.text,
  };
  if (row.ref !== null) m.ref = row.ref;
  return m;
}

const COLUMNS = "seq, ts, user_id, user_name, text, ref";

/**
 * How many of `newestFirst` fit in `maxBytes` of JSON, counting from the newest: a page that reads
 * backwards is cut at its oldest end. At least one always fits, so a page always moves on.
 */
export function fitNewest(newestFirst: Message[], maxBytes: number): number {
  if (maxBytes === Number.POSITIVE_INFINITY) return newestFirst.length;
  let bytes = 0;
  for (let i = 0; i < newestFirst.length; i++) {
    bytes += utf8Length(JSON.stringify(newestFirst[i])) + 1;
    if (bytes > maxBytes && i > 0) return i;
  }
  return newestFirst.length;
}

/** The SQLite store over any driver. */
export class SqlStore implements Store {
  private readonly salt: string;

  constructor(
    private readonly db: SqlDriver,
    options: StoreOptions = {},
  ) {
    const now = options.now?.() ?? Date.now();
    db.exec(SCHEMA);
    migrateUsers(db, now);
    db.exec(GUEST_INDEX);
    this.salt = options.salt ?? this.setting("salt", () => randomHex(16));
    if (options.nobodyConnected) db.run("UPDATE users SET away_since = ? WHERE away_since IS NULL", now);
  }

  /** A stored setting, written with `init()` the first time it is read. */
  private setting(key: string, init: () => string): string {
    const row = this.db.all<{ value: string }>("SELECT value FROM settings WHERE key = ?", key)[0];
    if (row) return row.value;
    this.db.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, init());
    return this.setting(key, init);
  }

  peek(room: string): RoomMeta {
    const rows = this.db.all<{ epoch: string; seq: number; last_user_id: number }>(
      "SELECT epoch, seq, last_user_id FROM rooms WHERE name = ?",
      room,
    );
    if (rows[0]) return { epoch: rows[0].epoch, seq: rows[0].seq, lastUserId: rows[0].last_user_id };
    return { epoch: epochFor(this.salt, room), seq: 0, lastUserId: 0 };
  }

  meta(room: string): RoomMeta {
    const meta = this.peek(room);
    if (meta.seq === 0 && meta.lastUserId === 0) {
      // The epoch a read reported before the room existed is the one it gets.
      this.db.run("INSERT INTO rooms (name, epoch) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", room, meta.epoch);
    }
    return meta;
  }

  /** One message on its own (seeding, tests); the room engine commits through `appendAll`. */
  append(room: string, m: Message, keep: number): void {
    this.appendAll(room, [m], keep);
  }

  appendAll(room: string, messages: Message[], keep: number, posters: string[] = []): void {
    const last = messages[messages.length - 1]?.seq;
    if (last === undefined) return;
    this.db.transaction(() => {
      for (const id of posters) this.db.run("UPDATE users SET posted = 1 WHERE room = ? AND id = ?", room, id);
      for (const m of messages) {
        this.db.run(
          `INSERT INTO messages (${COLUMNS}, room) VALUES (?, ?, ?, ?, ?, ?, ?)`,
          m.seq,
          m.ts,
          m.from.id,
          m.from.name,
          m.text,
          m.ref ?? null,
          room,
        );
      }
      this.db.run("UPDATE rooms SET seq = ? WHERE name = ?", last, room);
      // A range delete on the primary key: a no-op scan until the room passes its limit.
      this.db.run("DELETE FROM messages WHERE room = ? AND seq <= ?", room, last - keep);
    });
  }

  history(room: string, limit: number, before?: number, maxBytes = Number.POSITIVE_INFINITY): MessagePage {
    // One row past the limit tells whether there is more, without a second query.
    const rows = this.db.all<MessageRow>(
      `SELECT ${COLUMNS} FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
      room,
      before ?? Number.MAX_SAFE_INTEGER,
      limit + 1,
    );
    let more = rows.length > limit;
    if (more) rows.pop();
    const messages = rows.map(toMessage);
    const kept = fitNewest(messages, maxBytes);
    if (kept < messages.length) more = true;
    return { messages: messages.slice(0, kept).reverse(), more };
  }

  after(room: string, since: number): Message[] {
    return this.db
      .all<MessageRow>(`SELECT ${COLUMNS} FROM messages WHERE room = ? AND seq > ? ORDER BY seq`, room, since)
      .map(toMessage);
  }

  oldestSeq(room: string): number | undefined {
    return this.db.all<{ seq: number }>("SELECT seq FROM messages WHERE room = ? ORDER BY seq LIMIT 1", room)[0]?.seq;
  }

  createUser(room: string, name: (id: string) => string, token: string): StoredUser {
    return this.db.transaction(() => {
      this.meta(room);
      this.db.run("UPDATE rooms SET last_user_id = last_user_id + 1 WHERE name = ?", room);
      const [row] = this.db.all<{ last_user_id: number }>("SELECT last_user_id FROM rooms WHERE name = ?", room);
      const id = String(row.last_user_id);
      const user = { id, name: name(id), token, posted: false };
      this.db.run("INSERT INTO users (room, token, id, name) VALUES (?, ?, ?, ?)", room, token, id, user.name);
      return user;
    });
  }

  userByToken(room: string, token: string): StoredUser | undefined {
    const row = this.db.all<{ id: string; name: string; token: string; posted: number }>(
      "SELECT id, name, token, posted FROM users WHERE room = ? AND token = ?",
      room,
      token,
    )[0];
    return row && { id: row.id, name: row.name, token: row.token, posted: row.posted === 1 };
  }

  userAway(room: string, id: string, at: number | undefined): void {
    this.db.run("UPDATE users SET away_since = ? WHERE room = ? AND id = ?", at ?? null, room, id);
  }

  forgetGuests(before: number): number {
    const [row] = this.db.all<{ n: number }>(
      "SELECT count(*) AS n FROM users WHERE posted = 0 AND away_since <= ?",
      before,
    );
    if (row.n === 0) return 0;
    this.db.run("DELETE FROM users WHERE posted = 0 AND away_since <= ?", before);
    // Back into the file and out of the WAL: the freed pages are reused, and the WAL does not keep
    // growing with rows that no longer exist.
    this.db.checkpoint?.();
    return row.n;
  }

  nextGuestAway(): number | undefined {
    const [row] = this.db.all<{ at: number | null }>(
      "SELECT min(away_since) AS at FROM users WHERE posted = 0 AND away_since IS NOT NULL",
    );
    return row?.at ?? undefined;
  }

  renameUser(room: string, id: string, name: string): void {
    this.db.run("UPDATE users SET name = ? WHERE room = ? AND id = ?", name, room, id);
  }

  close(): void {
    this.db.close();
  }
}
