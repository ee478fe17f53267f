/**
 * The room engine: members, presence, the room log's order and the per-frame rules. It is
 * runtime-agnostic: it sees sockets only through `Connection` and storage only through `Store`, so the
 * same code runs in a Node/Deno/Bun process and inside a Durable Object.
 */
import type { Outcome } from "./actions.ts";
import type { Identity } from "./auth.ts";
import type { Config } from "./config.ts";
import { Fanout, type Publish } from "./fanout.ts";
import { randomHex } from "./ids.ts";
import { takeFrom } from "./limits.ts";
import { log } from "./log.ts";
import { Members } from "./members.ts";
import { meter } from "./metrics.ts";
import { errorFrame, LatestPage, welcomeFrame, withRef } from "./outgoing.ts";
import { type Later, Presence } from "./presence.ts";
import {
  CLOSE,
  type ErrorCode,
  frameParser,
  MEMBERS_PAGE,
  PAGE_MAX_BYTES,
  type Parsed,
  type RoomInfo,
  type User,
} from "./protocol/index.ts";
import { type ApiWrites, type Defer, RoomLog } from "./room-log.ts";
import { type Connection, newRecord, type SessionRecord, strike, takeToken, userOf } from "./session.ts";
import type { Store } from "./store/store.ts";
import { utf8Length } from "./text.ts";

export type { Publish } from "./fanout.ts";
export { API_USER, type ApiWrites, type Defer } from "./room-log.ts";

/** What a client asked for in its upgrade, already validated. */
export interface JoinRequest {
  name?: string;
  token?: string;
  since?: number;
  epoch?: string;
  /** The client's address group (src/limits.ts). */
  group: string;
  /** The protocol the connection selected: 2 for `parley.v2` (default 1). */
  version?: 1 | 2;
  /** A signed user, verified at the upgrade (PROTOCOL-v2 section 2). */
  identity?: Identity;
}

/** Commit each entry as it comes (tests, and hosts whose events never share a turn). */
const immediately: Defer = (fn) => fn();

/** What a room is built with; only `store` and `config` are required. */
export interface RoomOptions {
  store: Store;
  config: Config;
  /** The clock (tests pass a fake one). */
  now?: () => number;
  /** When the room commits the entries it took in (default: each at once). */
  defer?: Defer;
  /** The runtime's native publish, when it has one; the room then broadcasts to all with it (Bun). */
  publish?: Publish;
  /** A guest who never posted went away at `at`: the host schedules forgetting them. */
  guestAway?: (at: number) => void;
  /** After each commit (webhook deliveries). */
  committed?: (room: string) => void;
  /** The host's timer, for a big room's `presence` frames (default: `defer`, at the end of the turn). */
  later?: Later;
}

/**
 * One chat room: the single source of order for its log. It assumes that a connection's `close` does
 * not run that connection's leave before it returns; an adapter whose runtime does (Bun) defers its
 * close, so that a `left` cannot come between a sender's entry and its `ack`.
 */
export class Room {
  readonly epoch: string;
  private readonly members = new Members();
  private readonly fanout: Fanout;
  private readonly presence: Presence;
  private readonly log: RoomLog;
  private readonly store: Store;
  private readonly config: Config;
  private readonly now: () => number;
  private readonly guestAway?: (at: number) => void;
  private readonly parse: { 1: (text: string) => Parsed; 2: (text: string) => Parsed };
  private readonly latest: LatestPage;

  constructor(
    readonly name: string,
    options: RoomOptions,
  ) {
    this.store = options.store;
    this.config = options.config;
    this.now = options.now ?? Date.now;
    this.guestAway = options.guestAway;
    this.parse = { 1: frameParser({ ...this.config, version: 1 }), 2: frameParser({ ...this.config, version: 2 }) };
    this.fanout = new Fanout(name, this.members, this.config, options.publish);
    const defer = options.defer ?? immediately;
    this.presence = new Presence(this.members, this.fanout, this.config, options.later ?? ((fn) => defer(fn)));
    this.epoch = this.store.meta(name).epoch;
    this.latest = new LatestPage(this.store, name, this.config.welcomeMessages);
    this.log = new RoomLog({
      room: name,
      store: this.store,
      config: this.config,
      members: this.members,
      fanout: this.fanout,
      now: this.now,
      defer,
      committed: options.committed,
    });
  }

