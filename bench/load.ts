/**
 * The one load client for every peer: raw `ws`, run by bench/run.ts in its own process on its own core,
 * looking at no more of each frame than it must (a byte prefix, and for latency the number in the text).
 * Started as `node --import tsx bench/load.ts '<LoadJob as JSON>'` with an IPC channel to run.ts.
 */
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { sleep } from "../tests/helpers/wait.ts";
import type {
  Dialect,
  FanoutResult,
  FanoutSpec,
  IdleResult,
  IdleSpec,
  LatencyResult,
  LatencySpec,
  LoadJob,
  LoadResult,
  MarkName,
  ToChild,
  ToParent,
} from "./types.ts";

const job = JSON.parse(process.argv[2] ?? "{}") as LoadJob;

// Parley and the plain peers share these prefixes: both put `type` first. Socket.IO frames an event as
// Engine.IO "4" (message) + Socket.IO "2" (event) + a JSON array.
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

let onGo: (() => void) | undefined;
// The orchestrator is gone (Ctrl-C, a crash): nobody will read the result.
process.on("disconnect", () => process.exit(1));
process.on("message", (m: ToChild) => {
  if (m.type === "go") onGo?.();
});

/** Pause while the orchestrator samples the server (CPU or memory), so the sample brackets the phase. */
function mark(name: MarkName): Promise<void> {
  if (!process.send) return Promise.resolve();
  return new Promise((resolve) => {
    onGo = resolve;
    void send({ type: "mark", name });
  });
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
  return dialect === "socketio"
    ? `42["say",{"text":"${text}","ref":"${ref}"}]`
    : `{"type":"say","text":"${text}","ref":"${ref}"}`;
}

function urlFor(dialect: Dialect, room: string, name: string): string {
  const base = `ws://127.0.0.1:${job.port}`;
  if (dialect === "socketio") return `${base}/socket.io/?EIO=4&transport=websocket&room=${room}`;
  if (dialect === "parley") return `${base}/rooms/${room}/ws?name=${name}`;
  return `${base}/rooms/${room}/ws`;
}

/** One bench connection: resolves `ready` once the peer has put it in its room. */
class Client {
  readonly ws: WebSocket;
  readonly ready: Promise<void>;
  onMessage: (frame: Buffer) => void = () => {};
  private closing = false;

  constructor(room: string, name: string) {
    const dialect = job.dialect;
    const prefixes = dialect === "socketio" ? PREFIXES.socketio : PREFIXES.json;
    this.ws = new WebSocket(urlFor(dialect, room, name), dialect === "parley" ? ["parley.v1"] : [], {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: 30_000,
      maxPayload: 256 * 1024 * 1024,
    });
    const ws = this.ws;
    this.ready = new Promise((resolve, reject) => {
      let open = false;
      ws.on("message", (data: Buffer) => {
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
      ws.on("error", (err) => (open ? abort(err) : reject(err)));
      ws.on("close", (code, reason) => {
        if (!open) reject(new Error(`closed ${code} ${reason} before it was ready`));
        else if (!this.closing && !finished) abort(new Error(`a socket was closed mid-run: ${code} ${reason}`));
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

/** Connect and hold: the orchestrator reads the server's RSS at "before" and "after". */
async function idle(spec: IdleSpec): Promise<IdleResult> {
  // One connection first, so the server's lazy start-up (store, statements, JIT) is not counted per socket.
  const [warm] = await connectAll(1, () => `${job.prefix}-warm`);
  warm?.close();
  await sleep(300);
  await mark("before");
  const cpu = process.cpuUsage();
  const t = performance.now();
  await connectAll(spec.connections, (i) => `${job.prefix}-${Math.floor(i / spec.roomSize)}`);
  const connectMs = performance.now() - t;
  // Presence frames (Parley's `joined`) may still be on their way; the orchestrator also waits for the
  // server to go quiet before it samples.
  await sleep(spec.settleMs);
  const clientCpu = cpuSince(cpu, performance.now() - t);
  await mark("after");
  return { kind: "idle", connections: spec.connections, connectMs, clientCpu };
}

async function main(): Promise<LoadResult> {
  const w = job.workload;
  if (w.kind === "fanout") return fanout(w);
  if (w.kind === "latency") return latency(w);
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
