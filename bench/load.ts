/**
 * The one load client for every peer: raw `ws`, run by bench/run.ts in its own process on its own core,
 * looking at no more of each frame than it must (a byte prefix, and for latency the number in the text).
 * Only the restart workload holds Parley's own typed client instead, because what it measures is that
 * client's reconnect and resume. Started as `node --import tsx bench/load.ts '<LoadJob as JSON>'` with
 * an IPC channel to run.ts.
 */
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { ParleyClient, type SocketConstructor } from "../src/client/index.ts";
import { backoffDelay } from "../src/client/reconnect.ts";
import { sleep } from "../tests/helpers/wait.ts";
import { epochMs } from "./proc.ts";
import type {
  Dialect,
  FanoutResult,
  FanoutSpec,
  IdleResult,
  IdleSpec,
  JoinResult,
  JoinSpec,
  LatencyResult,
  LatencySpec,
  LoadJob,
  LoadResult,
  MarkName,
  RestartResult,
  RestartSpec,
  ToChild,
  ToParent,
} from "./types.ts";

const job = JSON.parse(process.argv[2] ?? "{}") as LoadJob;

// Parley and the plain peers share these prefixes: both put `type` first (a v2 `message` entry too: the
// room log builds it as { type, seq, ts, by, from, text } and sends it as JSON.stringify made it).
// Parley's other frames (`ack`, `joined`, a big room's batched `presence`) match none and are skipped.
// Socket.IO frames an event as Engine.IO "4" (message) + Socket.IO "2" (event) + a JSON array.
const PREFIXES = {
  json: { message: Buffer.from('{"type":"message"'), ready: Buffer.from('{"type":"welcome"') },
  socketio: { message: Buffer.from('42["message"'), ready: Buffer.from('42["welcome"') },
};
const ERROR = Buffer.from('{"type":"error"');
const LATENCY_TEXT = Buffer.from('"text":"L');
/** A silent round or delivery this long means the peer lost messages: fail rather than hang. */
const STALL_MS = 15_000;