  /** Send what waits for the group commit now (before any frame that must come after it). */
  private commit(): void {
    this.log.commit();
  }

  /** The HTTP API's writes (PROTOCOL-v2 section 4): straight to the log, committed before they return. */
  get api(): ApiWrites {
    return this.log;
  }

  /** Connections currently in the room. */
  get size(): number {
    return this.members.size;
  }

  /** How many users are in the room. */
  get userCount(): number {
    return this.members.userCount;
  }

  /** Users currently in the room, each once. */
  memberList(): User[] {
    return this.members.list();
  }

  /** The public state of the room, as `GET /api/rooms/:room` answers it. */
  info(): RoomInfo {
    this.commit();
    return { room: this.name, epoch: this.epoch, seq: this.log.seq, members: this.memberList() };
  }

  /**
   * Admit a new connection: send its `welcome`, then tell everyone else. Returns false (after closing
   * the connection) when the room is full, full for the connection's address group, or bans the user.
   */
  join(conn: Connection, req: JoinRequest, cid: string): boolean {
    this.commit();
    const signed = req.identity;
    let stored = signed
      ? this.store.userBySub(this.name, signed.sub)
      : req.token
        ? this.store.userByToken(this.name, req.token)
        : undefined;
    // A reconnect token never restores a signed identity (the app refuses it 401 before the upgrade).
    if (!signed && stored?.sub !== undefined) stored = undefined;
    const present = stored && this.members.user(stored.id);
    if (!present && this.members.userCount >= this.config.maxMembers) return this.refuse(conn, "room_full");
    // Anonymous users per address group: one address cannot fill a room with guests. A user already
    // connected from the group may open another tab.
    const fromGroup = this.members.fromGroup(req.group, stored?.id);
    if (!signed && !fromGroup.includes && fromGroup.users >= this.config.maxMembersPerIp) {
      return this.refuse(conn, "room_full");
    }
    const now = this.now();
    if (this.store.banned(this.name, now, { uid: stored?.id, group: signed ? undefined : req.group })) {
      conn.close(CLOSE.policy, "banned");
      return false;
    }
    if (stored && !present) this.store.userAway(this.name, stored.id, undefined);
    const wanted = signed ? signed.name : req.name;
    stored ??= this.store.createUser(this.name, (id) => wanted ?? `guest-${id}`, randomHex(), signed?.sub);
    let name = present?.user.name ?? stored.name;
    if (wanted !== undefined && wanted !== name) {
      // A present user who reconnects with a new name is renamed everywhere before this welcome.
      if (present) this.rename(stored.id, wanted);
      else this.store.renameUser(this.name, stored.id, wanted);
      name = wanted;
    }
    const who = { cid, room: this.name, uid: stored.id, name, token: stored.token, group: req.group };
    const record = newRecord(this.config, now, { ...who, v: req.version ?? 1 });
    if (signed) record.sub = signed.sub;
    if (signed?.role === "moderator") record.role = "moderator";
    conn.save(record);
    this.add(conn, record, stored.posted);
    // A v2 welcome lists one page of users, so that it costs the same in any room; v1's lists them all.
    const users = record.v === 2 ? this.members.page(undefined, MEMBERS_PAGE) : undefined;
    const at = {
      room: this.name,
      epoch: this.epoch,
      seq: this.log.seq,
      members: users?.members ?? this.memberList(),
      latest: (budget: number) => this.latest.get(this.log.seq, budget),
    };
    this.fanout.send(conn, welcomeFrame(this.store, this.config, at, req, record, users));
    if (!present) this.presence.joined(userOf(record));
    log.debug("joined", { room: this.name, uid: record.uid, cid, v: record.v });
    return true;
  }

