/**
 * Parley's typed client, on the standard WebSocket API alone: browsers, Deno, Bun, and Node (pass `ws`'s
 * constructor on Node 20, which has no global WebSocket).
 *
 * It keeps one promise to its user: every message of the room is delivered once, in `seq` order, across
 * any number of reconnects. A reconnect resumes with `since` + `epoch` + `token`; when the server can no
 * longer replay the gap, the client pages it with `history` before it delivers anything newer. Messages
 * said while offline wait in a queue with their refs and are sent after the resume, except those the
 * replay shows were already committed, so nothing is posted twice.
 *
 * Only types come from protocol.ts, so that a page bundle carries no validation library.
 */
import type {
  AckFrame,
  ErrorFrame,
  HistoryPage,
  HttpError,
  JoinedFrame,
  LeftFrame,
  Message,
  PongFrame,
  RenamedFrame,
  ServerFrame,
  TypingNotice,
  User,
  WelcomeFrame,
} from "./protocol/index.ts";

export type * from "./protocol/index.ts";

/** Where the connection is: `stopped` is final (a normal close, a refusal, or `close()`). */
export type ConnectionState = "connecting" | "live" | "reconnecting" | "stopped";

export interface StateChange {
  state: ConnectionState;
  /** The close code that led here, if a socket closed. */
  code?: number;
  /** Why, in words: a close reason, or the server's JSON error for a refused handshake. */
  reason?: string;
  /** When reconnecting: the wait before the next attempt. */
  retryInMs?: number;
}

/** Every event a client emits, with its payload. */
export interface ClientEvents {
  state: StateChange;
  /** Each (re)join; `messages` there are also delivered one by one as `message` events. */
  welcome: WelcomeFrame;
  /** Every message of the room exactly once, in `seq` order, live or replayed. */
  message: Message;
  /** The room's numbering restarted (a new epoch): messages delivered before belong to another life. */
  reset: { epoch: string };
  /** The current member list, after any change. */
  members: User[];
  joined: JoinedFrame;
  left: LeftFrame;
  renamed: RenamedFrame;
  typing: TypingNotice;
  ack: AckFrame;
  pong: PongFrame;
  /** An error frame that no pending call claimed. */
  error: ErrorFrame;
  /** The refs and texts waiting to be sent or acknowledged, after any change. */
  queue: { ref: string; text: string }[];
}

/** The part of the WebSocket API the client uses; the browser's, Deno's, Bun's and `ws`'s all fit. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;

export interface ConnectOptions {
  room: string;
  name?: string;
  /** A token from an earlier `welcome` in this room: the same user id comes back. */
  token?: string;
  /** Called with each new token, to keep it (the page uses localStorage). */
  onToken?: (token: string) => void;
  /** Defaults to the global WebSocket. */
  WebSocket?: SocketConstructor;
  /** Defaults to the global fetch; used to learn why a handshake failed. */
  fetch?: typeof fetch;
  /** Application ping while live (default 25 s, under every runtime's idle timeout). */
  pingIntervalMs?: number;
  /** No frame at all for this long after a ping means a dead connection (default 10 s). */
  pongTimeoutMs?: number;
  /** A handshake that has not opened by then is given up and retried (default 15 s). */
  connectTimeoutMs?: number;
  /** Reconnect backoff: the first delay and the cap (defaults 250 ms and 30 s), each jittered. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Random source for jitter and refs (tests pass a fixed one). */
  random?: () => number;
}

// PROTOCOL.md's close-code table, from the client's side.
const STOP = new Set([1000, 1003, 1008, 1009]);
const BACK_OFF = new Set([1011, 1013]);
/** A 429 answer means the address is over its cap; other clients' sockets must close first. */
const CROWDED_MS = 5000;
const OPEN = 1;

type Listener<K extends keyof ClientEvents> = (payload: ClientEvents[K]) => void;
interface Pending {
  text: string;
  resolve: (ack: AckFrame) => void;
  reject: (err: Error) => void;
  /** Refused with `rate_limited`: waits its turn to be sent again. */
  limited?: boolean;
}
interface Rename {
  name: string;
  ref: string;
  resolve: (user: User) => void;
  reject: (err: Error) => void;
}
interface Request<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

/** An error the server sent for one of this client's calls. */
export class ParleyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "ParleyError";
  }
}

/** Open a client for one room of the server at `baseUrl` (http(s):// or ws(s)://). */
export function connect(baseUrl: string, options: ConnectOptions): ParleyClient {
  return new ParleyClient(baseUrl, options);
}

