/**
 * The room log in SQLite. Messages live in `messages`, one row each, folded to their current state
 * (text after the last edit, edited, deleted, reactions); every other entry kind is a row of `events`.
 * A folded history page is one query on `messages`; a run of raw entries is both tables merged by
 * `seq`. A message entry read back raw carries its current text (its edits applied, "" once deleted),
 * and the `edited` entries after it say the same, so a client that applies them in order ends in the
 * same state. Deleting erases: the message row and the text of each of its `edited` rows become "".
 */
import type { Entry, Message, ModeratedEntry, User } from "../protocol/index.ts";
import { utf8Length } from "../text.ts";
import type { SqlDriver } from "./driver.ts";

/** A ban or a mute written, or ended, in the same transaction as its `moderated` entry. */
export interface SanctionChange {
  user: string;
  kind: "ban" | "mute";
  /** Ends (ms); null: until lifted. Absent with `lift`. */
  until?: number | null;
  /** Lift the sanction instead. */
  lift?: boolean;
  /** For an anonymous user's ban: the address groups their open connections came from. */
  groups?: string[];
}

/** What one commit writes besides its entries. */
export interface CommitChanges {
  /** Users an entry names for the first time: never forgotten from now on. */
  posters?: string[];
  /** The folded state of every earlier message the entries changed (edits, deletions, reactions). */
  folds?: Message[];
  /** Messages deleted: the text of their `edited` entries is erased too. */
  erased?: number[];
  sanctions?: SanctionChange[];
  /** Webhooks are on: each entry gets its outbox row in the same transaction. */
  outbox?: boolean;
}

interface MessageRow {
  seq: number;
  ts: number;
  user_id: string;
  user_name: string;
  from_extra: string | null;
  text: string;
  ref: string | null;
  reply_to: number | null;
  edited: number | null;
  deleted: number;
  reactions: string | null;
}

interface EventRow {
  seq: number;
  ts: number;
  kind: string;
  by_user: string;
  target: number | null;
  text: string | null;
  data: string | null;
  ref: string | null;
}

const MESSAGE_COLUMNS = "seq, ts, user_id, user_name, from_extra, text, ref, reply_to, edited, deleted, reactions";
const EVENT_COLUMNS = "seq, ts, kind, by_user, target, text, data, ref";

/** The user a message row names: id and name, and a signed or bot user's extra fields. */
function userOf(row: MessageRow): User {
  const user: User = { id: row.user_id, name: row.user_name };
  return row.from_extra ? { ...user, ...(JSON.parse(row.from_extra) as Partial<User>) } : user;
}

/** A stored message, folded to its current state. */
export function folded(row: MessageRow): Message {
  const m: Message = { type: "message", seq: row.seq, ts: row.ts, from: userOf(row), text: row.text };
  if (row.ref !== null) m.ref = row.ref;
  if (row.reply_to !== null) m.replyTo = row.reply_to;
  if (row.edited !== null) m.edited = row.edited;
  if (row.deleted) m.deleted = true;
  if (row.reactions !== null) m.reactions = JSON.parse(row.reactions);
  return m;
}

/** A stored message as a raw `message` entry (current text, no folded fields). */
function messageEntry(row: MessageRow): Entry {
  const from = userOf(row);
  const m: Message & { by: User } = { type: "message", seq: row.seq, ts: row.ts, by: from, from, text: row.text };
  if (row.ref !== null) m.ref = row.ref;
  if (row.reply_to !== null) m.replyTo = row.reply_to;
  return m;
}

function eventEntry(row: EventRow): Entry {
  const base = { seq: row.seq, ts: row.ts, by: JSON.parse(row.by_user) as User };
  const data = row.data ? (JSON.parse(row.data) as Record<string, unknown>) : {};
  const withRef = <T extends object>(e: T): T => (row.ref === null ? e : { ...e, ref: row.ref });
  switch (row.kind) {
    case "edited":
      return withRef({ type: "edited", ...base, target: row.target as number, text: row.text ?? "" });
    case "deleted":
      return withRef({ type: "deleted", ...base, target: row.target as number });
    case "reacted":
      return withRef({
        type: "reacted",
        ...base,
        target: row.target as number,
        emoji: data.emoji as string,
        on: data.on as boolean,
      });
    default:
      return withRef({ type: "moderated", ...base, ...(data as Omit<ModeratedEntry, "type" | "seq" | "ts" | "by">) });
  }
}

/** The fields of a `from` user beyond id and name, as stored; null when there are none. */
function extraOf(user: User): string | null {
  const { id: _id, name: _name, ...extra } = user;
  return Object.keys(extra).length > 0 ? JSON.stringify(extra) : null;
}

