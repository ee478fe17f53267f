/**
 * The room engine: members, presence, ordering, history and the per-frame rules. It is runtime-agnostic:
 * it sees sockets only through `Connection` and storage only through `Store`, so the same code runs in a
 * Node/Deno/Bun process and inside a Durable Object.
 */
import type { Config } from "./config.ts";
import { randomHex } from "./ids.ts";
import { takeFrom } from "./limits.ts";
import { Members } from "./members.ts";
import { errorFrame, welcomeFrame, withRef } from "./outgoing.ts";
import {
  CLOSE,
  type ErrorCode,
  frameParser,
  type Message,
  PAGE_MAX_BYTES,
  type Parsed,
  type RoomInfo,
  type User,
} from "./protocol/index.ts";
import { type Connection, type SessionRecord, strike, takeToken, userOf } from "./session.ts";
import type { Store } from "./store/store.ts";
import { utf8Length } from "./text.ts";

/** What a client asked for in its upgrade URL, already validated. */
export interface JoinRequest {
  name?: string;
  token?: string;
  since?: number;
  epoch?: string;
  /** The client's address group (src/limits.ts). */
  group: string;
}

/** A `say` taken in, numbered, and waiting for its batch to commit. */
interface Uncommitted {
  conn: Connection;
  message: Message;
}

/** Run a function later in this turn of the event loop, or now. */
export type Defer = (fn: () => void) => void;

/** Commit each message as it comes (tests, and hosts whose events never share a turn). */
const immediately: Defer = (fn) => fn();

/** A runtime's native broadcast to every connection that called `subscribe(topic)` (Bun's publish). */
export type Publish = (topic: string, frame: string) => void;

/** What a room is built with; only `store` and `config` are required. */
export interface RoomOptions {
  store: Store;
  config: Config;
  /** The clock (tests pass a fake one). */
  now?: () => number;
  /** When the room commits the says it took in (default: each at once). */
  defer?: Defer;
  /** The runtime's native publish, when it has one; the room then broadcasts to all with it (Bun). */
  publish?: Publish;
  /** A guest who never posted went away at `at`: the host schedules forgetting them. */
  guestAway?: (at: number) => void;
}

/**
 * One chat room: the single source of order for its messages. It assumes that a connection's `close`
 * does not run that connection's leave before it returns; an adapter whose runtime does (Bun) defers
 * its close, so that a `left` cannot come between a sender's `message` and its `ack`.
 */
export class Room {
  readonly epoch: string;
  /** The last committed seq: what a welcome or the room API reports. */
  private seq: number;
  /** Says numbered past `seq`, to be committed together and only then sent (group commit). */
  private uncommitted: Uncommitted[] = [];
  private readonly members = new Members();
  private readonly store: Store;
  private readonly config: Config;
  private readonly now: () => number;
  private readonly defer: Defer;
  private readonly publish?: Publish;
  private readonly guestAway?: (at: number) => void;
  private readonly parse: (text: string) => Parsed;

  constructor(
    readonly name: string,
    options: RoomOptions,
  ) {
    this.store = options.store;
    this.config = options.config;
    this.now = options.now ?? Date.now;
    this.defer = options.defer ?? immediately;
    this.publish = options.publish;
    this.guestAway = options.guestAway;
    this.parse = frameParser(this.config);
    const meta = this.store.meta(name);
    this.epoch = meta.epoch;
    this.seq = meta.seq;
  }

  /** Connections currently in the room. */
  get size(): number {
    return this.members.size;
  }

  /** Users currently in the room, each once. */
  memberList(): User[] {
    return this.members.list();
  }

  /** The public state of the room, as `GET /api/rooms/:room` answers it. */
  info(): RoomInfo {
    this.commit();
    return { room: this.name, epoch: this.epoch, seq: this.seq, members: this.memberList() };
  }