/** One user's connection to one room, reconnecting and resuming until it is stopped. */
export class ParleyClient {
  state: ConnectionState = "connecting";
  /** This user, once welcomed. */
  me?: User;
  /** The connected users, by id. */
  readonly members = new Map<string, User>();
  /** The last `seq` delivered, and the epoch it belongs to. */
  seq = 0;
  epoch?: string;
  token?: string;
  name?: string;

  private readonly opts: ConnectOptions;
  private readonly room: string;
  private readonly wsBase: string;
  private readonly httpBase: string;
  private readonly random: () => number;
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  private readonly pending = new Map<string, Pending>();
  private readonly requests = new Map<string, Request<HistoryPage> | Request<PongFrame>>();
  private socket?: SocketLike;
  private opened = false;
  private attempt = 0;
  private lastRef = 0;
  private refPrefix: string;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private pingTimer?: ReturnType<typeof setInterval>;
  private deadTimer?: ReturnType<typeof setTimeout>;
  private lastTyping = 0;
  /** The one `rate_limited` retry timer; retries go out one at a time, in the order they were said. */
  private flushTimer?: ReturnType<typeof setTimeout>;
  /** The retried say in flight: its ack sends the next one. */
  private flushing?: string;
  private connectTimer?: ReturnType<typeof setTimeout>;
  private renaming?: Rename;
  /** Frames that arrived while a gap was being paged; delivered once it is filled. */
  private held?: ServerFrame[];

  constructor(baseUrl: string, options: ConnectOptions) {
    this.opts = options;
    this.room = options.room;
    this.name = options.name;
    this.token = options.token;
    this.random = options.random ?? Math.random;
    const base = baseUrl.replace(/\/+$/, "");
    this.wsBase = base.replace(/^http/, "ws");
    this.httpBase = base.replace(/^ws/, "http");
    this.refPrefix = Math.floor(this.random() * 36 ** 6).toString(36);
    this.open();
    // Listeners attach after the constructor; tell them where things start.
    queueMicrotask(() => this.state === "connecting" && this.emit("state", { state: "connecting" }));
  }

  /** Listen to one event; returns the function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: Listener<K>): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Post a message. It waits in the queue while offline; resolves with its ack once committed. */
  say(text: string): Promise<AckFrame> {
    // A stopped client never reconnects, so a queued message would wait forever.
    if (this.state === "stopped") return Promise.reject(new ParleyError("stopped", "not sent: the client stopped"));
    const ref = this.nextRef("s");
    return new Promise<AckFrame>((resolve, reject) => {
      // Behind a refused message it waits its turn, so that messages keep the order they were said in.
      const limited = [...this.pending.values()].some((p) => p.limited);
      this.pending.set(ref, { text, resolve, reject, limited });
      this.emitQueue();
      if (this.state === "live" && !limited) this.sendSay(ref);
    });
  }

  /**
   * Change the display name; resolves with this user once the room has it. Offline, the name is asked for
   * on the next join. A later rename supersedes an earlier one still on its way.
   */
  rename(name: string): Promise<User> {
    if (this.state === "stopped") return Promise.reject(new ParleyError("stopped", "the client stopped"));
    this.renaming?.reject(new ParleyError("superseded", "a later rename replaced this one"));
    this.renaming = undefined;
    if (this.state === "live" && this.me?.name === name) return Promise.resolve(this.me);
    this.name = name;
    return new Promise<User>((resolve, reject) => {
      this.renaming = { name, ref: this.nextRef("n"), resolve, reject };
      if (this.state === "live") this.sendRename();
    });
  }

  /** Tell the others this user is typing; calls closer than the server's 2 s throttle send nothing. */
  typing(): void {
    const now = Date.now();
    if (this.state !== "live" || now - this.lastTyping < 2000) return;
    this.lastTyping = now;
    this.send({ type: "typing" });
  }

  /** Older messages: the newest `limit` (at most 100) before `before`, oldest first. */
  history(before: number, limit = 50): Promise<HistoryPage> {
    return this.request<HistoryPage>("h", (ref) => ({ type: "history", before, limit, ref }));
  }

  /** Round trip to the server (it takes a token from the rate bucket, unlike the keep-alive). */
  ping(): Promise<PongFrame> {
    return this.request<PongFrame>("p", (ref) => ({ type: "ping", ref }));
  }

  /** The messages said but not yet acknowledged, oldest first. */
  queued(): { ref: string; text: string }[] {
    return [...this.pending].map(([ref, p]) => ({ ref, text: p.text }));
  }

  /** Leave for good: close normally and stop reconnecting. Unsent messages are rejected. */
  close(): void {
    this.stop(1000, "closed by the client");
  }

