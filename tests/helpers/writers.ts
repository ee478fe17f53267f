/**
 * Writers: typed clients (src/client/index.ts over `ws`) that say something every few milliseconds, online or
 * not, and record what they said, what was acknowledged and what they were delivered, so that a fault
 * test can account for every message afterwards. Plus the server-side view to hold them against (the
 * whole stored history of a room, paged through the HTTP API), and a relay that can lose the server's
 * answers on the way.
 */
import net from "node:net";
import WebSocket from "ws";
import {
  type AckFrame,
  connect,
  type Message,
  type ParleyClient,
  type SocketConstructor,
  type WelcomeFrame,
} from "../../src/client/index.ts";

export interface WriterOptions {
  /** One `say` per tick (default 20 ms). */
  everyMs?: number;
  /** Unacknowledged messages said while live that a writer lets pile up before it pauses (default 8). */
  maxInFlight?: number;
  /**
   * Messages said while offline that may wait at once (default 8). Counted apart from `maxInFlight`, so
   * that a writer whose live window is full when its server dies still queues something while it is down.
   */
  maxOffline?: number;
}

export interface Said {
  text: string;
  /** Said while the client was not live: it waited in the client's queue. */
  offline: boolean;
}

/** One user writing continuously into one room. Texts are unique: `<name>#<n>`. */
export class Writer {
  readonly client: ParleyClient;
  /** Every message delivered, in delivery order. */
  readonly delivered: Message[] = [];
  readonly welcomes: WelcomeFrame[] = [];
  readonly said: Said[] = [];
  /** text → its ack (or the replayed message that stood in for a lost ack). */
  readonly acks = new Map<string, AckFrame>();
  /** Refs whose `ack` frame arrived; an acked ref missing here was settled by the resume's replay. */
  readonly ackFrames = new Set<string>();
  readonly failures: { text: string; error: unknown }[] = [];
  readonly resets: string[] = [];
  private readonly everyMs: number;
  private readonly maxInFlight: number;
  private readonly maxOffline: number;
  private readonly pending = new Set<Promise<void>>();
  private liveCount = 0;
  private offlineCount = 0;
  private timer?: ReturnType<typeof setInterval>;
  private count = 0;

  constructor(
    baseUrl: string,
    readonly room: string,
    readonly name: string,
    opts: WriterOptions = {},
  ) {
    this.everyMs = opts.everyMs ?? 20;
    this.maxInFlight = opts.maxInFlight ?? 8;
    this.maxOffline = opts.maxOffline ?? 8;
    this.client = connect(baseUrl, {
      room,
      name,
      WebSocket: WebSocket as unknown as SocketConstructor,
      // A restarted server should find its clients back within a few hundred milliseconds.
      backoff: { initialMs: 50, maxMs: 250 },
    });
    this.client.on("message", (m) => void this.delivered.push(m));
    this.client.on("welcome", (w) => void this.welcomes.push(w));
    this.client.on("reset", (r) => void this.resets.push(r.epoch));
    this.client.on("ack", (a) => void this.ackFrames.add(a.ref));
  }

  get live(): boolean {
    return this.client.state === "live";
  }

  /** The seq of every delivered message, in delivery order. */
  get seqs(): number[] {
    return this.delivered.map((m) => m.seq);
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.everyMs);
  }

  private tick(): void {
    const offline = !this.live;
    if (offline ? this.offlineCount >= this.maxOffline : this.liveCount >= this.maxInFlight) return;
    const text = `${this.name}#${++this.count}`;
    this.said.push({ text, offline });
    if (offline) this.offlineCount++;
    else this.liveCount++;
    const p: Promise<void> = this.client
      .say(text)
      .then(
        (ack) => void this.acks.set(text, ack),
        (error) => void this.failures.push({ text, error }),
      )
      .finally(() => {
        this.pending.delete(p);
        if (offline) this.offlineCount--;
        else this.liveCount--;
      });
    this.pending.add(p);
  }

  /** Say nothing more; resolves once everything said has been acknowledged or refused. */
  async finish(): Promise<void> {
    clearInterval(this.timer);
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  close(): void {
    clearInterval(this.timer);
    this.client.close();
  }
}

/** Every message the server keeps for `room`, oldest first, paged through `GET /api/rooms/:room/messages`. */
export async function storedHistory(baseUrl: string, room: string): Promise<Message[]> {
  const out: Message[][] = [];
  let before = "";
  for (;;) {
    const res = await fetch(`${baseUrl}/api/rooms/${room}/messages?limit=100${before}`);
    if (res.status !== 200) throw new Error(`history of ${room}: HTTP ${res.status}`);
    const page = (await res.json()) as { messages: Message[]; more: boolean };
    out.unshift(page.messages);
    if (!page.more || page.messages.length === 0) return out.flat();
    before = `&before=${page.messages[0].seq}`;
  }
}

/** `GET /api/rooms/:room`: the room's epoch and last seq. */
export async function roomInfo(baseUrl: string, room: string): Promise<{ epoch: string; seq: number }> {
  const res = await fetch(`${baseUrl}/api/rooms/${room}`);
  if (res.status !== 200) throw new Error(`info of ${room}: HTTP ${res.status}`);
  return (await res.json()) as { epoch: string; seq: number };
}

/**
 * A TCP relay in front of a server port: clients connect to `port`, and each connection is piped to the
 * server. `loseReplies()` makes the open connections drop everything the server sends from then on, while
 * what the clients send still arrives: commits whose acks never come back, as when a server dies with its
 * answers still on the way. New connections (after a restart) are relayed whole again.
 */
export class Relay {
  port = 0;
  private readonly server: net.Server;
  private readonly open = new Set<{ client: net.Socket; upstream: net.Socket; lose: boolean }>();

  constructor(private readonly target: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target, "127.0.0.1");
      const pair = { client, upstream, lose: false };
      this.open.add(pair);
      client.on("data", (d) => upstream.write(d));
      upstream.on("data", (d) => void (pair.lose || client.write(d)));
      // Either side going away takes the other with it, as a dead server's sockets would.
      const end = () => {
        this.open.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        s.on("error", end);
        s.on("close", end);
      }
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => {
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  loseReplies(): void {
    for (const pair of this.open) pair.lose = true;
  }

  close(): Promise<void> {
    for (const { client, upstream } of this.open) {
      client.destroy();
      upstream.destroy();
    }
    this.open.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