  /**
   * Admit a new connection: send its `welcome`, then tell everyone else. Returns false (after closing
   * the connection) when the room is full, or full for the connection's address group.
   */
  join(conn: Connection, req: JoinRequest, cid: string): boolean {
    this.commit();
    let stored = req.token ? this.store.userByToken(this.name, req.token) : undefined;
    const present = stored && this.members.user(stored.id);
    if (!present && this.members.userCount >= this.config.maxMembers) {
      conn.close(CLOSE.tryAgainLater, "room_full");
      return false;
    }
    // Anonymous users per address group: one address cannot fill a room with guests. A user already
    // connected from the group may open another tab.
    const fromGroup = this.members.fromGroup(req.group, stored?.id);
    if (!fromGroup.includes && fromGroup.users >= this.config.maxMembersPerIp) {
      conn.close(CLOSE.tryAgainLater, "room_full");
      return false;
    }
    if (stored && !present) this.store.userAway(this.name, stored.id, undefined);
    stored ??= this.store.createUser(this.name, (id) => req.name ?? `guest-${id}`, randomHex());
    let name = present?.user.name ?? stored.name;
    if (req.name !== undefined && req.name !== name) {
      // A present user who reconnects with a new name is renamed everywhere before this welcome.
      if (present) this.rename(stored.id, req.name);
      else this.store.renameUser(this.name, stored.id, req.name);
      name = req.name;
    }
    const now = this.now();
    const record: SessionRecord = {
      cid,
      room: this.name,
      uid: stored.id,
      name,
      token: stored.token,
      group: req.group,
      bucket: this.config.rateBurst,
      bucketAt: now,
      frames: this.config.frameBurst,
      framesAt: now,
      limitedAt: 0,
      strikes: 0,
      strikesAt: 0,
      typingAt: 0,
    };
    conn.save(record);
    this.add(conn, record, stored.posted);
    const at = { room: this.name, epoch: this.epoch, seq: this.seq, members: this.memberList() };
    this.send(conn, welcomeFrame(this.store, this.config, at, req, record));
    if (!present) this.broadcast(JSON.stringify({ type: "joined", user: userOf(record) }), record.uid);
    return true;
  }

  /** Re-admit a connection from its saved record, with no frames sent (a woken Durable Object). */
  restore(conn: Connection): void {
    const record = conn.load();
    // Whether the user posted is not in the record: taken as not yet, which costs at most one more
    // idempotent write (marking them again, or starting a clock that never fires for a poster).
    if (record) this.add(conn, record, false);
  }

  /** Handle one frame from a member. */
  receive(conn: Connection, data: unknown): void {
    const record = conn.load();
    if (!record || !this.members.has(record.cid)) return;
    if (typeof data !== "string") {
      this.commit();
      conn.close(CLOSE.unsupportedData, "binary frames are not supported");
      return;
    }
    // Node, Deno and Bun refuse an oversize frame while reading it (ws, uWS); Workers hands it over whole.
    if (data.length > this.config.maxFrameBytes || utf8Length(data) > this.config.maxFrameBytes) {
      this.commit();
      conn.close(CLOSE.tooBig, "frame too big");
      return;
    }
    const now = this.now();
    if (this.overBudget(conn, record, now)) return;
    const parsed = this.parse(data);
    if (!parsed.ok) return this.reject(conn, record, now, parsed.code, parsed.message, parsed.ref);
    const frame = parsed.frame;
    // Only a say waits for a group commit; any other frame first lets the says before it go out, so
    // every client sees frames in the order they were taken in. Typing takes no token.
    switch (frame.type) {
      case "say":
        if (this.limited(conn, record, now, frame.ref)) return;
        return this.say(conn, record, now, frame.text, frame.ref);
      case "typing":
        this.commit();
        return this.typing(conn, record, now);
      case "rename":
        this.commit();
        if (this.limited(conn, record, now, frame.ref)) return;
        return this.rename(record.uid, frame.name);
      case "history": {
        this.commit();
        if (this.limited(conn, record, now, frame.ref)) return;
        // The frame's own fields and its ref take well under 200 bytes of the page's budget.
        const page = this.store.history(this.name, frame.limit ?? 50, frame.before, PAGE_MAX_BYTES - 200);
        return this.send(conn, withRef({ type: "history", ...page }, frame.ref));
      }
      case "ping":
        this.commit();
        if (this.limited(conn, record, now, frame.ref)) return;
        return this.send(conn, withRef({ type: "pong" }, frame.ref));
    }
  }

