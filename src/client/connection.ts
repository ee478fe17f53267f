/**
 * The connection: one user in one room, over one socket at a time. It owns the socket's life (open,
 * keep-alive, drop, backoff, stop) and the dispatch of frames; the outbox, the requests, the rename,
 * the gap paging and the folded view are parts it drives, each working through a Link. The calls that
 * make entries are in calls.ts. index.ts states what it promises.
 */
import { CLIENT_GAVE_UP, CLOSE, SUBPROTOCOL, SUBPROTOCOL_V2, TYPING_INTERVAL_MS } from "../protocol/constants.ts";
import type {
  ClientFrame,
  Entry,
  ErrorFrame,
  HistoryPage,
  MembersPage,
  Message,
  PongFrame,
  PresenceFrame,
  ServerFrame,
  User,
  WelcomeFrame,
} from "../protocol/index.ts";
import { withAccessToken } from "./access.ts";
import { EntryCalls } from "./calls.ts";
import { ParleyError } from "./errors.ts";
import { RoomView } from "./fold.ts";
import { GapFiller, gapAfter } from "./gaps.ts";
import { CONNECT_TIMEOUT_MS, diagnose, joinQuery, socketUrl } from "./handshake.ts";
import { KeepAlive } from "./keepalive.ts";
import type { Link } from "./link.ts";
import { LogReader } from "./log.ts";
import { Outbox } from "./outbox.ts";
import { afterClose, afterRefusal, backoffDelay } from "./reconnect.ts";
import { Renamer } from "./rename.ts";
import { Requests } from "./requests.ts";
import { type Timer, Timers } from "./timers.ts";
import type {
  Ack,
  ConnectionState,
  ConnectOptions,
  EntryCall,
  QueuedMessage,
  SocketConstructor,
  SocketLike,
  StateChange,
} from "./types.ts";

/** What a runtime reports for a socket lost without a close frame, and so what a socket given up on reports. */
const ABNORMAL_CLOSURE = 1006;
/** `readyState` of an open WebSocket. */
const OPEN = 1;

/** One user's connection to one room, reconnecting and resuming until it is stopped. */
export class ParleyClient extends EntryCalls {
  state: ConnectionState = "connecting";
  /** This user, once welcomed. */
  me?: User;
  /**
   * The connected users, by id. In a big room a v2 welcome lists only the first page of them (see
   * `memberCount`); `loadMembers()` fetches the rest, and presence keeps the map current after that.
   */
  readonly members = new Map<string, User>();
  /** How many users are in the room, whether or not `members` lists them all. */
  memberCount: number = 0;
  /** Where the welcome's member list stopped, when it was not everyone (v2, a big room). */
  private membersNext?: number;
  /** The last `seq` delivered, and the epoch it belongs to. */
  seq = 0;
  epoch?: string;
  token?: string;
  name?: string;
  /** The subprotocol of the last welcomed connection: `parley.v2`, or `parley.v1` (an older server). */
  protocol?: string;

  private readonly opts: ConnectOptions;
  private readonly wsBase: string;
  private readonly httpBase: string;
  private readonly random: () => number;
  /** For the handshake, and for an access token function to answer. */
  private readonly connectTimeout: number;
  private readonly refPrefix: string;
  private lastRef = 0;
  private readonly timers = new Timers();
  private readonly outbox: Outbox;
  private readonly requests: Requests;
  private readonly renamer: Renamer;
  private readonly gaps: GapFiller;
  private readonly keepAlive: KeepAlive;
  private readonly view = new RoomView();
  private readonly log: LogReader;
  private socket?: SocketLike;
  /** The current socket's join query and access token, for its diagnostic GET. */
  private handshake?: { query: URLSearchParams; access?: string };
  /** The current socket opened: its close is a drop, not a refused handshake. */
  private opened = false;
  /** Attempts since the last welcome, for the backoff. */
  private attempt = 0;
  private lastTyping = 0;
  private connectTimer?: Timer;

