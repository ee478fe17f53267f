/**
 * A room's state in SQLite, behind a small synchronous interface: its meta (epoch, seq, the user-id
 * counter), its users, its log (log.ts) and its bans and mutes.
 *
 * Synchronous on purpose: every SQLite API Parley runs on (better-sqlite3, node:sqlite, bun:sqlite and
 * a Durable Object's ctx.storage.sql) is synchronous, so an entry can be committed and broadcast in one
 * turn of the event loop, with nothing interleaving between the commit and the send.
 */
import { randomHex } from "../ids.ts";
import type { Entry, Message, MessagePage, User } from "../protocol/index.ts";
import type { SqlDriver } from "./driver.ts";
import {
  type CommitChanges,
  entriesBetween,
  fitFirst,
  messagesAfter,
  messagesBefore,
  oldestEntry,
  readMessage,
  type SanctionChange,
  trimEntries,
  writeEntries,
} from "./log.ts";
import { migrate } from "./schema.ts";

export type { SqlDriver, SqlValue } from "./driver.ts";
export type { CommitChanges, SanctionChange } from "./log.ts";

export interface RoomMeta {
  epoch: string;
  seq: number;
  lastUserId: number;
}

export interface StoredUser extends User {
  token: string;
  /** Whether an entry or a sanction ever named the user; a guest so named is never forgotten. */
  posted: boolean;
}

/** A room's active bans and mutes: user id → when it ends (null: until lifted). */
export interface Sanctions {
  bans: Map<string, number | null>;
  mutes: Map<string, number | null>;
}

/** A page of raw entries. */
export interface EntryPage {
  entries: Entry[];
  more: boolean;
}

/** What the room engine asks of storage. One implementation serves every runtime. */
export interface Store {
  /** The room's meta, its row created the first time the room is joined. */
  meta(room: string): RoomMeta;
  /** The room's meta without writing anything: an unused room reads as `seq` 0 and the epoch it will get. */
  peek(room: string): RoomMeta;
  /**
   * Commit consecutive entries in one transaction, with what they change (folded messages, erasures,
   * sanctions, users named for the first time), and drop the log past `keep` entries.
   */
  appendAll(room: string, entries: Entry[], keep: number, changes?: CommitChanges): void;
  /**
   * The newest `limit` messages with `seq < before` (all when `before` is omitted), folded, oldest first,
   * and at most `maxBytes` of their JSON: a page past it is cut at its oldest end and says `more`.
   */
  history(room: string, limit: number, before?: number, maxBytes?: number): MessagePage;
  /** Every message with `seq > since`, folded, oldest first (a v1 resume). */
  after(room: string, since: number): Message[];
  /** Entries of every kind with `seq > since`, oldest first, at most `limit` (a v2 resume, the entries API). */
  entriesAfter(room: string, since: number, limit?: number): Entry[];
  /** The newest `limit` raw entries with `seq < before`, oldest first, cut at `maxBytes` at the oldest end. */
  entriesBefore(room: string, before: number, limit: number, maxBytes?: number): EntryPage;
  /** One message, folded, if the room still has it. */
  message(room: string, seq: number): Message | undefined;
  /** The lowest `seq` still kept, or `undefined` when the room has no entries. */
  oldestSeq(room: string): number | undefined;
  /**
   * Take the next user id from the room's counter, with the user's row: committed at once, or with the
   * turn's other joins at its end where the driver defers commits (statements.ts).
   */
  createUser(room: string, name: (id: string) => string, token: string, sub?: string): StoredUser;
  userByToken(room: string, token: string): StoredUser | undefined;
  /** The user a signed `sub` is in the room, if it ever joined. */
  userBySub(room: string, sub: string): StoredUser | undefined;
  userById(room: string, id: string): StoredUser | undefined;
  renameUser(room: string, id: string, name: string): void;
  /** The room's bans and mutes that have not ended by `now`. */
  sanctions(room: string, now: number): Sanctions;
  /** Whether a user id, or (for anonymous joins) an address group, stands banned at `now`. */
  banned(room: string, now: number, who: { uid?: string; group?: string }): boolean;
  /** A user's last connection closed at `at` (the guest clock starts), or one came back (`at` undefined). */
  userAway(room: string, id: string, at: number | undefined): void;
  /** Forget every guest who was never named and has been away since `before`; how many went. */
  forgetGuests(before: number): number;
  /** When the next guest who was never named went away, or undefined when none is waiting. */
  nextGuestAway(): number | undefined;
  /** The oldest entries still waiting for their webhook delivery, at most `limit`, oldest first. */
  undelivered(room: string, limit: number): Entry[];
  /** The receiver acknowledged every entry up to `seq`. */
  delivered(room: string, seq: number): void;
  /** Rooms with entries waiting for delivery (after a restart). */
  roomsUndelivered(): string[];
  /** How many entries wait for their webhook delivery, in every room. */
  backlog(): number;
  close(): void;
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

interface UserRow {
  id: string;
  name: string;
  token: string;
  posted: number;
  sub: string | null;
}

function toUser(row: UserRow | undefined): StoredUser | undefined {
  if (!row) return undefined;
  const user: StoredUser = { id: row.id, name: row.name, token: row.token, posted: row.posted === 1 };
  if (row.sub !== null) user.sub = row.sub;
  return user;
}

const USER_COLUMNS = "id, name, token, posted, sub";

/** The SQLite store over any driver. */
export class SqlStore implements Store {
  private readonly salt: string;

