/**
 * Background chat traffic for reliability tests: many lean raw `ws` clients in a few rooms, each saying
 * something on a steady beat and checking, as frames arrive, that its room's `seq` never skips or
 * repeats. A test marks the load, does its own thing against the same server, then asks the load
 * whether anyone in it was disturbed.
 */
import WebSocket from "ws";
import { fromAddress, nextAddress } from "./fixtures.ts";

export interface LoadOptions {
  /** ws://HOST:PORT of the server. */
  wsUrl: string;
  rooms: string[];
  perRoom: number;
  /** Each client says one message every `everyMs`, the first at a random point of its first period. */
  everyMs: number;
  /** Characters of text per message (default 16). */
  textLength?: number;
  /** Handshakes in flight at once while connecting (default 20). */
  concurrency?: number;
  /** Headers of client `i` (default: a fresh address of its own). */
  headers?: (i: number) => Record<string, string>;
  /** Connect only; the traffic starts with `resume()`. */
  paused?: boolean;
}

export interface RoomState {
  name: string;
  clients: LoadClient[];
  /** `seq` when the load joined (no traffic had started yet). */
  baseSeq: number;
  /** Highest `seq` acked to any load client, and how many acks there were. */
  topAck: number;
  acks: number;
  /** Every ack: seq → ref (to look for each acked message in the store later). */
  acked: Map<number, string>;
}

const MESSAGE = Buffer.from('{"type":"message","seq":');
const MAX_NOTES = 5;