  constructor(baseUrl: string, options: ConnectOptions) {
    super();
    this.opts = options;
    this.name = options.name;
    this.token = options.token;
    this.random = options.random ?? Math.random;
    this.connectTimeout = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    const base = baseUrl.replace(/\/+$/, "");
    this.wsBase = base.replace(/^http/, "ws");
    this.httpBase = base.replace(/^ws/, "http");
    this.refPrefix = Math.floor(this.random() * 36 ** 6).toString(36);
    const client = this;
    const link: Link = {
      get live() {
        return client.state === "live";
      },
      get open() {
        return client.socket?.readyState === OPEN;
      },
      get v2() {
        return client.protocol !== SUBPROTOCOL;
      },
      send: (frame) => this.send(frame),
      nextRef: (prefix) => this.nextRef(prefix),
      timers: this.timers,
    };
    this.outbox = new Outbox(link, (queue) => this.emit("queue", queue));
    this.requests = new Requests(link);
    this.renamer = new Renamer(link);
    this.gaps = new GapFiller(this.requests, this.timers);
    this.log = new LogReader(this, this.view, this.outbox, (event, payload) => this.emit(event, payload));
    this.keepAlive = new KeepAlive(link, options, () => this.socket && this.abandon(this.socket, "no answer to ping"));
    this.openSocket();
    // Listeners attach after the constructor; tell them where things start.
    queueMicrotask(() => this.state === "connecting" && this.emit("state", { state: "connecting" }));
  }

  /**
   * The folded view of the room: each message this client knows, by `seq` in `seq` order, as it now
   * stands. Seeded by a fresh welcome and `history()` pages, then changed by each entry once (`change`).
   */
  get messages(): ReadonlyMap<number, Message> {
    return this.view.messages;
  }

  protected entry(frame: EntryCall): Promise<Ack> {
    // A stopped client never reconnects, so a queued frame would wait forever.
    if (this.state === "stopped") return Promise.reject(new ParleyError("stopped", "not sent: the client stopped"));
    return this.outbox.add(frame);
  }

  /**
   * Change the display name; resolves with this user once the room has it. Offline, the name is asked for
   * on the next join. A later rename supersedes an earlier one still on its way.
   */
  rename(name: string): Promise<User> {
    if (this.state === "stopped") return Promise.reject(new ParleyError("stopped", "the client stopped"));
    this.renamer.supersede();
    if (this.state === "live" && this.me?.name === name) return Promise.resolve(this.me);
    this.name = name;
    return this.renamer.ask(name);
  }

  /** Tell the others this user is typing; calls closer than the server's relay interval send nothing. */
  typing(): void {
    const now = Date.now();
    if (this.state !== "live" || now - this.lastTyping < TYPING_INTERVAL_MS) return;
    this.lastTyping = now;
    this.send({ type: "typing" });
  }

  /** Older messages: the newest `limit` (at most 100) before `before`, oldest first, folded; the view adds them. */
  history(before: number, limit = 50): Promise<HistoryPage> {
    const frame = (ref: string) => ({ type: "history", before, limit, ref }) as const;
    return this.requests.ask<HistoryPage>("h", frame, (page) => this.log.page(page.messages));
  }

  /** v2: fetch every member the welcome did not list, page by page; resolves with them all. */
  async loadMembers(): Promise<User[]> {
    while (this.membersNext !== undefined) {
      const after = this.membersNext;
      const page = await this.requests.ask<MembersPage>("m", (ref) => ({ type: "members", after, ref }));
      for (const u of page.members) this.members.set(u.id, u);
      this.memberCount = page.count;
      this.membersNext = page.next;
    }
    this.emit("members", [...this.members.values()]);
    return [...this.members.values()];
  }

  /** Round trip to the server (it takes a token from the rate bucket, unlike the keep-alive). */
  ping(): Promise<PongFrame> {
    return this.requests.ask<PongFrame>("p", (ref) => ({ type: "ping", ref }));
  }

  /** The messages said but not yet acknowledged, oldest first. */
  queued(): QueuedMessage[] {
    return this.outbox.list();
  }

  /** Leave for good: close normally and stop reconnecting. Unsent messages are rejected. */
  close(): void {
    this.stop(CLOSE.normal, "closed by the client");
  }

  // ---- the socket's life ------------------------------------------------------------------

  /** Open a socket once the access token is there (the application's function may take a while). */
  private openSocket() {
    const stopped = () => this.state === "stopped";
    const open = (access?: string) => this.openWith(access);
    withAccessToken(this.opts.accessToken, this.timers, this.connectTimeout, stopped, open, (reason) => {
      // A failed attempt with no socket: back off and ask again, without a diagnostic GET.
      this.opened = true;
      void this.dropped(ABNORMAL_CLOSURE, reason);
    });
  }