function startsWith(buf: Buffer, prefix: Buffer): boolean {
  return buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

function send(message: ToParent): Promise<void> {
  if (!process.send) {
    console.log(JSON.stringify(message));
    return Promise.resolve();
  }
  return new Promise((resolve) => process.send?.(message, undefined, {}, () => resolve()));
}

let onGo: ((m: ToChild) => void) | undefined;
// The orchestrator is gone (Ctrl-C, a crash): nobody will read the result.
process.on("disconnect", () => process.exit(1));
process.on("message", (m: ToChild) => {
  if (m.type === "go") onGo?.(m);
});

/** Pause while the orchestrator samples the server (CPU or memory), so the sample brackets the phase. */
function mark(name: MarkName): Promise<ToChild> {
  if (!process.send) return Promise.resolve({ type: "go" });
  return new Promise((resolve) => {
    onGo = resolve;
    void send({ type: "mark", name });
  });
}

/** Frames any client got so far, of any kind: the wire is settled once this stops moving. */
let framesIn = 0;

/**
 * Resolve once no client has had a frame for `ms` (at most `maxMs`): the peer's trailing work has reached
 * the clients. Parley sends a big room's joins as one `presence` frame per interval, so the last of them
 * leaves up to an interval after the last join, while the server may look quiet before it.
 */
async function settled(ms: number, maxMs = 60_000): Promise<void> {
  const deadline = performance.now() + maxMs;
  let seen = framesIn;
  let since = performance.now();
  while (performance.now() - since < ms && performance.now() < deadline) {
    await sleep(50);
    if (framesIn !== seen) {
      seen = framesIn;
      since = performance.now();
    }
  }
}

let finished = false;
/** Report the failure to the orchestrator and exit; whatever was awaiting is left to the exit. */
function abort(err: unknown): void {
  if (finished) return;
  finished = true;
  const message = err instanceof Error ? err.message : String(err);
  void send({ type: "error", message }).finally(() => process.exit(1));
}

/** A `say` frame's wire text in `dialect` (tests/helpers/fixtures.ts has Parley's `say`). */
function sayIn(dialect: Dialect, text: string, ref: string): string {
  if (dialect === "socketio") return `42["say",{"text":"${text}","ref":"${ref}"}]`;
  // The relay peer sends the frame on as it came, so the client sends the `message` it will count, with
  // every field a built one has and values as wide (a 13-digit `ts`): the same bytes on the wire.
  if (dialect === "relay")
    return `{"type":"message","seq":1,"ts":1700000000000,"from":{"id":"1","name":"u1"},"text":"${text}","ref":"${ref}"}`;
  return `{"type":"say","text":"${text}","ref":"${ref}"}`;
}

function urlFor(dialect: Dialect, room: string, name: string): string {
  const base = `ws://127.0.0.1:${job.port}`;
  if (dialect === "socketio") return `${base}/socket.io/?EIO=4&transport=websocket&room=${room}`;
  if (dialect === "parley") return `${base}/rooms/${room}/ws?name=${name}`;
  return `${base}/rooms/${room}/ws`;
}

/**
 * One bench connection: resolves `ready` once the peer has put it in its room. A close once ready aborts
 * the run, unless `onDrop` is given (the restart workload's clients expect one).
 */
class Client {
  readonly ws: WebSocket;
  readonly ready: Promise<void>;
  onMessage: (frame: Buffer) => void = () => {};
  private closing = false;

  constructor(room: string, name: string, onDrop?: () => void) {
    const dialect = job.dialect;
    const prefixes = dialect === "socketio" ? PREFIXES.socketio : PREFIXES.json;
    // Parley's clients speak v2, as its typed client and page do: a big room's presence is batched there.
    this.ws = new WebSocket(urlFor(dialect, room, name), dialect === "parley" ? ["parley.v2"] : [], {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: 30_000,
      maxPayload: 256 * 1024 * 1024,
    });
    const ws = this.ws;
    this.ready = new Promise((resolve, reject) => {
      let open = false;
      let dropped = false;
      const drop = (why: () => Error) => {
        if (dropped || this.closing || finished) return;
        dropped = true;
        if (onDrop) onDrop();
        else abort(why());
      };
      ws.on("message", (data: Buffer) => {
        framesIn++;
        if (startsWith(data, prefixes.message)) return this.onMessage(data);
        if (!open && startsWith(data, prefixes.ready)) {
          open = true;
          return resolve();
        }
        if (dialect === "socketio") {
          // Engine.IO: answer the server's ping ("2") with a pong ("3"); its open packet ("0{…}") with a
          // Socket.IO connect to the main namespace ("40"); "44" is a refused connect.
          if (data.length === 1 && data[0] === 0x32) ws.send("3");
          else if (data[0] === 0x30) ws.send("40");
          else if (data[0] === 0x34 && data[1] === 0x34) abort(new Error(`socket.io refused: ${data}`));
        } else if (startsWith(data, ERROR)) {
          abort(new Error(`the server rejected a frame (are the limits raised?): ${data}`));
        }
      });
      ws.on("unexpected-response", (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
      ws.on("error", (err) => (open ? drop(() => err) : reject(err)));
      ws.on("close", (code, reason) => {
        if (!open) reject(new Error(`closed ${code} ${reason} before it was ready`));
        else drop(() => new Error(`a socket was closed mid-run: ${code} ${reason}`));
      });
    });
  }

  close(): void {
    this.closing = true;
    this.ws.close();
  }
}

/** Open `n` clients, `job.concurrency` handshakes at a time; client i joins room(i). */
async function connectAll(n: number, room: (i: number) => string, name = "b"): Promise<Client[]> {
  const clients: Client[] = [];
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      const client = new Client(room(i), `${name}${i}`);
      clients[i] = client;
      await client.ready;
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, n) }, lane));
  return clients;
}

function cpuSince(start: NodeJS.CpuUsage, wallMs: number): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / wallMs;
}