  private refuse(conn: Connection, reason: string): false {
    conn.close(CLOSE.tryAgainLater, reason);
    return false;
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
    const parsed = this.parse[record.v === 2 ? 2 : 1](data);
    if (!parsed.ok) return this.reject(conn, record, now, parsed.code, parsed.message, parsed.ref);
    const frame = parsed.frame;
    // Entries wait for a group commit; any other frame first lets the entries before it go out, so
    // every client sees frames in the order they were taken in. Typing takes no token.
    if (frame.type === "typing") {
      this.commit();
      return this.typing(conn, record, now);
    }
    if (frame.type !== "say" && frame.type !== "edit" && frame.type !== "react") this.commit();
    if (this.limited(conn, record, now, frame.ref)) return;
    const actor = userOf(record);
    const rules = this.log.rules;
    switch (frame.type) {
      case "say": {
        const refused = rules.muted(actor, now) ?? (frame.replyTo ? rules.replyTo(frame.replyTo) : undefined);
        if (refused)
          return this.reject(conn, record, now, refused.code, refused.message, frame.ref, refused.retryAfterMs);
        return this.log.say(conn, actor, now, frame.text, frame.ref, frame.replyTo);
      }
      case "edit":
        return this.act(conn, record, now, frame.ref, rules.edit(actor, frame.target, frame.text, now));
      case "react":
        return this.act(conn, record, now, frame.ref, rules.react(actor, frame, now));
      case "delete":
        return this.act(conn, record, now, frame.ref, rules.delete(actor, frame.target));
      case "kick":
      case "ban":
      case "unban":
      case "mute":
        return this.act(conn, record, now, frame.ref, rules.moderate(actor, frame.type, frame.user, now, { ...frame }));
      case "rename":
        if (record.sub !== undefined) {
          return this.reject(conn, record, now, "forbidden", "a signed user's name is the token's", frame.ref);
        }
        return this.rename(record.uid, frame.name);
      case "history": {
        // The frame's own fields and its ref take well under 200 bytes of the page's budget.
        const budget = PAGE_MAX_BYTES - 200;
        const limit = frame.limit ?? 50;
        const page =
          "entries" in frame && frame.entries
            ? this.store.entriesBefore(this.name, frame.before, limit, budget)
            : this.store.history(this.name, limit, frame.before, budget);
        return this.fanout.send(conn, withRef({ type: "history", ...page }, frame.ref));
      }
      case "ping":
        return this.fanout.send(conn, withRef({ type: "pong" }, frame.ref));
      case "members": {
        const page = this.members.page(frame.after, frame.limit ?? MEMBERS_PAGE);
        return this.fanout.send(conn, withRef({ type: "members", ...page }, frame.ref));
      }
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
    meter.count("rate_limited");
    this.commit();
    if (now - record.limitedAt >= 1000) {
      record.limitedAt = now;
      this.fanout.send(conn, errorFrame("rate_limited", "too many frames: slow down", undefined, wait));
    }
    if (strike(record, now, this.config)) conn.close(CLOSE.policy, "too many rejected frames");
    conn.save(record);
    return true;
  }

  /** Take a token for a frame; false when there was one, else the frame is rejected as rate_limited. */
  private limited(conn: Connection, record: SessionRecord, now: number, ref: string | undefined): boolean {
    const wait = takeToken(record, now, this.config);
    if (wait > 0) {
      meter.count("rate_limited");
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
      this.presence.left(gone.user);
    }
    return true;
  }

  /** Close every connection (graceful shutdown). */
  closeAll(code: number, reason: string): void {
    this.commit();
    for (const { conn } of this.members.all()) conn.close(code, reason);
  }

  private add(conn: Connection, record: SessionRecord, posted: boolean): void {
    this.fanout.subscribe(conn, record);
    this.members.add(conn, record, posted);
  }

  /** Take in what a v2 frame makes: a refusal, a no-op ack, or an entry for the group commit. */
  private act(conn: Connection, record: SessionRecord, now: number, ref: string | undefined, outcome: Outcome): void {
    if ("code" in outcome)
      return this.reject(conn, record, now, outcome.code, outcome.message, ref, outcome.retryAfterMs);
    if (!("fields" in outcome)) {
      // No change: acked with no seq, after the entries before it.
      this.commit();
      if (ref !== undefined) this.fanout.send(conn, JSON.stringify({ type: "ack", ref }));
      return;
    }
    this.log.append(conn, userOf(record), now, ref, outcome);
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
    this.fanout.broadcast(JSON.stringify({ type: "renamed", user: { ...entry.user }, from }));
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
    this.fanout.broadcast(JSON.stringify({ type: "typing", user: { ...entry.user } }), record.uid);
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
    // An error answers a later frame than the entries still pending: those go first.
    this.commit();
    meter.count("frames_rejected", { code });
    log.debug("frame_rejected", { room: this.name, uid: record.uid, code });
    this.fanout.send(conn, errorFrame(code, message, ref, retryAfterMs));
    const over = strike(record, now, this.config);
    conn.save(record);
    if (over) conn.close(CLOSE.policy, "too many rejected frames");
  }
}