/** Write a batch of entries (and what they change) in the caller's transaction. */
export function writeEntries(db: SqlDriver, room: string, entries: Entry[], changes: CommitChanges): void {
  for (const e of entries) {
    if (changes.outbox) db.run("INSERT INTO outbox (room, seq) VALUES (?, ?)", room, e.seq);
    if (e.type === "message") {
      db.run(
        `INSERT INTO messages (room, ${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL)`,
        room,
        e.seq,
        e.ts,
        e.from.id,
        e.from.name,
        extraOf(e.from),
        e.text,
        e.ref ?? null,
        e.replyTo ?? null,
      );
      continue;
    }
    let target: number | null = null;
    let text: string | null = null;
    let data: object | null = null;
    if (e.type === "edited") [target, text] = [e.target, e.text];
    else if (e.type === "deleted") target = e.target;
    else if (e.type === "reacted") [target, data] = [e.target, { emoji: e.emoji, on: e.on }];
    else {
      const { type: _t, seq: _s, ts: _ts, by: _b, ref: _r, ...rest } = e;
      data = rest;
    }
    db.run(
      `INSERT INTO events (room, ${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      room,
      e.seq,
      e.ts,
      e.type,
      JSON.stringify(e.by),
      target,
      text,
      data && JSON.stringify(data),
      e.ref ?? null,
    );
  }
  for (const m of changes.folds ?? []) {
    db.run(
      "UPDATE messages SET text = ?, edited = ?, deleted = ?, reactions = ? WHERE room = ? AND seq = ?",
      m.text,
      m.edited ?? null,
      m.deleted ? 1 : 0,
      m.reactions && Object.keys(m.reactions).length > 0 ? JSON.stringify(m.reactions) : null,
      room,
      m.seq,
    );
  }
  for (const target of changes.erased ?? []) {
    db.run("UPDATE events SET text = '' WHERE room = ? AND target = ? AND kind = 'edited'", room, target);
  }
}

/** Drop the entries past the room's limit: a range delete on each primary key, a no-op until then. */
export function trimEntries(db: SqlDriver, room: string, below: number): void {
  // An entry still waiting for its webhook delivery stays until it is delivered.
  const [pending] = db.all<{ seq: number | null }>("SELECT min(seq) AS seq FROM outbox WHERE room = ?", room);
  const upTo = pending?.seq != null ? Math.min(below, pending.seq - 1) : below;
  db.run("DELETE FROM messages WHERE room = ? AND seq <= ?", room, upTo);
  db.run("DELETE FROM events WHERE room = ? AND seq <= ?", room, upTo);
}

/** One stored message, folded, or undefined. */
export function readMessage(db: SqlDriver, room: string, seq: number): Message | undefined {
  const [row] = db.all<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq = ?`, room, seq);
  return row && folded(row);
}

/** The newest `limit` folded messages with `seq < before`, newest first, and one more to tell `more`. */
export function messagesBefore(db: SqlDriver, room: string, before: number, limit: number): Message[] {
  return db
    .all<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
      room,
      before,
      limit,
    )
    .map(folded);
}

/** Folded messages with `seq > since`, oldest first (a v1 resume). */
export function messagesAfter(db: SqlDriver, room: string, since: number): Message[] {
  return db
    .all<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq > ? ORDER BY seq`, room, since)
    .map(folded);
}

/** Raw entries of every kind with `after < seq < before`, in `order`, at most `limit`. */
export function entriesBetween(
  db: SqlDriver,
  room: string,
  after: number,
  before: number,
  limit: number,
  order: "ASC" | "DESC",
): Entry[] {
  const messages = db
    .all<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq > ? AND seq < ? ORDER BY seq ${order} LIMIT ?`,
      room,
      after,
      before,
      limit,
    )
    .map(messageEntry);
  const events = db
    .all<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE room = ? AND seq > ? AND seq < ? ORDER BY seq ${order} LIMIT ?`,
      room,
      after,
      before,
      limit,
    )
    .map(eventEntry);
  const merged = [...messages, ...events].sort((a, b) => (order === "ASC" ? a.seq - b.seq : b.seq - a.seq));
  return merged.slice(0, limit);
}

/** The lowest `seq` still kept, of any kind. */
export function oldestEntry(db: SqlDriver, room: string): number | undefined {
  const [row] = db.all<{ seq: number | null }>(
    "SELECT min(seq) AS seq FROM (SELECT min(seq) AS seq FROM messages WHERE room = ? UNION ALL SELECT min(seq) FROM events WHERE room = ?)",
    room,
    room,
  );
  return row?.seq ?? undefined;
}

/**
 * How many of `items`, taken from the first, fit in `maxBytes` of JSON: a page is cut at the end it
 * reads towards last. At least one always fits, so a page always moves on.
 */
export function fitFirst(items: object[], maxBytes: number): number {
  if (maxBytes === Number.POSITIVE_INFINITY) return items.length;
  let bytes = 0;
  for (let i = 0; i < items.length; i++) {
    bytes += utf8Length(JSON.stringify(items[i])) + 1;
    if (bytes > maxBytes && i > 0) return i;
  }
  return items.length;
}