/** Bun's chat-room method: every client sends, and the next round starts once every delivery arrived. */
async function fanout(spec: FanoutSpec): Promise<FanoutResult> {
  const n = spec.rooms * spec.size;
  const t = performance.now();
  const clients = await connectAll(n, (i) => `${job.prefix}-${Math.floor(i / spec.size)}`);
  const connectMs = performance.now() - t;

  const perRound = n * spec.perRound * spec.size;
  let received = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  const onMessage = () => {
    if (++received >= target && wake) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  for (const c of clients) c.onMessage = onMessage;
  // Built once: the client's work per round is then the sends and the counting.
  const frames = clients.map((_, i) =>
    Array.from({ length: spec.perRound }, (_, k) =>
      sayIn(job.dialect, `hello from client ${i}, message ${k}`, `${i}.${k}`),
    ),
  );
  let seen = -1;
  let silentMs = 0;
  const watchdog = setInterval(() => {
    silentMs = wake && received === seen ? silentMs + 1000 : 0;
    seen = received;
    if (silentMs >= STALL_MS)
      abort(new Error(`stalled: ${perRound - (target - received)} of ${perRound} deliveries of a round arrived`));
  }, 1000);
  const round = () =>
    new Promise<void>((resolve) => {
      target = received + perRound;
      wake = resolve;
      for (let i = 0; i < n; i++) for (const frame of frames[i] as string[]) (clients[i] as Client).ws.send(frame);
    });

  const warmUntil = performance.now() + spec.warmupMs;
  do await round();
  while (performance.now() < warmUntil);

  await mark("start");
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const r0 = received;
  let rounds = 0;
  do {
    await round();
    rounds++;
  } while (performance.now() - t0 < spec.measureMs);
  const wallMs = performance.now() - t0;
  const clientCpu = cpuSince(cpu, wallMs);
  const deliveries = received - r0;
  await mark("end");
  clearInterval(watchdog);
  return { kind: "fanout", connectMs, deliveries, seconds: wallMs / 1000, rounds, clientCpu };
}

/** Receiver-side latency from each message's scheduled send time, so a late sender cannot hide delay. */
async function latency(spec: LatencySpec): Promise<LatencyResult> {
  const room = `${job.prefix}-0`;
  const t = performance.now();
  const [sender] = await connectAll(1, () => room, "sender");
  const receivers = await connectAll(spec.receivers, () => room);
  const connectMs = performance.now() - t;

  const period = 1000 / spec.rate;
  const warmCount = Math.round(spec.warmupMs / period);
  const total = warmCount + Math.max(1, Math.round(spec.measureMs / period));
  const expected = total * spec.receivers;
  const samples = new Float64Array((total - warmCount) * spec.receivers);
  let n = 0;
  let got = 0;
  let t0 = 0;
  let lastAt = 0;
  let allIn: (() => void) | undefined;
  const onMessage = (frame: Buffer) => {
    const at = performance.now();
    // The text is "L<k>": message k was due at t0 + k·period on this same clock (sender and receivers
    // share the process).
    let i = frame.indexOf(LATENCY_TEXT) + LATENCY_TEXT.length;
    let k = 0;
    for (let c = frame[i]; c !== undefined && c >= 0x30 && c <= 0x39; c = frame[++i]) k = k * 10 + c - 0x30;
    if (k >= warmCount && n < samples.length) samples[n++] = at - (t0 + k * period);
    lastAt = at;
    if (++got === expected) allIn?.();
  };
  for (const r of receivers) r.onMessage = onMessage;

  await mark("start");
  let cpu = process.cpuUsage();
  let wall0 = 0;
  const done = new Promise<void>((resolve) => {
    allIn = resolve;
  });
  t0 = performance.now() + 20;
  let k = 0;
  const tick = () => {
    const now = performance.now();
    // Everything that is due goes now, each with its own scheduled time: a stalled timer shows up as latency.
    while (k < total && t0 + k * period <= now) {
      if (k === warmCount) {
        cpu = process.cpuUsage();
        wall0 = performance.now();
      }
      sender?.ws.send(sayIn(job.dialect, `L${k}`, String(k)));
      k++;
    }
    if (k < total) setTimeout(tick, Math.max(0, t0 + k * period - performance.now()));
  };
  setTimeout(tick, 20);
  const lastDue = t0 + (total - 1) * period;
  await Promise.race([done, sleep(lastDue - performance.now() + STALL_MS)]);
  const clientCpu = cpuSince(cpu, Math.max(1, lastAt - wall0));
  await mark("end");

  const sorted = samples.subarray(0, n).sort();
  const pct = (q: number) => (n === 0 ? Number.NaN : (sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] as number));
  return {
    kind: "latency",
    connectMs,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    maxMs: pct(1),
    samples: n,
    lost: samples.length - n,
    deliveries: got,
    clientCpu,
  };
}