  private openWith(access: string | undefined) {
    const Socket = this.opts.WebSocket ?? (globalThis.WebSocket as unknown as SocketConstructor | undefined);
    if (!Socket) throw new Error("no WebSocket here: pass one as options.WebSocket (on Node 20, ws's)");
    const query = joinQuery({ name: this.name, token: this.token, epoch: this.epoch, seq: this.seq });
    this.handshake = { query, access };
    // v2 first; a server that only knows v1 selects that, and the client works as a v1 client.
    const ws = new Socket(socketUrl(this.wsBase, this.opts.room, query, access), [SUBPROTOCOL_V2, SUBPROTOCOL]);
    this.socket = ws;
    this.opened = false;
    // A server that accepts the connection and then says nothing would leave the handshake open for ever.
    this.connectTimer = this.timers.after(this.connectTimeout, () => this.abandon(ws, "the handshake timed out"));
    ws.onopen = () => {
      this.opened = true;
      this.connectTimer?.cancel();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      this.keepAlive.heard();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!this.gaps.defer(frame)) this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.socket === ws) void this.dropped(ev.code, ev.reason);
    };
    ws.onerror = () => {};
  }

  private async dropped(code: number, reason: string) {
    this.socket = undefined;
    this.forgetSocket("the connection closed");
    if (this.state === "stopped") return;
    let next = afterClose(code, reason);
    if (!this.opened) {
      const fetcher = this.opts.fetch ?? globalThis.fetch;
      // The upgrade's query (a ban can be by reconnect token); the access token goes as a header.
      const url = socketUrl(this.httpBase, this.opts.room, this.handshake?.query ?? new URLSearchParams());
      const why = await diagnose(url, fetcher, this.timers, this.handshake?.access);
      // close() may have run while the GET was out.
      if ((this.state as ConnectionState) === "stopped") return;
      next = afterRefusal(code, reason, why);
    }
    if (next.stop) return this.stop(next.code, next.reason);
    const delay = backoffDelay(this.attempt++, next.floorMs, this.opts.backoff, this.random);
    // Started before the listeners hear of it, so that a close() from one of them clears it.
    this.timers.after(delay, () => this.openSocket());
    this.setState({ state: "reconnecting", code: next.code, reason: next.reason, retryInMs: delay });
  }

  /** What belonged to the socket that is gone: every timer, the deferred frames, the requests. */
  private forgetSocket(why: string) {
    this.timers.clear();
    this.gaps.dropped();
    this.outbox.dropped();
    this.requests.failAll(why);
  }

  private stop(code: number, reason?: string) {
    if (this.state === "stopped") return;
    const ws = this.socket;
    this.socket = undefined;
    this.forgetSocket("the client stopped");
    if (ws) {
      // Frames read before the close completes still arrive; a stopped client must not act on them.
      ws.onopen = null;
      ws.onmessage = null;
      if (ws.readyState <= OPEN) ws.close(CLOSE.normal);
    }
    this.outbox.failAll(reason ?? "stopped");
    this.renamer.fail(reason ?? "stopped");
    this.emit("queue", this.outbox.list());
    this.setState({ state: "stopped", code, reason });
  }

  /** Give up on a socket that went quiet: it may still deliver late frames, which must go nowhere. */
  private abandon(ws: SocketLike, reason: string) {
    if (this.socket !== ws) return;
    ws.onclose = null;
    ws.onmessage = null;
    ws.close(CLIENT_GAVE_UP, reason);
    // Opened or not, this is a drop: retry rather than ask the silent server why.
    this.opened = true;
    void this.dropped(ABNORMAL_CLOSURE, reason);
  }

  // ---- frames -----------------------------------------------------------------------------

  private onFrame(frame: ServerFrame) {
    switch (frame.type) {
      case "welcome":
        return void this.onWelcome(frame);
      case "message":
      case "edited":
      case "deleted":
      case "reacted":
      case "moderated":
        return this.log.apply(frame);
      case "ack":
        this.outbox.settle(frame.ref, frame);
        return this.emit("ack", frame);
      case "joined":
      case "renamed":
        if (frame.type === "joined" && !this.members.has(frame.user.id)) this.memberCount++;
        this.members.set(frame.user.id, frame.user);
        if (frame.type === "renamed" && frame.user.id === this.me?.id) {
          this.me = frame.user;
          this.renamer.heard(frame.user);
          this.name = this.renamer.name ?? frame.user.name;
        }
        this.emit(frame.type, frame as never);
        return this.emit("members", [...this.members.values()]);
      case "left":
        this.members.delete(frame.user.id);
        this.memberCount = Math.max(this.members.size, this.memberCount - 1);
        this.emit("left", frame);
        return this.emit("members", [...this.members.values()]);
      case "presence":
        return this.onPresence(frame);
      case "members":
        return this.requests.answer(frame);
      case "typing":
        return this.emit("typing", frame);
      case "history":
        return this.requests.answer(frame);
      case "pong":
        this.requests.answer(frame);
        return this.emit("pong", frame);
      case "error":
        return this.onError(frame);
    }
  }

  /** A big room's joins and leaves since the last presence frame, told as the events a small room's are. */
  private onPresence(frame: PresenceFrame) {
    for (const user of frame.joined) {
      this.members.set(user.id, user);
      if (user.id !== this.me?.id) this.emit("joined", { type: "joined", user });
    }
    for (const user of frame.left) {
      this.members.delete(user.id);
      this.emit("left", { type: "left", user });
    }
    this.memberCount = frame.count;
    this.emit("members", [...this.members.values()]);
  }

  private async onWelcome(w: WelcomeFrame) {
    this.token = w.token;
    this.opts.onToken?.(w.token);
    this.me = w.you;
    // A rename asked for while this socket was opening is not in its welcome; it is sent below.
    this.name = this.renamer.name ?? w.you.name;
    this.members.clear();
    for (const u of w.members) this.members.set(u.id, u);
    this.members.set(w.you.id, w.you);
    this.memberCount = w.memberCount ?? this.members.size;
    this.membersNext = w.membersNext;
    this.protocol = this.socket?.protocol === SUBPROTOCOL ? SUBPROTOCOL : SUBPROTOCOL_V2;
    const resuming = this.epoch === w.epoch;
    if (this.epoch !== undefined && this.epoch !== w.epoch) {
      this.seq = 0;
      this.log.reset();
      this.emit("reset", { epoch: w.epoch });
    }
    const gapFrom = this.seq;
    this.epoch = w.epoch;
    this.emit("welcome", w);
    this.emit("members", [...this.members.values()]);

    // A fresh join's `messages` are folded (they seed the view); a resume's are every entry since.
    let replay: (Message | Entry)[] = w.messages;
    const gap = gapAfter(w, resuming ? gapFrom : undefined, this.protocol === SUBPROTOCOL_V2);
    if (gap) {
      // The server could not replay from `since`: page back to it before delivering anything newer.
      const ws = this.socket;
      try {
        const paged = await this.gaps.fill(gap, gapFrom, () => this.socket === ws);
        replay = gap.entries ? paged : [...paged, ...replay];
      } catch {
        return; // the socket closed while paging; the next welcome starts over
      }
    }
    for (const e of replay) this.log.apply(e);
    if (w.seq > this.seq) this.seq = w.seq;
    const deferred = this.gaps.release();

    this.attempt = 0;
    // Before the state goes live: a say() from a state listener is sent by say() itself, and would
    // otherwise be sent again by sendAll().
    this.outbox.sendAll();
    this.renamer.welcomed(w.you);
    // Also before: a close() from a state listener must find the keep-alive to clear it.
    this.keepAlive.start();
    this.setState({ state: "live" });
    for (const f of deferred) this.onFrame(f);
  }

  private onError(e: ErrorFrame) {
    if (this.outbox.refuse(e) || this.requests.refuse(e)) return;
    if (this.renamer.refuse(e)) {
      // Refused for good (not just rate limited): the name stays the one the room has.
      if (this.renamer.name === undefined) this.name = this.me?.name;
      return;
    }
    this.emit("error", e);
  }

  private send(frame: ClientFrame) {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(frame));
  }

  private nextRef(prefix: string) {
    return `${prefix}${this.refPrefix}-${++this.lastRef}`;
  }

  private setState(change: StateChange) {
    this.state = change.state;
    this.emit("state", change);
  }
}