/** One load connection, with what it has seen. */
export class LoadClient {
  readonly ws: WebSocket;
  welcomeSeq = -1;
  /** The next `seq` this client should see. */
  expected = -1;
  received = 0;
  sent = 0;
  acked = 0;
  errors = 0;
  /** The first few things that went wrong (out-of-order seq, error frames), for the failure message. */
  readonly notes: string[] = [];
  closed?: { code: number; reason: string };
  /** The user this connection is, from its welcome. */
  you?: { id: string; name: string };
  nextAt = 0;
  readonly welcomed: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly room: RoomState,
    url: string,
    headers: Record<string, string>,
  ) {
    this.ws = new WebSocket(url, { headers, perMessageDeflate: false });
    this.welcomed = new Promise((resolve, reject) => {
      this.ws.on("message", (data: Buffer) => {
        this.onFrame(data, resolve);
        this.wake();
      });
      this.ws.on("close", (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        reject(new Error(`load client ${id} closed (${code} ${reason}) before its welcome`));
        this.wake();
      });
      this.ws.on("error", () => {});
    });
    this.welcomed.catch(() => {});
  }

  private onFrame(data: Buffer, welcomed: () => void) {
    // Messages are most of the traffic: read the seq straight from the bytes (Parley serializes `type`
    // then `seq` first) and parse JSON only for everything else. Nothing is kept but counts.
    if (data.length > MESSAGE.length && data.compare(MESSAGE, 0, MESSAGE.length, 0, MESSAGE.length) === 0) {
      let seq = 0;
      for (let i = MESSAGE.length; data[i] >= 48 && data[i] <= 57; i++) seq = seq * 10 + data[i] - 48;
      return this.onMessage(seq);
    }
    const f = JSON.parse(data.toString());
    if (f.type === "message") this.onMessage(f.seq);
    else if (f.type === "welcome") {
      this.welcomeSeq = f.seq;
      this.expected = f.seq + 1;
      this.you = f.you;
      welcomed();
    } else if (f.type === "ack") {
      this.acked++;
      this.room.acks++;
      this.room.topAck = Math.max(this.room.topAck, f.seq);
      this.room.acked.set(f.seq, f.ref);
    } else if (f.type === "error") {
      this.errors++;
      this.note(`error ${f.code}: ${f.message}`);
    }
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  private note(s: string) {
    if (this.notes.length < MAX_NOTES) this.notes.push(s);
  }

  private onMessage(seq: number) {
    if (seq !== this.expected) this.note(`seq ${seq} after ${this.expected - 1}`);
    this.expected = seq + 1;
    this.received++;
  }

  /** The last seq this client saw. */
  get last(): number {
    return this.expected - 1;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  say(text: string) {
    this.sent++;
    this.ws.send(`{"type":"say","text":"${text}","ref":"${this.id}-${this.sent}"}`);
  }

  /** Resolves once `cond()` holds, checked at each frame and at the close; fails after `timeoutMs`. */
  async until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) {
        const why = this.closed ? `closed ${this.closed.code} ${this.closed.reason}` : `not within ${timeoutMs} ms`;
        throw new Error(`load client ${this.id}: ${what}: ${why}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** What `Load.mark()` remembers: how many messages each client had then. */
export type Mark = Map<LoadClient, number>;

export interface CheckOptions {
  /** Each client must have received at least this many messages since the mark (default 1). */
  minNew?: number;
  /** A close with this code is expected (shutdown); any other close is a problem. */
  closeCode?: number;
  /**
   * This close code is accepted too, but only from a client whose last say was still unanswered when
   * it was closed: Deno drops a closing socket when a data frame reaches it, so a client whose say
   * crossed the server's Close loses that Close (docs/protocol.md, "Deno, a say crossing a close").
   */
  inFlightClose?: number;
}

/** Many clients chatting in a few rooms, in the background. */
export class Load {
  readonly clients: LoadClient[] = [];
  readonly rooms: RoomState[];
  private timer?: ReturnType<typeof setInterval>;
  private paused = false;
  private readonly text: string;

  private constructor(private readonly opts: LoadOptions) {
    this.rooms = opts.rooms.map((name) => ({ name, clients: [], baseSeq: 0, topAck: 0, acks: 0, acked: new Map() }));
    this.text = "x".repeat(opts.textLength ?? 16);
  }

  /** Connect every client (each waits for its welcome), then start the traffic unless `paused`. */
  static async start(opts: LoadOptions): Promise<Load> {
    const load = new Load(opts);
    const total = opts.rooms.length * opts.perRoom;
    let i = 0;
    const worker = async () => {
      while (i < total) {
        const n = i++;
        // Round robin, so that the rooms fill side by side.
        const room = load.rooms[n % load.rooms.length];
        const headers = opts.headers?.(n) ?? fromAddress(nextAddress());
        const c = new LoadClient(n, room, `${opts.wsUrl}/rooms/${room.name}/ws?name=load-${n}`, headers);
        load.clients.push(c);
        room.clients.push(c);
        await c.welcomed;
      }
    };
    try {
      await Promise.all(Array.from({ length: opts.concurrency ?? 20 }, worker));
    } catch (err) {
      load.terminate();
      throw err;
    }
    for (const room of load.rooms) room.baseSeq = Math.max(...room.clients.map((c) => c.welcomeSeq));
    if (opts.paused) load.paused = true;
    else load.resume();
    return load;
  }

  /** Start (or restart) saying things. */
  resume() {
    this.paused = false;
    if (this.timer) return;
    const every = this.opts.everyMs;
    const now = Date.now();
    for (const c of this.clients) c.nextAt = now + Math.random() * every;
    this.timer = setInterval(
      () => {
        if (this.paused) return;
        const now = Date.now();
        for (const c of this.clients) {
          if (now < c.nextAt || !c.open) continue;
          c.say(this.text);
          // A late tick never sends a burst to catch up: the beat (and so the rate bucket) stays steady.
          c.nextAt = Math.max(c.nextAt + every, now + every / 2);
        }
      },
      Math.max(5, Math.min(25, every / 4)),
    );
  }

  /** Stop saying things (the clients stay connected). */
  pause() {
    this.paused = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  mark(): Mark {
    return new Map(this.clients.map((c) => [c, c.received]));
  }

  /** Messages received by all clients so far. */
  get received(): number {
    return this.clients.reduce((n, c) => n + c.received, 0);
  }

  /** Messages said (acked) so far. */
  get acked(): number {
    return this.rooms.reduce((n, r) => n + r.acks, 0);
  }

  /**
   * Wait until every open client has received at least `minNew` messages since `mark`: proof that the
   * traffic is flowing, without guessing how long that takes. Returns the clients still short of it.
   */
  async flowing(mark: Mark, minNew: number, timeoutMs = 20_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const short = this.clients.filter((c) => c.open && c.received - (mark.get(c) ?? 0) < minNew);
      if (short.length === 0) return [];
      if (Date.now() > deadline) {
        return short
          .slice(0, MAX_NOTES)
          .map((c) => `client ${c.id} (${c.room.name}): ${c.received - (mark.get(c) ?? 0)} of ${minNew} messages`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Pause and wait until every say has its answer and every open client has seen its room's newest
   * acked message. Returns the problems if that does not happen within `timeoutMs`.
   */
  async settle(timeoutMs = 20_000): Promise<string[]> {
    this.pause();
    const deadline = Date.now() + timeoutMs;
    const behind = () => this.clients.filter((c) => c.open && (c.acked + c.errors < c.sent || c.last < c.room.topAck));
    for (;;) {
      const late = behind();
      if (late.length === 0) return [];
      if (Date.now() > deadline) {
        return late
          .slice(0, MAX_NOTES)
          .map(
            (c) =>
              `client ${c.id} (${c.room.name}) not settled after ${timeoutMs} ms: sent ${c.sent}, acked ${c.acked}, errors ${c.errors}, last seq ${c.last} of ${c.room.topAck}`,
          );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Everything that shows a load client was disturbed: a seq out of order, an error frame, a close
   * (other than `closeCode`), fewer than `minNew` messages since `mark`, or a message of its room it
   * never got. Call after `settle()`.
   */
  problems(mark: Mark, opts: CheckOptions = {}): string[] {
    const out: string[] = [];
    const minNew = opts.minNew ?? 1;
    for (const c of this.clients) {
      const tag = `client ${c.id} (${c.room.name})`;
      for (const n of c.notes) out.push(`${tag}: ${n}`);
      const crossed = c.closed?.code === opts.inFlightClose && c.sent > c.acked + c.errors;
      if (c.closed && c.closed.code !== opts.closeCode && !crossed) {
        out.push(`${tag}: closed ${c.closed.code} ${c.closed.reason}`);
      } else if (!c.closed && opts.closeCode !== undefined) out.push(`${tag}: still open, expected ${opts.closeCode}`);
      const got = c.received - (mark.get(c) ?? 0);
      if (got < minNew) out.push(`${tag}: ${got} messages since the mark, expected at least ${minNew}`);
      if (c.last < c.room.topAck) out.push(`${tag}: last seq ${c.last}, but seq ${c.room.topAck} was acked`);
    }
    for (const r of this.rooms) {
      // Every acked say is one seq: more seqs than acks means messages nobody in the load asked for.
      if (opts.closeCode === undefined && r.acks !== r.topAck - r.baseSeq) {
        out.push(`room ${r.name}: ${r.acks} acks for seqs ${r.baseSeq + 1}..${r.topAck}`);
      }
    }
    return out.slice(0, 20);
  }

  /** Close every client normally and wait for the closes (at most `timeoutMs`). */
  async close(timeoutMs = 10_000): Promise<void> {
    this.pause();
    const open = this.clients.filter((c) => c.ws.readyState !== WebSocket.CLOSED);
    const done = Promise.all(open.map((c) => new Promise((r) => (c.closed ? r(null) : c.ws.once("close", r)))));
    for (const c of open) c.ws.close(1000);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([done, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.terminate();
  }

  /** Drop every client at once (cleanup). */
  terminate(): void {
    this.pause();
    for (const c of this.clients) c.ws.terminate();
  }
}