  constructor(
    private readonly db: SqlDriver,
    options: StoreOptions = {},
  ) {
    const now = options.now?.() ?? Date.now();
    migrate(db, now);
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
    this.appendAll(room, [{ ...m, by: m.by ?? m.from }], keep);
  }

  appendAll(room: string, entries: Entry[], keep: number, changes: CommitChanges = {}): void {
    const last = entries[entries.length - 1]?.seq;
    if (last === undefined) return;
    this.db.transaction(() => {
      for (const id of changes.posters ?? []) {
        this.db.run("UPDATE users SET posted = 1 WHERE room = ? AND id = ?", room, id);
      }
      writeEntries(this.db, room, entries, changes);
      for (const change of changes.sanctions ?? []) this.applySanction(room, change);
      this.db.run("UPDATE rooms SET seq = ? WHERE name = ?", last, room);
      trimEntries(this.db, room, last - keep);
    });
    // A deletion erases: back into the file (secure_delete zeroed what the rows freed) and out of the WAL.
    if (changes.erased?.length) this.db.checkpoint?.();
  }

  private applySanction(room: string, change: SanctionChange): void {
    if (change.lift) {
      this.db.run("DELETE FROM sanctions WHERE room = ? AND user_id = ? AND kind = ?", room, change.user, change.kind);
      if (change.kind === "ban")
        this.db.run("DELETE FROM ban_groups WHERE room = ? AND user_id = ?", room, change.user);
      return;
    }
    this.db.run(
      "INSERT INTO sanctions (room, user_id, kind, until) VALUES (?, ?, ?, ?) ON CONFLICT (room, user_id, kind) DO UPDATE SET until = excluded.until",
      room,
      change.user,
      change.kind,
      change.until ?? null,
    );
    for (const group of change.groups ?? []) {
      this.db.run(
        "INSERT INTO ban_groups (room, grp, user_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        room,
        group,
        change.user,
      );
    }
    // A sanctioned user is named by it: never forgotten while it stands.
    this.db.run("UPDATE users SET posted = 1 WHERE room = ? AND id = ?", room, change.user);
  }

  sanctions(room: string, now: number): Sanctions {
    const rows = this.db.all<{ user_id: string; kind: string; until: number | null }>(
      "SELECT user_id, kind, until FROM sanctions WHERE room = ? AND (until IS NULL OR until > ?)",
      room,
      now,
    );
    const out: Sanctions = { bans: new Map(), mutes: new Map() };
    for (const r of rows) (r.kind === "ban" ? out.bans : out.mutes).set(r.user_id, r.until);
    return out;
  }

  banned(room: string, now: number, who: { uid?: string; group?: string }): boolean {
    const active = "(s.until IS NULL OR s.until > ?)";
    if (
      who.uid !== undefined &&
      this.db.all(
        `SELECT 1 FROM sanctions s WHERE s.room = ? AND s.user_id = ? AND s.kind = 'ban' AND ${active}`,
        room,
        who.uid,
        now,
      ).length > 0
    ) {
      return true;
    }
    if (who.group === undefined) return false;
    return (
      this.db.all(
        `SELECT 1 FROM ban_groups g JOIN sanctions s ON s.room = g.room AND s.user_id = g.user_id AND s.kind = 'ban' WHERE g.room = ? AND g.grp = ? AND ${active} LIMIT 1`,
        room,
        who.group,
        now,
      ).length > 0
    );
  }