/**
 * Connect `n` and hold them, between the marks "before" and "after" (the orchestrator reads the server's
 * RSS and CPU at each, once it has gone quiet).
 */
async function hold(n: number, room: (i: number) => string, settleMs: number) {
  // One connection first, so the server's lazy start-up (store, statements, JIT) is not counted per socket.
  const [warm] = await connectAll(1, () => `${job.prefix}-warm`);
  warm?.close();
  await sleep(300);
  await mark("before");
  const cpu = process.cpuUsage();
  const t = performance.now();
  await connectAll(n, room);
  const connectMs = performance.now() - t;
  // Presence frames (Parley's `joined`, a big room's `presence`) may still be on their way.
  await settled(settleMs);
  const clientCpu = cpuSince(cpu, performance.now() - t);
  await mark("after");
  return { connectMs, clientCpu };
}

/** Connect and hold in rooms of `roomSize`: the server's RSS growth per connection. */
async function idle(spec: IdleSpec): Promise<IdleResult> {
  const room = (i: number) => `${job.prefix}-${Math.floor(i / spec.roomSize)}`;
  const { connectMs, clientCpu } = await hold(spec.connections, room, spec.settleMs);
  return { kind: "idle", connections: spec.connections, connectMs, clientCpu };
}

/** Everyone into one room: every join meets every member already there. */
async function join(spec: JoinSpec): Promise<JoinResult> {
  const { connectMs, clientCpu } = await hold(spec.connections, () => `${job.prefix}-0`, spec.settleMs);
  return { kind: "join", connections: spec.connections, connectMs, clientCpu };
}

/** One client of the restart workload, as the workload sees it. */
interface Held {
  /** Lost its connection since the restart mark. */
  dropped: boolean;
  /** Its first welcome after that, epoch ms. */
  backAt?: number;
  /** Reconnect attempts since the restart mark (the one that got back included). */
  attempts: number;
  resumed?: boolean;
}

/** `ws` with the options every bench socket has (no compression), as a constructor the typed client takes. */
class BenchSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { perMessageDeflate: false });
  }
}

/**
 * Hold `h` as Parley's typed client: its own reconnect, backoff, jitter and resume, untouched. Resolves
 * at its first welcome.
 */
function typedClient(i: number, room: string, h: Held, events: HeldEvents): Promise<void> {
  return new Promise((resolve) => {
    const client = new ParleyClient(`http://127.0.0.1:${job.port}`, {
      room,
      name: `r${i}`,
      WebSocket: BenchSocket as unknown as SocketConstructor,
    });
    client.on("welcome", (w) => {
      framesIn++;
      if (h.dropped) events.back(h, w.resumed);
      else resolve();
    });
    // A big room's presence arrives as member changes: counted so that `settled` sees it.
    client.on("members", () => framesIn++);
    client.on("state", (s) => {
      // Either would leave the run waiting for a client that is not coming: fail it instead.
      if (s.state === "stopped") abort(new Error(`a typed client stopped: ${s.code} ${s.reason ?? ""}`));
      if (s.state !== "reconnecting") return;
      if (!events.restarting()) return abort(new Error(`a typed client dropped before the restart: ${s.reason}`));
      h.dropped = true;
      h.attempts++;
    });
  });
}