  /**
   * The frame budget, which every frame takes from before it is even parsed, typing and ping included:
   * a frame over it is dropped and is a strike, so a flood ends in the 1008 close. It is answered
   * `rate_limited` at most once a second, so that the answers cannot amplify the flood.
   */
  private overBudget(conn: Connection, record: SessionRecord, now: number): boolean {
    const bucket = { tokens: record.frames, at: record.framesAt };
    const wait = takeFrom(bucket, now, this.config.frameBurst, this.config.framePerSec);
    record.frames = bucket.tokens;
    record.framesAt = bucket.at;
    if (wait === 0) return false;
    this.commit();
    if (now - record.limitedAt >= 1000) {
      record.limitedAt = now;
      this.send(conn, errorFrame("rate_limited", "too many frames: slow down", undefined, wait));
    }
    if (strike(record, now, this.config)) conn.close(CLOSE.policy, "too many rejected frames");
    conn.save(record);
    return true;
  }

  /** Take a token for a frame; false when there was one, else the frame is rejected as rate_limited. */
  private limited(conn: Connection, record: SessionRecord, now: number, ref: string | undefined): boolean {
    const wait = takeToken(record, now, this.config);
    if (wait > 0) {
      this.reject(conn, record, now, "rate_limited", "slow down", ref, wait);
      return true;
    }
    conn.save(record);
    return false;
  }

  /** Remove a connection; the last connection of a user makes them `left`. Returns false if it was not here. */
  leave(conn: Connection): boolean {
    const record = conn.load();
    if (!record || !this.members.has(record.cid)) return false;
    this.commit();
    const gone = this.members.remove(record);
    if (gone) {
      if (!gone.posted) {
        // The guest clock starts: one who never comes back is forgotten after the TTL.
        const now = this.now();
        this.store.userAway(this.name, record.uid, now);
        this.guestAway?.(now);
      }
      this.broadcast(JSON.stringify({ type: "left", user: gone.user }));
    }
    return true;
  }

  /** Close every connection (graceful shutdown). */
  closeAll(code: number, reason: string): void {
    this.commit();
    for (const { conn } of this.members.all()) conn.close(code, reason);
  }

  private add(conn: Connection, record: SessionRecord, posted: boolean): void {
    if (this.publish) {
      // A member that cannot subscribe would miss every published frame without a sign.
      if (!conn.subscribe) throw new Error("this host publishes natively, but the connection cannot subscribe");
      conn.subscribe(this.name);
    }
    this.members.add(conn, record, posted);
  }

  private say(conn: Connection, record: SessionRecord, now: number, text: string, ref?: string): void {
    const seq = this.seq + this.uncommitted.length + 1;
    const message: Message = { type: "message", seq, ts: now, from: userOf(record), text };
    if (ref !== undefined) message.ref = ref;
    this.uncommitted.push({ conn, message });
    if (this.uncommitted.length === 1) this.defer(() => this.commit());
  }

