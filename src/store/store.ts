/**
 * Room history and room meta in SQLite, behind a small synchronous interface.
 *
 * Synchronous on purpose: every SQLite API Parley runs on (better-sqlite3, node:sqlite, bun:sqlite and
 * a Durable Object's ctx.storage.sql) is synchronous, so a message can be committed and broadcast in
 * one turn of the event loop, with nothing interleaving between the commit and the send.
 */
import { randomHex } from "../ids.ts";
import type { Message, MessagePage, User } from "../protocol/index.ts";

export type SqlValue = string | number | null;

/** The little a store needs from a SQLite driver; each runtime adapter provides one. */
export interface SqlDriver {
  /** Run one or more statements without parameters (schema, pragmas). */
  exec(sql: string): void;
  run(sql: string, ...params: SqlValue[]): void;
  all<T>(sql: string, ...params: SqlValue[]): T[];
  /** Run `fn` in one transaction: all of it commits, or none of it. */
  transaction<T>(fn: () => T): T;
  close(): void;
}

export interface RoomMeta {
  epoch: string;
  seq: number;
  lastUserId: number;
}

export interface StoredUser extends User {
  token: string;
}

/** What the room engine asks of storage. One implementation serves every runtime. */
export interface Store {
  /** The room's meta, created (with a fresh epoch) the first time a room is named. */
  meta(room: string): RoomMeta;
  /** Commit consecutive messages in one transaction, and drop history past `keep` messages. */
  appendAll(room: string, messages: Message[], keep: number): void;
  /** The newest `limit` messages with `seq < before` (all when `before` is omitted), oldest first. */
  history(room: string, limit: number, before?: number): MessagePage;
  /** Every message with `seq > since`, oldest first. */
  after(room: string, since: number): Message[];
  /** The lowest `seq` still kept, or `undefined` when the room has no history. */
  oldestSeq(room: string): number | undefined;
  /** Take the next user id from the room's counter (committed before it is handed out). */
  createUser(room: string, name: (id: string) => string, token: string): StoredUser;
  userByToken(room: string, token: string): StoredUser | undefined;
  renameUser(room: string, id: string, name: string): void;
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
  PRIMARY KEY (room, token)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_by_id ON users (room, id);
`;

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

/** The SQLite store over any driver. */
export class SqlStore implements Store {
  constructor(private readonly db: SqlDriver) {
    db.exec(SCHEMA);
  }

  meta(room: string): RoomMeta {
    const rows = this.db.all<{ epoch: string; seq: number; last_user_id: number }>(
      "SELECT epoch, seq, last_user_id FROM rooms WHERE name = ?",
      room,
    );
    if (rows[0]) return { epoch: rows[0].epoch, seq: rows[0].seq, lastUserId: rows[0].last_user_id };
    const epoch = randomHex(8);
    this.db.run("INSERT INTO rooms (name, epoch) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", room, epoch);
    return this.meta(room);
  }

  /** One message on its own (seeding, tests); the room engine commits through `appendAll`. */
  append(room: string, m: Message, keep: number): void {
    this.appendAll(room, [m], keep);
  }

  appendAll(room: string, messages: Message[], keep: number): void {
    const last = messages[messages.length - 1]?.seq;
    if (last === undefined) return;
    this.db.transaction(() => {
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

  history(room: string, limit: number, before?: number): MessagePage {
    // One row past the limit tells whether there is more, without a second query.
    const rows = this.db.all<MessageRow>(
      `SELECT ${COLUMNS} FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
      room,
      before ?? Number.MAX_SAFE_INTEGER,
      limit + 1,
    );
    const more = rows.length > limit;
    if (more) rows.pop();
    return { messages: rows.reverse().map(toMessage), more };
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
      const user = { id, name: name(id), token };
      this.db.run("INSERT INTO users (room, token, id, name) VALUES (?, ?, ?, ?)", room, token, id, user.name);
      return user;
    });
  }

  userByToken(room: string, token: string): StoredUser | undefined {
    return this.db.all<StoredUser>("SELECT id, name, token FROM users WHERE room = ? AND token = ?", room, token)[0];
  }

  renameUser(room: string, id: string, name: string): void {
    this.db.run("UPDATE users SET name = ? WHERE room = ? AND id = ?", name, room, id);
  }

  close(): void {
    this.db.close();
  }
}