/**
 * Hold `h` as a bench connection that reconnects on the typed client's own schedule: the delays come
 * from the typed client's `backoffDelay` (src/client/reconnect.ts: 250 ms doubling to 30 s, each drawn
 * from the upper half), so that the raw peers meet the same storm. Resolves at its first welcome.
 */
function rawClient(i: number, room: string, h: Held, events: HeldEvents): Promise<void> {
  return new Promise((resolve) => {
    let attempt = 0;
    const retry = (err?: unknown) => {
      if (!events.restarting()) return abort(err ?? new Error("a client dropped before the restart"));
      h.dropped = true;
      h.attempts++;
      setTimeout(connect, backoffDelay(attempt++, 0, undefined, Math.random));
    };
    const connect = () => {
      const c = new Client(room, `r${i}`, retry);
      c.ready.then(() => {
        attempt = 0;
        if (h.dropped) events.back(h);
        else resolve();
      }, retry);
    };
    connect();
  });
}

interface HeldEvents {
  restarting(): boolean;
  back(h: Held, resumed?: boolean): void;
}

/**
 * The restart storm: hold `clients` (Parley's typed client for Parley, reconnecting bench connections for
 * the raw peers), let the orchestrator stop the server and start it again at the "restart" mark, and
 * time every client's way back from the moment the new server listened.
 */
async function restart(spec: RestartSpec): Promise<RestartResult> {
  let restarting = false;
  let backCount = 0;
  let allBack: (() => void) | undefined;
  const events: HeldEvents = {
    restarting: () => restarting,
    back(h, resumed) {
      if (h.backAt !== undefined) return;
      h.backAt = epochMs();
      h.resumed = resumed;
      if (++backCount === spec.clients) allBack?.();
    },
  };
  const held: Held[] = Array.from({ length: spec.clients }, () => ({ dropped: false, attempts: 0 }));
  const open = job.dialect === "parley" ? typedClient : rawClient;
  const t = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < spec.clients) {
      const i = next++;
      await open(i, `${job.prefix}-${Math.floor(i / spec.roomSize)}`, held[i] as Held, events);
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, spec.clients) }, lane));
  const connectMs = performance.now() - t;
  await settled(1500);

  const done = new Promise<void>((resolve) => {
    allBack = resolve;
  });
  restarting = true;
  const cpu = process.cpuUsage();
  const wall0 = performance.now();
  const go = await mark("restart");
  const times = go.restart ?? { signalledAt: epochMs(), exitedAt: epochMs(), listeningAt: epochMs() };
  const left = times.listeningAt + spec.backTimeoutMs - epochMs();
  await Promise.race([done, sleep(Math.max(0, left))]);
  if (backCount < spec.clients)
    throw new Error(`${backCount} of ${spec.clients} clients were back ${spec.backTimeoutMs} ms after the restart`);
  const clientCpu = cpuSince(cpu, performance.now() - wall0);
  await mark("back");

  const backs = held.map((h) => (h.backAt as number) - times.listeningAt).sort((a, b) => a - b);
  const attempts = held.map((h) => h.attempts).sort((a, b) => a - b);
  const mid = (xs: number[]) => xs[Math.floor(xs.length / 2)] as number;
  return {
    kind: "restart",
    clients: spec.clients,
    connectMs,
    restart: times,
    firstBackMs: backs[0] as number,
    medianBackMs: mid(backs),
    lastBackMs: backs.at(-1) as number,
    ...(job.dialect === "parley" && { resumed: held.filter((h) => h.resumed).length }),
    maxAttempts: attempts.at(-1) as number,
    medianAttempts: mid(attempts),
    clientCpu,
  };
}

async function main(): Promise<LoadResult> {
  const w = job.workload;
  if (w.kind === "fanout") return fanout(w);
  if (w.kind === "latency") return latency(w);
  if (w.kind === "join") return join(w);
  if (w.kind === "restart") return restart(w);
  return idle(w);
}

main().then(
  async (result) => {
    finished = true;
    await send({ type: "result", result });
    // Sockets are not closed one by one: the server is stopped next, and closes would only add its work.
    process.exit(0);
  },
  (err) => abort(err),
);