  /**
   * Commit every pending say in one transaction, then send them. One commit per batch instead of per
   * message is most of what SQLite costs here, and nobody sees a message before its commit.
   */
  private commit(): void {
    if (this.uncommitted.length === 0) return;
    const batch = this.uncommitted;
    this.uncommitted = [];
    // Authors posting for the first time are marked in the same commit, so they are never forgotten.
    const posters: string[] = [];
    for (const { message } of batch) {
      const entry = this.members.user(message.from.id);
      if (entry && !entry.posted) {
        entry.posted = true;
        posters.push(message.from.id);
      }
    }
    try {
      this.store.appendAll(
        this.name,
        batch.map((p) => p.message),
        this.config.historyLimit,
        posters,
      );
    } catch (err) {
      for (const id of posters) {
        const entry = this.members.user(id);
        if (entry) entry.posted = false;
      }
      console.error(`parley: could not store ${batch.length} message(s) in room ${this.name}:`, (err as Error).message);
      for (const { conn, message } of batch) {
        this.send(conn, errorFrame("internal", "the message could not be stored", message.ref));
      }
      return;
    }
    this.seq = batch[batch.length - 1].message.seq;
    for (const { conn, message } of batch) {
      this.broadcast(JSON.stringify(message));
      if (message.ref !== undefined)
        this.send(conn, JSON.stringify({ type: "ack", ref: message.ref, seq: message.seq }));
    }
  }

  private rename(uid: string, name: string): void {
    const entry = this.members.user(uid);
    if (!entry) return;
    const from = entry.user.name;
    entry.user.name = name;
    // Every connection of the user carries the name in its record, so that a rebuilt room has it.
    for (const conn of this.members.of(uid)) {
      const r = conn.load();
      if (r) {
        r.name = name;
        conn.save(r);
      }
    }
    this.store.renameUser(this.name, uid, name);
    this.broadcast(JSON.stringify({ type: "renamed", user: { ...entry.user }, from }));
  }

  private typing(conn: Connection, record: SessionRecord, now: number): void {
    const entry = this.members.user(record.uid);
    if (!entry) return;
    // The throttle is per user: a user typing in two tabs still sends one notice per interval.
    for (const other of this.members.of(record.uid)) {
      const at = other === conn ? record.typingAt : (other.load()?.typingAt ?? 0);
      if (now - at < this.config.typingIntervalMs) return;
    }
    record.typingAt = now;
    conn.save(record);
    this.broadcast(JSON.stringify({ type: "typing", user: { ...entry.user } }), record.uid);
  }

  private reject(
    conn: Connection,
    record: SessionRecord,
    now: number,
    code: ErrorCode,
    message: string,
    ref?: string,
    retryAfterMs?: number,
  ): void {
    // An error answers a later frame than the says still pending: those go first.
    this.commit();
    this.send(conn, errorFrame(code, message, ref, retryAfterMs));
    const over = strike(record, now, this.config);
    conn.save(record);
    if (over) conn.close(CLOSE.policy, "too many rejected frames");
  }

  /** Send one already-serialized frame to every member, except the connections of `exceptUid`. */
  private broadcast(frame: string, exceptUid?: string): void {
    if (this.publish && exceptUid === undefined) return this.publishToAll(frame);
    for (const member of this.members.all()) {
      if (member.uid !== exceptUid) this.send(member.conn, frame);
    }
  }

  /**
   * One native publish instead of a send per member. The runtime drops a frame silently for a socket
   * past its own backpressure limit, which the adapter sets to twice ours and checks before each send;
   * so a member whose queue was over ours before this frame is closed now, as `send` would have done,
   * long before the runtime would drop anything for it.
   */
  private publishToAll(frame: string): void {
    (this.publish as Publish)(this.name, frame);
    const bytes = utf8Length(frame);
    for (const { conn } of this.members.all()) {
      if (conn.bufferedAmount() - bytes > this.config.maxQueueBytes) conn.close(CLOSE.tryAgainLater, "slow_reader");
    }
  }

  private send(conn: Connection, frame: string): void {
    // What was already waiting decides, not what this frame adds: one frame can be bigger than the limit
    // on its own (a welcome or history page of long messages), and Deno counts a frame as queued until
    // its write completes, so measuring after the send closed readers that kept up (found by
    // tests/reliability/limits.ts). A reader that is really behind is closed one frame later.
    const waiting = conn.bufferedAmount();
    try {
      conn.send(frame);
    } catch {
      // A socket that fails to take a frame is on its way out; its close event removes it.
      return;
    }
    if (waiting > this.config.maxQueueBytes) conn.close(CLOSE.tryAgainLater, "slow_reader");
  }
}