  history(room: string, limit: number, before?: number, maxBytes = Number.POSITIVE_INFINITY): MessagePage {
    // One row past the limit tells whether there is more, without a second query.
    const rows = messagesBefore(this.db, room, before ?? Number.MAX_SAFE_INTEGER, limit + 1);
    let more = rows.length > limit;
    if (more) rows.pop();
    const kept = fitFirst(rows, maxBytes);
    if (kept < rows.length) more = true;
    return { messages: rows.slice(0, kept).reverse(), more };
  }

  after(room: string, since: number): Message[] {
    return messagesAfter(this.db, room, since);
  }

  entriesAfter(room: string, since: number, limit = Number.MAX_SAFE_INTEGER): Entry[] {
    return entriesBetween(this.db, room, since, Number.MAX_SAFE_INTEGER, limit, "ASC");
  }

  entriesBefore(room: string, before: number, limit: number, maxBytes = Number.POSITIVE_INFINITY): EntryPage {
    const rows = entriesBetween(this.db, room, 0, before, limit + 1, "DESC");
    let more = rows.length > limit;
    if (more) rows.pop();
    const kept = fitFirst(rows, maxBytes);
    if (kept < rows.length) more = true;
    return { entries: rows.slice(0, kept).reverse(), more };
  }

  message(room: string, seq: number): Message | undefined {
    return readMessage(this.db, room, seq);
  }

  oldestSeq(room: string): number | undefined {
    return oldestEntry(this.db, room);
  }

  /** A join's writes: in the turn's shared transaction where the driver defers commits (statements.ts). */
  private inTurn<T>(fn: () => T): T {
    return this.db.inTurn ? this.db.inTurn(fn) : this.db.transaction(fn);
  }

  createUser(room: string, name: (id: string) => string, token: string, sub?: string): StoredUser {
    return this.inTurn(() => {
      this.meta(room);
      this.db.run("UPDATE rooms SET last_user_id = last_user_id + 1 WHERE name = ?", room);
      const [row] = this.db.all<{ last_user_id: number }>("SELECT last_user_id FROM rooms WHERE name = ?", room);
      const id = String(row.last_user_id);
      const user: StoredUser = { id, name: name(id), token, posted: false };
      if (sub !== undefined) user.sub = sub;
      this.db.run(
        "INSERT INTO users (room, token, id, name, sub) VALUES (?, ?, ?, ?, ?)",
        room,
        token,
        id,
        user.name,
        sub ?? null,
      );
      return user;
    });
  }

  userByToken(room: string, token: string): StoredUser | undefined {
    return toUser(
      this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE room = ? AND token = ?`, room, token)[0],
    );
  }

  userBySub(room: string, sub: string): StoredUser | undefined {
    return toUser(this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE room = ? AND sub = ?`, room, sub)[0]);
  }

  userById(room: string, id: string): StoredUser | undefined {
    return toUser(this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE room = ? AND id = ?`, room, id)[0]);
  }

  renameUser(room: string, id: string, name: string): void {
    this.inTurn(() => this.db.run("UPDATE users SET name = ? WHERE room = ? AND id = ?", name, room, id));
  }

  userAway(room: string, id: string, at: number | undefined): void {
    this.inTurn(() => this.db.run("UPDATE users SET away_since = ? WHERE room = ? AND id = ?", at ?? null, room, id));
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

  undelivered(room: string, limit: number): Entry[] {
    const [first] = this.db.all<{ seq: number | null }>("SELECT min(seq) AS seq FROM outbox WHERE room = ?", room);
    if (first?.seq == null) return [];
    return entriesBetween(this.db, room, first.seq - 1, Number.MAX_SAFE_INTEGER, limit, "ASC");
  }

  backlog(): number {
    return this.db.all<{ n: number }>("SELECT count(*) AS n FROM outbox")[0]?.n ?? 0;
  }

  delivered(room: string, seq: number): void {
    this.db.run("DELETE FROM outbox WHERE room = ? AND seq <= ?", room, seq);
  }

  roomsUndelivered(): string[] {
    return this.db.all<{ room: string }>("SELECT DISTINCT room FROM outbox").map((r) => r.room);
  }

  close(): void {
    this.db.close();
  }
}