  // ---- the socket's life ------------------------------------------------------------------

  private open() {
    const q = new URLSearchParams();
    if (this.name) q.set("name", this.name);
    if (this.token) q.set("token", this.token);
    // Once an epoch is known even `since=0` is a resume: a client that saw an empty room must still get
    // everything posted while it was away, not just the welcome's last 50.
    if (this.epoch) {
      q.set("since", String(this.seq));
      q.set("epoch", this.epoch);
    }
    const path = `/rooms/${encodeURIComponent(this.room)}/ws`;
    const Socket = this.opts.WebSocket ?? (globalThis.WebSocket as unknown as SocketConstructor | undefined);
    if (!Socket) throw new Error("no WebSocket here: pass one as options.WebSocket (on Node 20, ws's)");
    const ws = new Socket(`${this.wsBase}${path}?${q}`, ["parley.v1"]);
    this.socket = ws;
    this.opened = false;
    // A server that accepts the connection and then says nothing would leave the handshake open for ever.
    this.connectTimer = setTimeout(
      () => this.abandon(ws, "the handshake timed out"),
      this.opts.connectTimeoutMs ?? 15_000,
    );
    ws.onopen = () => {
      this.opened = true;
      clearTimeout(this.connectTimer);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      this.alive();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      // Answers to the paging requests (a page, or the error that refused one) must get through.
      const answer =
        frame.type === "history" || (frame.type === "error" && !!frame.ref && this.requests.has(frame.ref));
      if (this.held && !answer) this.held.push(frame);
      else this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.socket === ws) void this.dropped(ev.code, ev.reason, path);
    };
    ws.onerror = () => {};
  }

  private async dropped(code: number, reason: string, path: string) {
    this.socket = undefined;
    this.held = undefined;
    this.clearTimers();
    this.failRequests("the connection closed");
    if (this.state === "stopped") return;
    if (!this.opened) {
      // A failed handshake: a plain GET of the same URL answers the same status, with the reason.
      const why = await this.diagnose(path);
      // close() may have run while the GET was out.
      if ((this.state as ConnectionState) === "stopped") return;
      if (why && (why.status === 400 || why.status === 403)) return this.stop(why.status, why.message);
      return this.retry(code, why?.message ?? reason, why?.status === 429 ? CROWDED_MS : 0);
    }
    if (STOP.has(code)) return this.stop(code, reason);
    // 1013: the room is full or this client fell behind; 1011: the server failed. Give it time.
    this.retry(code, reason, BACK_OFF.has(code) ? 1000 : 0);
  }

  private async diagnose(path: string): Promise<{ status: number; message?: string } | undefined> {
    const fetcher = this.opts.fetch ?? globalThis.fetch;
    if (!fetcher) return undefined;
    try {
      const res = await fetcher(`${this.httpBase}${path}`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json().catch(() => undefined)) as HttpError | undefined;
      return { status: res.status, message: body?.error?.message };
    } catch {
      return undefined;
    }
  }

  private retry(code: number, reason: string, floorMs: number) {
    const { initialMs = 250, maxMs = 30_000 } = this.opts.backoff ?? {};
    const ceiling = Math.min(maxMs, initialMs * 2 ** this.attempt);
    // Full jitter over the upper half, so a server restart is not met by every client at once.
    const delay = Math.max(floorMs, Math.round(ceiling * (0.5 + this.random() / 2)));
    this.attempt++;
    this.setState({ state: "reconnecting", code, reason, retryInMs: delay });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private stop(code: number, reason?: string) {
    if (this.state === "stopped") return;
    this.clearTimers();
    clearTimeout(this.retryTimer);
    const ws = this.socket;
    this.socket = undefined;
    if (ws && ws.readyState <= OPEN) ws.close(1000);
    this.failRequests("the client stopped");
    for (const [ref, p] of this.pending) {
      p.reject(new ParleyError("stopped", `not sent: ${reason ?? "stopped"}`));
      this.pending.delete(ref);
    }
    this.renaming?.reject(new ParleyError("stopped", `not renamed: ${reason ?? "stopped"}`));
    this.renaming = undefined;
    this.emitQueue();
    this.setState({ state: "stopped", code, reason });
  }

  /** Any frame proves the connection alive. */
  private alive() {
    clearTimeout(this.deadTimer);
    this.deadTimer = undefined;
  }

  private keepAlive() {
    const every = this.opts.pingIntervalMs ?? 25_000;
    this.pingTimer = setInterval(() => {
      // The bare ping: Workers answers it without waking the room, and it takes no rate token there.
      this.send({ type: "ping" });
      this.deadTimer ??= setTimeout(() => {
        // No answer: the socket is dead even if the runtime has not noticed. Move on without it.
        if (this.socket) this.abandon(this.socket, "no answer to ping");
      }, this.opts.pongTimeoutMs ?? 10_000);
    }, every);
  }

  /** Give up on a socket that went quiet: it may still deliver late frames, which must go nowhere. */
  private abandon(ws: SocketLike, reason: string) {
    if (this.socket !== ws) return;
    ws.onclose = null;
    ws.onmessage = null;
    ws.close(4000, reason);
    // Opened or not, this is a drop: retry rather than ask the silent server why.
    this.opened = true;
    void this.dropped(1006, reason, `/rooms/${encodeURIComponent(this.room)}/ws`);
  }

  private clearTimers() {
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
    clearTimeout(this.connectTimer);
    clearTimeout(this.flushTimer);
    this.deadTimer = undefined;
    this.flushTimer = undefined;
    this.flushing = undefined;
  }

  // ---- frames -----------------------------------------------------------------------------

  private onFrame(frame: ServerFrame) {
    switch (frame.type) {
      case "welcome":
        return void this.onWelcome(frame);
      case "message":
        return this.deliver(frame);
      case "ack":
        return this.onAck(frame);
      case "joined":
      case "renamed":
        this.members.set(frame.user.id, frame.user);
        if (frame.type === "renamed" && frame.user.id === this.me?.id) {
          this.me = frame.user;
          if (this.renaming?.name === frame.user.name) this.settleRename(frame.user);
          this.name = this.renaming?.name ?? frame.user.name;
        }
        this.emit(frame.type, frame as never);
        return this.emit("members", [...this.members.values()]);
      case "left":
        this.members.delete(frame.user.id);
        this.emit("left", frame);
        return this.emit("members", [...this.members.values()]);
      case "typing":
        return this.emit("typing", frame);
      case "history":
      case "pong":
        return this.answer(frame);
      case "error":
        return this.onError(frame);
    }
  }

  private async onWelcome(w: WelcomeFrame) {
    this.token = w.token;
    this.opts.onToken?.(w.token);
    this.me = w.you;
    // A rename asked for while this socket was opening is not in its welcome; it is sent below.
    this.name = this.renaming?.name ?? w.you.name;
    this.members.clear();
    for (const u of w.members) this.members.set(u.id, u);
    const resuming = this.epoch === w.epoch;
    if (this.epoch !== undefined && this.epoch !== w.epoch) {
      this.seq = 0;
      this.emit("reset", { epoch: w.epoch });
    }
    const gapFrom = this.seq;
    this.epoch = w.epoch;
    this.emit("welcome", w);
    this.emit("members", [...this.members.values()]);

    let replay = w.messages;
    const first = replay[0];
    if (!w.resumed && resuming && first && first.seq > gapFrom + 1) {
      // The server could not replay from `since`: page back to it before delivering anything newer.
      this.held = [];
      try {
        replay = [...(await this.pageBack(first.seq, gapFrom)), ...replay];
      } catch {
        return; // the socket closed while paging; the next welcome starts over
      }
    }
    for (const m of replay) this.deliver(m);
    if (w.seq > this.seq) this.seq = w.seq;
    const held = this.held ?? [];
    this.held = undefined;

    this.attempt = 0;
    // Before the state goes live: a say() from a state listener is sent by say() itself, and would
    // otherwise be sent again by this loop. A new connection starts with a full bucket.
    for (const [ref, p] of this.pending) {
      p.limited = false;
      this.sendSay(ref);
    }
    if (this.renaming) {
      if (this.renaming.name === w.you.name) this.settleRename(w.you);
      else this.sendRename();
    }
    this.setState({ state: "live" });
    this.keepAlive();
    for (const f of held) this.onFrame(f);
  }

  /** Messages with `after < seq < before`, oldest first, paged with `history`. */
  private async pageBack(before: number, after: number): Promise<Message[]> {
    const ws = this.socket;
    const pages: Message[][] = [];
    while (before > after + 1) {
      let page: HistoryPage;
      try {
        page = await this.history(before, 100);
      } catch (err) {
        // Each page takes a rate token, so a long gap can empty the bucket: wait for one, ask again.
        if (!(err instanceof ParleyError) || err.code !== "rate_limited") throw err;
        await new Promise((r) => setTimeout(r, err.retryAfterMs ?? 1000));
        // Another connection's welcome pages the gap for itself.
        if (this.socket !== ws) throw err;
        continue;
      }
      const msgs = page.messages.filter((m) => m.seq > after);
      pages.unshift(msgs);
      if (!page.more || page.messages.length === 0 || msgs.length < page.messages.length) break;
      before = page.messages[0].seq;
    }
    return pages.flat();
  }

  private deliver(m: Message) {
    if (m.seq <= this.seq) return;
    this.seq = m.seq;
    // Our own message, committed: a resend after a reconnect would post it twice.
    if (m.ref && m.from.id === this.me?.id) this.settle(m.ref, { type: "ack", ref: m.ref, seq: m.seq });
    this.emit("message", m);
  }

  private onAck(ack: AckFrame) {
    this.settle(ack.ref, ack);
    this.emit("ack", ack);
  }

  private settle(ref: string, ack: AckFrame) {
    const p = this.pending.get(ref);
    if (!p) return;
    this.pending.delete(ref);
    p.resolve(ack);
    this.emitQueue();
    if (this.flushing === ref) {
      this.flushing = undefined;
      this.flush();
    }
  }

  /** Send the first refused message again; its ack sends the next, a refusal waits `retryAfterMs`. */
  private flush() {
    this.flushTimer = undefined;
    if (this.state !== "live" || this.flushing) return;
    const next = [...this.pending].find(([, p]) => p.limited);
    if (!next) return;
    next[1].limited = false;
    this.flushing = next[0];
    this.sendSay(next[0]);
  }

  private sendRename() {
    const r = this.renaming;
    if (r) this.send({ type: "rename", name: r.name, ref: r.ref });
  }

  private settleRename(user: User) {
    this.renaming?.resolve(user);
    this.renaming = undefined;
  }

  private onError(e: ErrorFrame) {
    const p = e.ref ? this.pending.get(e.ref) : undefined;
    if (p && e.ref) {
      if (e.code === "rate_limited") {
        // The message is fine, the pace was not: send it again when the bucket has a token. Retries go
        // one at a time, oldest first: sent together, all but one would be refused again (each refusal is
        // a strike towards a 1008 close), and a refused message must not fall behind later ones.
        p.limited = true;
        if (this.flushing === e.ref) this.flushing = undefined;
        this.flushTimer ??= setTimeout(() => this.flush(), e.retryAfterMs ?? 1000);
        return;
      }
      this.pending.delete(e.ref);
      this.emitQueue();
      return p.reject(new ParleyError(e.code, e.message, e.retryAfterMs));
    }
    const r = e.ref ? this.requests.get(e.ref) : undefined;
    if (r && e.ref) {
      this.requests.delete(e.ref);
      return r.reject(new ParleyError(e.code, e.message, e.retryAfterMs));
    }
    const rename = this.renaming;
    if (rename && e.ref === rename.ref) {
      if (e.code === "rate_limited") {
        setTimeout(
          () => this.renaming === rename && this.state === "live" && this.sendRename(),
          e.retryAfterMs ?? 1000,
        );
        return;
      }
      this.renaming = undefined;
      this.name = this.me?.name;
      return rename.reject(new ParleyError(e.code, e.message));
    }
    this.emit("error", e);
  }

  private answer(frame: HistoryPage | PongFrame) {
    const r = frame.ref ? this.requests.get(frame.ref) : undefined;
    if (r && frame.ref) {
      this.requests.delete(frame.ref);
      (r as Request<typeof frame>).resolve(frame);
    }
    if (frame.type === "pong") this.emit("pong", frame);
  }

  private request<T extends HistoryPage | PongFrame>(prefix: string, frame: (ref: string) => object): Promise<T> {
    if (!this.socket || this.socket.readyState !== OPEN) {
      return Promise.reject(new ParleyError("offline", "not connected"));
    }
    const ref = this.nextRef(prefix);
    return new Promise<T>((resolve, reject) => {
      this.requests.set(ref, { resolve, reject } as Request<HistoryPage> | Request<PongFrame>);
      this.send(frame(ref));
    });
  }

  private failRequests(why: string) {
    for (const r of this.requests.values()) r.reject(new ParleyError("offline", why));
    this.requests.clear();
  }

  private sendSay(ref: string) {
    const p = this.pending.get(ref);
    if (p) this.send({ type: "say", text: p.text, ref });
  }

  private send(frame: object) {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(frame));
  }

  private nextRef(prefix: string) {
    return `${prefix}${this.refPrefix}-${++this.lastRef}`;
  }

  private setState(change: StateChange) {
    this.state = change.state;
    this.emit("state", change);
  }

  private emitQueue() {
    this.emit("queue", this.queued());
  }

  private emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]) {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as Listener<K>)(payload);
      } catch (err) {
        // One listener's bug must not stop delivery to the others, nor the client itself.
        console.error(err);
      }
    }
  }
}
